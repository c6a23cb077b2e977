// Monte-Carlo dropout prediction (issue 9, class 11): a row's mean and stddev
// depend on the model, the seed and the row only, bit for bit — not on the
// other rows of the request or the row's position among them.
#include <memory>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/evaluate.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using testing::BlobsDataset;
using testing::FromJson;

class PredictMcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two dropout layers (one inside a residual block), so each row's stream
    // is drawn from more than once per pass.
    const v1::ModelSpec model = FromJson<v1::ModelSpec>(R"({"inputDim": 6, "layers": [
        {"dense": {"units": 16}}, {"activation": {"kind": "RELU"}},
        {"dropout": {"rate": 0.3}},
        {"residual": {"layers": [{"dense": {"units": 16}}, {"dropout": {"rate": 0.2}}]}},
        {"dense": {"units": 3}}]})");
    const v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
        "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
        "batchSize": 16, "epochs": 2, "seed": 3})");
    data_ = BlobsDataset(64, 6, 3);
    auto trainer = Trainer::Create(model, config, data_, nullptr, TrainerOptions{});
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->Run(nullptr, nullptr).ok());
    const v1::Checkpoint checkpoint = (*trainer)->MakeCheckpoint();
    auto predictor = Predictor::Create(checkpoint, 1);
    ASSERT_TRUE(predictor.ok()) << predictor.status();
    predictor_ = *std::move(predictor);
    auto threaded = Predictor::Create(checkpoint, 2);
    ASSERT_TRUE(threaded.ok()) << threaded.status();
    threaded_ = *std::move(threaded);
  }

  Prediction Mc(const Matrix& x, uint64_t seed, int samples = 40, Predictor* on = nullptr) {
    absl::StatusOr<Prediction> p = (on ? on : predictor_.get())->Predict(x, samples, seed);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : Prediction{};
  }

  std::shared_ptr<const Dataset> data_;
  std::unique_ptr<Predictor> predictor_;
  std::unique_ptr<Predictor> threaded_;  // 2 threads
};

TEST_F(PredictMcTest, RowAloneEqualsRowInABatch) {
  const Matrix batch = data_->features().leftCols(5);
  const Prediction all = Mc(batch, 7);
  for (int j = 0; j < 5; ++j) {
    SCOPED_TRACE("row " + std::to_string(j));
    const Prediction alone = Mc(batch.col(j), 7);
    EXPECT_EQ(alone.mean, all.mean.col(j));
    EXPECT_EQ(alone.stddev, all.stddev.col(j));
  }
  // Other neighbours and another position: still the same.
  Matrix shuffled(6, 3);
  shuffled.col(0) = data_->features().col(20);
  shuffled.col(1) = batch.col(3);
  shuffled.col(2) = data_->features().col(30);
  const Prediction other = Mc(shuffled, 7);
  EXPECT_EQ(other.mean.col(1), all.mean.col(3));
  EXPECT_EQ(other.stddev.col(1), all.stddev.col(3));
}

TEST_F(PredictMcTest, RowAloneEqualsRowInABatchAcrossChunksAndThreads) {
  // 150 passes: three forwards of up to 64; and a 2-thread predictor.
  const Matrix batch = data_->features().middleCols(8, 5);
  for (Predictor* on : {predictor_.get(), threaded_.get()}) {
    const Prediction all = Mc(batch, 5, 150, on);
    for (int j : {0, 2, 4}) {
      SCOPED_TRACE("row " + std::to_string(j));
      const Prediction alone = Mc(batch.col(j), 5, 150, on);
      EXPECT_EQ(alone.mean, all.mean.col(j));
      EXPECT_EQ(alone.stddev, all.stddev.col(j));
    }
  }
}

TEST_F(PredictMcTest, SameSeedRepeatsAndSeedsDiffer) {
  const Matrix batch = data_->features().leftCols(5);
  const Prediction a = Mc(batch, 11);
  const Prediction b = Mc(batch, 11);
  EXPECT_EQ(a.mean, b.mean);
  EXPECT_EQ(a.stddev, b.stddev);
  const Prediction c = Mc(batch, 12);
  EXPECT_NE(a.mean, c.mean);
  EXPECT_NE(a.stddev, c.stddev);
  // Default seed (0) is a seed like any other.
  const Prediction d = Mc(batch, 0);
  EXPECT_NE(a.mean, d.mean);
  // Different rows in one request get different streams: stddev is > 0 and
  // rows are not copies of one another's noise.
  EXPECT_GT(a.stddev.minCoeff(), 0);
}

TEST_F(PredictMcTest, EvalModeIsUnaffectedBySeed) {
  const Matrix batch = data_->features().leftCols(5);
  absl::StatusOr<Prediction> a = predictor_->Predict(batch, 0, 1);
  absl::StatusOr<Prediction> b = predictor_->Predict(batch, 0, 99);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->mean, b->mean);
  EXPECT_EQ(a->stddev.size(), 0);
}

}  // namespace
}  // namespace trainyard
