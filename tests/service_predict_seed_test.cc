// PredictRequest.seed over the wire (issue 9, class 11): a row's MC-dropout
// outputs and stddev are the same sent alone or among other rows, the same
// seed repeats them, another seed changes them, and an unset seed is 0.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/service_fixture.h"

namespace trainyard {
namespace {

using testing::TinyJob;

class PredictSeedTest : public testing::ServiceFixture {
 protected:
  // Trains TinyJob (it has dropout) and returns its final checkpoint id.
  std::string TrainedCheckpoint() {
    const v1::Dataset ds = UploadOk();
    const v1::Job job = SubmitOk(TinyJob(ds.id(), /*epochs=*/2));
    std::vector<v1::JobEvent> events;
    grpc::Status s = Watch(job.id(), 0, &events);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::GetJobRequest get;
    get.set_job_id(job.id());
    v1::Job done;
    EXPECT_TRUE(stub_->GetJob(Ctx().get(), get, &done).ok());
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
    return done.latest_checkpoint_id();
  }

  v1::PredictResponse Predict(const std::string& ckpt, const std::vector<float>& flat,
                              const uint64_t* seed) {
    v1::PredictRequest r;
    r.set_checkpoint_id(ckpt);
    for (float v : flat) r.add_flat(v);
    r.set_num_rows(static_cast<int32_t>(flat.size() / 2));
    r.set_mc_samples(30);
    if (seed != nullptr) r.set_seed(*seed);
    v1::PredictResponse out;
    grpc::Status s = stub_->Predict(Ctx().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
};

std::vector<float> Values(const v1::Row& row) { return {row.values().begin(), row.values().end()}; }

TEST_F(PredictSeedTest, RowAloneEqualsRowInABatchAndSeedsRepeat) {
  Start();
  const std::string ckpt = TrainedCheckpoint();
  ASSERT_FALSE(ckpt.empty());
  const std::vector<float> five = {-1.2f, -0.9f, 0.3f, 0.1f, 1.1f, 0.8f, -0.2f, 0.5f, 0.9f, 1.3f};
  const uint64_t seed = 1234;
  const v1::PredictResponse batch = Predict(ckpt, five, &seed);
  ASSERT_EQ(batch.outputs_size(), 5);
  ASSERT_EQ(batch.stddev_size(), 5);
  for (int j = 0; j < 5; ++j) {
    SCOPED_TRACE("row " + std::to_string(j));
    const v1::PredictResponse alone = Predict(ckpt, {five[2 * j], five[2 * j + 1]}, &seed);
    ASSERT_EQ(alone.outputs_size(), 1);
    EXPECT_EQ(Values(alone.outputs(0)), Values(batch.outputs(j)));
    EXPECT_EQ(Values(alone.stddev(0)), Values(batch.stddev(j)));
  }
  const v1::PredictResponse again = Predict(ckpt, five, &seed);
  const uint64_t other = 1235;
  const v1::PredictResponse changed = Predict(ckpt, five, &other);
  bool differs = false;
  for (int j = 0; j < 5; ++j) {
    EXPECT_EQ(Values(again.stddev(j)), Values(batch.stddev(j)));
    differs = differs || Values(changed.stddev(j)) != Values(batch.stddev(j));
  }
  EXPECT_TRUE(differs) << "seed 1235 gave the same draws as 1234";
  // Unset is seed 0.
  const uint64_t zero = 0;
  const v1::PredictResponse unset = Predict(ckpt, five, nullptr);
  const v1::PredictResponse explicit_zero = Predict(ckpt, five, &zero);
  for (int j = 0; j < 5; ++j) {
    EXPECT_EQ(Values(unset.stddev(j)), Values(explicit_zero.stddev(j)));
  }
}

}  // namespace
}  // namespace trainyard
