// Issue 9's classes 2 and 3 for checkpoint retention (issue 10 section 4): a
// save that prunes older checkpoints is one transaction (the new row, the
// job's pointer, its event and the pruned rows' deletion) followed by
// unlinking the pruned files. The process "dies" after each possible number
// k of file operations of such a save (FaultEnv::CrashAfter); reopened, the
// data dir must hold the old checkpoint or the new one, never a row without
// its file, and the start-up sweep removes a pruned file the crash left.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/blob_sweep.h"
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
using crash_windows::SetUpRunningJob;
using crash_windows::TrainedCheckpoint;

class RetentionCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/retention_crash_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // kJob RUNNING with retention keep_last 1 and checkpoint `old` saved.
  std::string SetUpJobWithOneCheckpoint(const std::string& name, const v1::Checkpoint& old) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    SetUpRunningJob(d);
    {
      auto store = OpenStore(d, Env::Default());
      v1::Job job = store->GetJob(kJob).value();
      job.mutable_training()->mutable_retention()->set_keep_last(1);
      EXPECT_TRUE(store->UpdateJob(job).ok());
    }
    CheckpointRig r(d, Env::Default());
    absl::StatusOr<v1::CheckpointInfo> saved = r.recorder.Save(kJob, old, v1::PERIODIC);
    EXPECT_TRUE(saved.ok()) << saved.status();
    old_id_ = saved.ok() ? saved->id() : "";
    return d;
  }

  std::string dir_;
  std::string old_id_;
};

TEST_F(RetentionCrashTest, PruningSaveLeavesOldOrNewCheckpointAndNeverARowWithoutItsFile) {
  const v1::Checkpoint old_ckpt = TrainedCheckpoint();
  v1::Checkpoint new_ckpt = old_ckpt;
  new_ckpt.set_step(old_ckpt.step() + 5);  // other bytes, a newer step
  int64_t steps = 0;
  {
    const std::string d = SetUpJobWithOneCheckpoint("count", old_ckpt);
    FaultEnv counter;
    CheckpointRig r(d, &counter);
    const int64_t before = counter.mutating_ops();
    absl::StatusOr<v1::CheckpointInfo> saved = r.recorder.Save(kJob, new_ckpt, v1::PERIODIC);
    ASSERT_TRUE(saved.ok()) << saved.status();
    steps = counter.mutating_ops() - before;
    // The pruned row went in the same transaction, its file after it.
    EXPECT_EQ(r.store->ListCheckpoints(kJob)->size(), 1u);
    EXPECT_EQ(BlobFiles(d), 1);
  }
  int new_kept = 0, pruned_files_swept = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after ", k, " of ", steps, " file operations"));
    const std::string d = SetUpJobWithOneCheckpoint(absl::StrCat("crash", k), old_ckpt);
    {
      FaultEnv env;
      CheckpointRig r(d, &env);
      env.CrashAfter(k);
      // Its status does not matter: only what a restart finds does.
      r.recorder.Save(kJob, new_ckpt, v1::PERIODIC).status().IgnoreError();
    }
    auto store = OpenStore(d, Env::Default());  // the restart
    ASSERT_NE(store, nullptr);
    const v1::Job job = store->GetJob(kJob).value();
    const std::vector<v1::CheckpointInfo> rows = store->ListCheckpoints(kJob).value();
    ASSERT_EQ(rows.size(), 1u) << "the old checkpoint or the new one, never both or none";
    EXPECT_EQ(job.latest_checkpoint_id(), rows[0].id());
    // Class 3: the row's file is there.
    EXPECT_TRUE(BlobStore::Open(d + "/blobs").value()->Exists(rows[0].id()))
        << "checkpoint row " << rows[0].id() << " without its file";
    const bool kept_new = rows[0].id() != old_id_;
    new_kept += kept_new;
    // The sweep leaves exactly the row's file.
    const int before = BlobFiles(d);
    const std::vector<std::string> removed =
        SweepOrphanBlobs(Env::Default(), d + "/blobs", store.get());
    EXPECT_EQ(BlobFiles(d), 1);
    EXPECT_EQ(before - 1, static_cast<int>(removed.size()));
    for (const std::string& path : removed) {
      pruned_files_swept += kept_new && path.find(old_id_) != std::string::npos;
    }
  }
  EXPECT_GE(new_kept, 1);
  // Some k crashed after the pruning commit, before the old file was unlinked.
  EXPECT_GE(pruned_files_swept, 1);
}

}  // namespace
}  // namespace trainyard::server
