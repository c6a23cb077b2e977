// Issue 9, class 2: a crash between the writes of one state transition. The
// process "dies" (tests/testing/fault_env.h: CrashAfter(k), every file
// operation fails from then on, under SQLite through server/sqlite_vfs.cc)
// after each possible number k of file operations of the transition; the
// data dir is then reopened over the real disk, as after a restart, and must
// hold all of the transition or none of it:
// - SubmitJob: a job row never exists without its first event, and that
//   event is the "submitted" QUEUED state change (before: a crash between
//   the row's commit and the event's left a job whose log started at
//   QUEUED->RUNNING).
// - CheckpointRecorder::Save: a checkpoint row exists exactly when the job
//   points at it and its CheckpointSaved event is logged (before: three
//   commits, so a listed checkpoint the job did not resume from); the blob
//   a crash leaves without its row is removed by the start-up sweep
//   (class 3, server/blob_sweep.h).
// The transitions and data dirs are tests/testing/crash_windows.h's;
// tests/server_crash_windows_process_test.cc runs the same ones in a child
// process that is really SIGKILLed.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/backend.h"
#include "server/blob_sweep.h"
#include "tests/testing/backend_peer.h"
#include "tests/testing/crash_windows.h"
#include "tests/testing/fault_env.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using ::trainyard::testing::FaultEnv;
using crash_windows::BlobFiles;
using crash_windows::CheckpointRig;
using crash_windows::kJob;
using crash_windows::OpenStore;
using crash_windows::Options;
using crash_windows::SetUpDataDir;
using crash_windows::SetUpRunningJob;
using crash_windows::SubmitRequest;
using crash_windows::TrainedCheckpoint;

class CrashWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/crash_windows_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A fresh data dir under dir_ named `name`.
  std::string NewDir(const std::string& name) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    return d;
  }
  std::string dir_;
};

// ------------------------------------------------------------ SubmitJob

TEST_F(CrashWindowTest, SubmitCrashLeavesTheJobWithItsQueuedEventOrNoJob) {
  int64_t steps = 0;
  {
    const std::string dir = NewDir("count");
    const std::string dataset = SetUpDataDir(dir);
    FaultEnv counter;
    auto b = Backend::Open(Options(dir, &counter));
    ASSERT_TRUE(b.ok()) << b.status();
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE((*b)->SubmitJob(SubmitRequest(dataset)).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 2);  // at least a WAL write and its fsync
  }
  int with_job = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after ", k, " of ", steps, " file operations"));
    const std::string dir = NewDir(absl::StrCat("crash", k));
    const std::string dataset = SetUpDataDir(dir);
    absl::StatusOr<v1::Job> submitted;
    {
      FaultEnv env;
      auto b = Backend::Open(Options(dir, &env));
      ASSERT_TRUE(b.ok()) << b.status();
      env.CrashAfter(k);
      submitted = (*b)->SubmitJob(SubmitRequest(dataset));
    }  // the "dead" process: closing writes nothing either
    auto b = Backend::Open(Options(dir, Env::Default()));  // the restart
    ASSERT_TRUE(b.ok()) << b.status();
    MetadataStore& store = BackendTestPeer::store(**b);
    const std::vector<v1::Job> jobs = store.ListJobs({}).value().jobs;
    ASSERT_LE(jobs.size(), 1u);
    if (submitted.ok()) {
      ASSERT_EQ(jobs.size(), 1u);  // acknowledged: durable
    }
    for (const v1::Job& job : jobs) {
      ++with_job;
      const std::vector<v1::JobEvent> events = store.ReadEvents(job.id(), 0, 100).value();
      ASSERT_FALSE(events.empty()) << "job row without its first event";
      ASSERT_TRUE(events[0].has_state_change());
      EXPECT_EQ(events[0].state_change().from(), v1::JOB_STATE_UNSPECIFIED);
      EXPECT_EQ(events[0].state_change().to(), v1::QUEUED);
      EXPECT_EQ(events[0].state_change().reason(), "submitted");
      // The API view agrees after recovery.
      absl::StatusOr<v1::Job> api = (*b)->GetJob(job.id());
      ASSERT_TRUE(api.ok());
      EXPECT_EQ(api->state(), v1::QUEUED);
      EXPECT_EQ(api->last_event_seq(), 1);
    }
  }
  EXPECT_GE(with_job, 1);  // the last k at least
}

// ------------------------------------------------- CheckpointRecorder::Save

TEST_F(CrashWindowTest, CheckpointCrashLeavesRowPointerAndEventTogetherOrNone) {
  const v1::Checkpoint ckpt = TrainedCheckpoint();
  int64_t steps = 0;
  {
    const std::string dir = NewDir("count");
    SetUpRunningJob(dir);
    FaultEnv counter;
    CheckpointRig r(dir, &counter);
    const int64_t before = counter.mutating_ops();
    ASSERT_TRUE(r.recorder.Save(kJob, ckpt, v1::PERIODIC).ok());
    steps = counter.mutating_ops() - before;
    ASSERT_GE(steps, 8);  // the blob's steps, then the one transaction
  }
  int orphans_swept = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after ", k, " of ", steps, " file operations"));
    const std::string dir = NewDir(absl::StrCat("crash", k));
    SetUpRunningJob(dir);
    absl::StatusOr<v1::CheckpointInfo> saved;
    {
      FaultEnv env;
      CheckpointRig r(dir, &env);
      env.CrashAfter(k);
      saved = r.recorder.Save(kJob, ckpt, v1::PERIODIC);
      EXPECT_EQ(saved.ok(), k == steps) << saved.status();
    }
    auto store = OpenStore(dir, Env::Default());  // the restart
    ASSERT_NE(store, nullptr);
    const v1::Job job = store->GetJob(kJob).value();
    const std::vector<v1::CheckpointInfo> rows = store->ListCheckpoints(kJob).value();
    int saved_events = 0;
    const std::vector<v1::JobEvent> events = store->ReadEvents(kJob, 0, 100).value();
    for (const v1::JobEvent& e : events) {
      saved_events += e.has_checkpoint_saved();
    }
    ASSERT_LE(rows.size(), 1u);
    if (rows.empty()) {
      EXPECT_EQ(job.latest_checkpoint_id(), "");
      EXPECT_EQ(saved_events, 0);
    } else {
      EXPECT_EQ(job.latest_checkpoint_id(), rows[0].id()) << "a checkpoint the job does not point to";
      EXPECT_EQ(saved_events, 1);
    }
    EXPECT_EQ(*store->MaxEventSeq(kJob), 2 + static_cast<int64_t>(rows.size()));
    // The sweep removes a blob the crash left without its row, keeps the rest.
    const int before = BlobFiles(dir);
    const std::vector<std::string> removed = SweepOrphanBlobs(Env::Default(), dir + "/blobs", store.get());
    EXPECT_EQ(BlobFiles(dir), static_cast<int>(rows.size()));
    EXPECT_EQ(before - BlobFiles(dir), static_cast<int>(removed.size()));
    orphans_swept += static_cast<int>(removed.size());
  }
  EXPECT_GE(orphans_swept, 1);  // some k crashed between the blob and its row
}

}  // namespace
}  // namespace trainyard::server
