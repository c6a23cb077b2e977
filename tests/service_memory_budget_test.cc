// Issue 9, class 13: a job too big for memory is refused at submit; an
// allocation failure inside a job fails that job, not the server; a job that
// was running at each of the last kMaxCrashRestarts crashes is quarantined
// (FAILED) by recovery instead of being resumed into another crash.
#include <chrono>
#include <new>
#include <string>
#include <thread>

#include "server/backend_internal.h"
#include "server/metadata_store.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

class MemoryBudgetTest : public ServiceFixture {
 protected:
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

  // Opens the stopped server's store, lets `edit` change job `id`, closes it.
  void EditStoredJob(const std::string& id, const std::function<void(v1::Job&)>& edit) {
    server::MetadataStoreOptions options;
    options.synchronous_full = false;
    auto store = server::MetadataStore::Open(dir_ + "/trainyard.db", options);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<v1::Job> job = (*store)->GetJob(id);
    ASSERT_TRUE(job.ok()) << job.status();
    edit(*job);
    ASSERT_TRUE((*store)->UpdateJob(*job).ok());
  }
};

TEST_F(MemoryBudgetTest, JobTooBigForMemoryIsRefusedAtSubmit) {
  Start([](server::ServerOptions& o) { o.max_job_memory = int64_t{64} << 20; });
  const v1::Dataset ds = UploadOk();
  v1::SubmitJobRequest r = TinyJob(ds.id(), 1);
  *r.mutable_model() = FromJson<v1::ModelSpec>(R"({
    "input_dim": 2,
    "layers": [{"dense": {"units": 1048576}}, {"activation": {"kind": "RELU"}},
               {"dense": {"units": 2}}]})");
  r.mutable_training()->set_batch_size(60);
  v1::Job job;
  grpc::Status s = stub_->SubmitJob(Ctx().get(), r, &job);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("60 samples"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("training.batch_size"), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("model.layers[0].dense"), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("--max-job-memory is 64.0 MiB"), std::string::npos)
      << s.error_message();
  // Nothing was created; the small job still fits.
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
  SubmitOk(TinyJob(ds.id(), 1));
}

TEST_F(MemoryBudgetTest, AllocationFailureFailsTheJobNotTheServer) {
  std::string poisoned;  // the job whose steps throw; set before it runs
  absl::Mutex mu;
  Start([&](server::ServerOptions& o) {
    o.test_hooks.after_training_step = [&](const std::string& job_id, int64_t step) {
      absl::MutexLock lock(&mu);
      if (job_id == poisoned && step >= 3) throw std::bad_alloc();
    };
  });
  const v1::Dataset ds = UploadOk();
  {
    absl::MutexLock lock(&mu);
    poisoned = "pending";
  }
  // One worker: the job is QUEUED or just started when its id is known;
  // the hook fires from step 3 on.
  v1::SubmitJobRequest r = TinyJob(ds.id(), 50);
  v1::Job job = SubmitOk(r);
  {
    absl::MutexLock lock(&mu);
    poisoned = job.id();
  }
  v1::Job failed = WaitForState(job.id(), v1::FAILED);
  ASSERT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.error().code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_NE(failed.error().message().find("out of memory at step "), std::string::npos)
      << failed.error().message();
  // The server and its worker are still there.
  v1::Job next = SubmitOk(TinyJob(ds.id(), 1));
  EXPECT_EQ(WaitForState(next.id(), v1::SUCCEEDED).state(), v1::SUCCEEDED);
}

TEST_F(MemoryBudgetTest, JobRunningAtRepeatedCrashesIsQuarantinedOnRecovery) {
  auto two_workers = [](server::ServerOptions& o) { o.workers = 2; };
  Start(two_workers);
  const v1::Dataset ds = UploadOk();
  const v1::Job poison = SubmitOk(TinyJob(ds.id(), 100000));
  const v1::Job innocent = SubmitOk(TinyJob(ds.id(), 100000));
  ASSERT_EQ(WaitForState(poison.id(), v1::RUNNING).state(), v1::RUNNING);
  ASSERT_EQ(WaitForState(innocent.id(), v1::RUNNING).state(), v1::RUNNING);
  stub_.reset();
  server_.reset();  // stopped, not shut down: as a crash; both rows say RUNNING
  // As the store looks when the job was also RUNNING at the previous
  // kMaxCrashRestarts - 1 crashes; the other job only at this one.
  EditStoredJob(poison.id(),
                [](v1::Job& j) { j.set_crash_restarts(server::kMaxCrashRestarts - 1); });

  Start(two_workers);
  v1::GetJobRequest get;
  get.set_job_id(poison.id());
  v1::Job got;
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.state(), v1::FAILED);
  EXPECT_EQ(got.crash_restarts(), server::kMaxCrashRestarts);
  EXPECT_EQ(got.error().code(), static_cast<int>(grpc::StatusCode::ABORTED));
  EXPECT_NE(got.error().message().find("quarantined"), std::string::npos)
      << got.error().message();
  EXPECT_NE(got.error().message().find("last 3 times"), std::string::npos)
      << got.error().message();
  // The other one was requeued and runs again, one crash on its count; a
  // run that ends on its own (here: cancelled) clears the count.
  v1::Job resumed = WaitForState(innocent.id(), v1::RUNNING);
  EXPECT_EQ(resumed.state(), v1::RUNNING);
  EXPECT_EQ(resumed.crash_restarts(), 1);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(innocent.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(Ctx().get(), cancel, &cancelled).ok());
  v1::Job ended = WaitForState(innocent.id(), v1::CANCELLED);
  EXPECT_EQ(ended.state(), v1::CANCELLED);
  EXPECT_EQ(ended.crash_restarts(), 0);
  // And the server keeps serving.
  v1::Job next = SubmitOk(TinyJob(ds.id(), 1));
  EXPECT_EQ(WaitForState(next.id(), v1::SUCCEEDED).state(), v1::SUCCEEDED);
}

}  // namespace
}  // namespace trainyard::testing
