// Issue 9, class 6: heavy inference must not starve the control plane.
// Predict and Evaluate run on their own bounded executor: with every
// inference thread blocked (on a latch, through the test hook) and its queue
// full, GetJob, ListJobs, CancelJob and SubmitJob still answer at once, one
// more Predict is refused with RESOURCE_EXHAUSTED naming the limit, and a
// Predict asking for more than --max-predict-work rows x passes is refused.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

class InferenceIsolationTest : public ServiceFixture {
 protected:
  // A context whose deadline is `ms` milliseconds away.
  static std::unique_ptr<grpc::ClientContext> Within(int ms) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
    return ctx;
  }

  v1::Job WaitForState(const std::string& id, v1::JobState want) {
    v1::GetJobRequest get;
    get.set_job_id(id);
    v1::Job job;
    for (int i = 0; i < 600; ++i) {
      job.Clear();
      EXPECT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());
      if (job.state() == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return job;
  }

  // A trained checkpoint of TinyJob.
  std::string TrainCheckpoint(const std::string& dataset_id) {
    v1::Job job = SubmitOk(TinyJob(dataset_id, /*epochs=*/1));
    v1::Job done = WaitForState(job.id(), v1::SUCCEEDED);
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
    return done.latest_checkpoint_id();
  }

  static v1::PredictRequest PredictRows(const std::string& ckpt, int rows, int mc) {
    v1::PredictRequest r;
    r.set_checkpoint_id(ckpt);
    r.set_mc_samples(mc);
    for (int i = 0; i < rows; ++i) {
      v1::Row* row = r.add_rows();
      row->add_values(0.1f * i);
      row->add_values(-0.1f * i);
    }
    return r;
  }
};

TEST_F(InferenceIsolationTest, ControlRpcsAnswerWhileInferenceIsSaturated) {
  // One inference thread, two waiting calls; the hook holds each call on an
  // inference thread until released.
  absl::Notification release;
  std::atomic<bool> hold{false};
  std::atomic<int> entered{0};
  Start([&](server::ServerOptions& o) {
    o.inference_threads = 1;
    o.inference_queue = 2;
    o.test_hooks.before_inference = [&] {
      if (!hold.load()) return;
      entered.fetch_add(1);
      release.WaitForNotification();
    };
  });
  const v1::Dataset ds = UploadOk();
  const std::string ckpt = TrainCheckpoint(ds.id());
  ASSERT_FALSE(ckpt.empty());
  // A job to cancel later, kept queued behind a long one (one worker).
  v1::SubmitJobRequest long_job = TinyJob(ds.id(), /*epochs=*/100000);
  const v1::Job running = SubmitOk(long_job);
  const v1::Job queued = SubmitOk(TinyJob(ds.id(), /*epochs=*/1));

  hold.store(true);
  std::vector<std::thread> callers;
  std::vector<grpc::Status> results(3);
  auto call = [&](int i) {
    callers.emplace_back([this, &results, &ckpt, i] {
      v1::PredictResponse out;
      results[i] = stub_->Predict(Ctx().get(), PredictRows(ckpt, 4, 50), &out);
    });
  };
  call(0);
  for (int i = 0; i < 400 && entered.load() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(entered.load(), 1) << "the first Predict never reached an inference thread";
  call(1);
  call(2);
  for (int i = 0; i < 400 && server_->inference_queued() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->inference_queued(), 2u);

  // The control plane, each call within well under a second.
  const auto t0 = std::chrono::steady_clock::now();
  v1::GetJobRequest get;
  get.set_job_id(running.id());
  v1::Job got;
  grpc::Status s = stub_->GetJob(Within(1000).get(), get, &got);
  EXPECT_TRUE(s.ok()) << "GetJob waited behind inference: " << s.error_message();
  v1::ListJobsResponse list;
  s = stub_->ListJobs(Within(1000).get(), v1::ListJobsRequest(), &list);
  EXPECT_TRUE(s.ok()) << "ListJobs waited behind inference: " << s.error_message();
  v1::CancelJobRequest cancel;
  cancel.set_job_id(queued.id());
  v1::Job cancelled;
  s = stub_->CancelJob(Within(1000).get(), cancel, &cancelled);
  EXPECT_TRUE(s.ok()) << "CancelJob waited behind inference: " << s.error_message();
  EXPECT_EQ(cancelled.state(), v1::CANCELLED);
  v1::Job submitted;
  s = stub_->SubmitJob(Within(1000).get(), TinyJob(ds.id(), 1), &submitted);
  EXPECT_TRUE(s.ok()) << "SubmitJob waited behind inference: " << s.error_message();
  cancel.set_job_id(running.id());
  s = stub_->CancelJob(Within(1000).get(), cancel, &cancelled);
  EXPECT_TRUE(s.ok()) << "CancelJob waited behind inference: " << s.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));

  // The queue is full: one more inference call is refused at once.
  v1::PredictResponse refused;
  s = stub_->Predict(Within(2000).get(), PredictRows(ckpt, 1, 0), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("--inference-queue"), std::string::npos) << s.error_message();
  v1::EvaluateRequest eval;
  eval.set_checkpoint_id(ckpt);
  eval.set_dataset_id(ds.id());
  v1::EvaluateResponse eval_out;
  s = stub_->Evaluate(Within(2000).get(), eval, &eval_out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();

  release.Notify();
  for (std::thread& t : callers) t.join();
  for (const grpc::Status& r : results) EXPECT_TRUE(r.ok()) << r.error_message();
  // And inference works again once there is room.
  v1::PredictResponse after;
  s = stub_->Predict(Ctx().get(), PredictRows(ckpt, 1, 0), &after);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(InferenceIsolationTest, PredictWorkCapNamesTheFlag) {
  Start([](server::ServerOptions& o) { o.max_predict_work = 100; });
  const v1::Dataset ds = UploadOk();
  const std::string ckpt = TrainCheckpoint(ds.id());
  v1::PredictResponse out;
  // 10 rows x 10 passes = 100: allowed; 11 x 10 and 101 x 0 are not.
  grpc::Status s = stub_->Predict(Ctx().get(), PredictRows(ckpt, 10, 10), &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = stub_->Predict(Ctx().get(), PredictRows(ckpt, 11, 10), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("--max-predict-work 100"), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("11 x 10 = 110"), std::string::npos) << s.error_message();
  s = stub_->Predict(Ctx().get(), PredictRows(ckpt, 101, 0), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(InferenceIsolationTest, ServerInfoReportsTheLimits) {
  Start([](server::ServerOptions& o) {
    o.max_predict_work = 1234;
    o.inference_queue = 5;
    o.max_job_memory = int64_t{3} << 30;
  });
  v1::ServerInfo info;
  ASSERT_TRUE(stub_->GetServerInfo(Ctx().get(), v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.limits().max_predict_work(), 1234);
  EXPECT_EQ(info.limits().inference_queue(), 5);
  EXPECT_EQ(info.limits().max_job_memory_bytes(), int64_t{3} << 30);
}

}  // namespace
}  // namespace trainyard::testing
