// Issue 9, class 4: the disk fills while a job trains. The stores are built
// over a FaultEnv (ServerOptions::env); its disk budget drops to 0 while the
// job runs, so its epoch updates, events, periodic and final checkpoints
// all fail. Wanted: the job is never left RUNNING without a worker (before:
// the end of the run could not be recorded, the worker let go, and the row
// said RUNNING forever); once space is back it ends (FAILED with
// RESOURCE_EXHAUSTED "disk full at ..." for the final checkpoint it could
// not save), and a new job succeeds, all without a restart.
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "tests/testing/backend_peer.h"
#include "tests/testing/fault_env.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::trainyard::testing::FaultEnv;

bool WaitFor(const std::function<bool()>& done, double seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/disk_full_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ServerOptions o;
    o.data_dir = dir_;
    o.workers = 1;
    o.cores = 2;
    o.default_threads = 1;
    o.durable_sync = false;
    o.env = &env_;
    auto b = Backend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status();
    b_ = *std::move(b);
    std::string csv;
    for (int i = 0; i < 64; ++i) absl::StrAppend(&csv, i % 7 - 3, ",", i % 5 - 2, ",", i % 2, "\n");
    const std::string sha = *BackendTestPeer::blobs(*b_).Put(csv);
    v1::DatasetHeader h;
    h.set_name("points");
    h.set_format(v1::CSV);
    h.mutable_csv_options()->add_label_columns()->push_back('2');
    absl::StatusOr<v1::Dataset> d = b_->CreateDataset(h, sha, static_cast<int64_t>(csv.size()));
    ASSERT_TRUE(d.ok()) << d.status();
    dataset_id_ = d->id();
    b_->StartWorkers();
  }
  void TearDown() override {
    env_.Heal();
    if (b_ != nullptr) b_->Shutdown(absl::Seconds(5));
    b_.reset();
    fs::remove_all(dir_);
  }

  v1::SubmitJobRequest Request(int epochs) const {
    v1::SubmitJobRequest r;
    r.set_dataset_id(dataset_id_);
    v1::ModelSpec* m = r.mutable_model();
    m->set_input_dim(2);
    m->add_layers()->mutable_dense()->set_units(2);
    v1::TrainingConfig* t = r.mutable_training();
    t->mutable_loss()->set_kind(v1::SOFTMAX_CROSS_ENTROPY);
    t->mutable_optimizer()->set_learning_rate(0.1);
    t->mutable_optimizer()->mutable_sgd();
    t->set_batch_size(16);
    t->set_epochs(epochs);
    t->set_seed(7);
    t->set_checkpoint_every_epochs(5);
    return r;
  }

  v1::Job Job(const std::string& id) { return b_->GetJob(id).value(); }

  FaultEnv env_;
  std::string dir_;
  std::unique_ptr<Backend> b_;
  std::string dataset_id_;
};

TEST_F(DiskFullTest, AJobThatFillsTheDiskEndsOnceSpaceIsBackAndTheNextOneSucceeds) {
  absl::StatusOr<v1::Job> job = b_->SubmitJob(Request(/*epochs=*/40));
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->id();
  ASSERT_TRUE(WaitFor([&] { return Job(id).state() == v1::RUNNING; }));
  env_.SetDiskBudget(0);  // the disk is full from here on

  // Long enough for the short run to finish training and fail its final
  // save (40 epochs of 4 steps); meanwhile a RUNNING row always has a worker.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    if (Job(id).state() == v1::RUNNING) {
      ASSERT_TRUE(BackendTestPeer::scheduler(*b_).IsRunning(id))
          << "job RUNNING in the store without a worker";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Job(id).state(), v1::RUNNING);  // nothing could be written

  // A submission meanwhile is refused in words, and leaves nothing behind.
  absl::StatusOr<v1::Job> refused = b_->SubmitJob(Request(1));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("disk full at"));

  env_.Heal();  // space is back: no restart
  ASSERT_TRUE(WaitFor([&] { return IsTerminalState(Job(id).state()); }));
  const v1::Job ended = Job(id);
  EXPECT_EQ(ended.state(), v1::FAILED);
  EXPECT_EQ(ended.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(ended.error().message(), HasSubstr("disk full at"));
  EXPECT_FALSE(BackendTestPeer::scheduler(*b_).IsRunning(id));

  absl::StatusOr<v1::Job> next = b_->SubmitJob(Request(/*epochs=*/3));
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(WaitFor([&] { return IsTerminalState(Job(next->id()).state()); }));
  EXPECT_EQ(Job(next->id()).state(), v1::SUCCEEDED) << Job(next->id()).error().message();
  EXPECT_EQ(b_->ListJobs({}).value().jobs_size(), 2);
}

}  // namespace
}  // namespace trainyard::server
