// Issue 9, class 2, with a real process death: the in-process crash-window
// test (server_crash_windows_test.cc) only makes file operations fail, while
// SQLite's locks, journal opens and deletes keep going to the real VFS. Here
// a forked child runs the transition over a FaultEnv that SIGKILLs it at
// file operation k (FaultEnv::KillAfter), for every k of the window; the
// parent reaps it (it must have died of SIGKILL), reopens the data dir over
// the real Env as a restarted server does (Backend::Open: lock, WAL
// recovery, blob sweep, job recovery) and checks that all of the transition
// is there or none of it:
// - SubmitJob: no job, or the job with its first event, the "submitted"
//   QUEUED state change; an acknowledged submit is always there.
// - CheckpointRecorder::Save: a listed checkpoint is the job's latest and
//   its CheckpointSaved event is logged, or there is no checkpoint, no
//   pointer and no event; no blob file is left without its row.
// The child is forked before anything else runs in it (and the parent has no
// threads at that moment, checked), builds its own store or backend, and
// reports over a pipe: the transition's operation count when counting, one
// byte once the transition was acknowledged. It then kills itself, so every
// run ends the way a killed server does.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/sha256.h"
#include "gtest/gtest.h"
#include "server/backend.h"
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
using crash_windows::Options;
using crash_windows::SetUpDataDir;
using crash_windows::SetUpRunningJob;
using crash_windows::SubmitRequest;
using crash_windows::TrainedCheckpoint;

// Exit codes of a child that was not killed: its set-up or its transition
// failed for a reason other than the kill (the parent reports which).
constexpr int kSetUpFailed = 2;
constexpr int kTransitionFailed = 3;

// Threads of this process (fork copies only the caller's thread, so the
// parent must have no other when it forks).
int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

struct ChildResult {
  int wait_status = 0;
  std::string report;  // what the child wrote to its pipe
};

// Forks; the child runs `body(write_fd)` and then SIGKILLs itself (a body
// may also return an exit code, or die earlier by KillAfter). The parent
// reads the pipe to its end and reaps the child.
ChildResult RunInChild(const std::function<int(int)>& body) {
  ChildResult result;
  EXPECT_EQ(ThreadCount(), 1) << "the parent must fork with no other thread";
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const int code = body(fds[1]);
    if (code != 0) _exit(code);
    raise(SIGKILL);
    _exit(kTransitionFailed);  // not reached
  }
  EXPECT_GT(pid, 0);
  close(fds[1]);
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) result.report.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  EXPECT_EQ(waitpid(pid, &result.wait_status, 0), pid);
  return result;
}

// "" when the child died of SIGKILL, else what happened to it.
std::string NotKilled(int wait_status) {
  if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL) return "";
  if (WIFEXITED(wait_status)) {
    const int code = WEXITSTATUS(wait_status);
    return absl::StrCat("child exited ", code,
                        code == kSetUpFailed ? " (set-up failed)"
                        : code == kTransitionFailed ? " (the transition failed)" : "");
  }
  return absl::StrCat("child died of signal ", WTERMSIG(wait_status));
}

// gtest failures recorded so far in the current test. A child inherits its
// parent's, so it asks whether the count grew (FailedSince) rather than
// HasFailure().
int FailureCount() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}
bool FailedSince(int count) { return FailureCount() > count; }

void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

class CrashWindowProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/crash_windows_process_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string NewDir(const std::string& name) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    return d;
  }
  std::string dir_;
};

// ------------------------------------------------------------ SubmitJob

// In the child: a data dir with a dataset, a backend over a FaultEnv, and
// SubmitJob with the kill armed `kill_after` operations into it (< 0: not
// armed; the child reports the operations the submit took instead).
int SubmitInChild(const std::string& dir, int64_t kill_after, int report_fd) {
  const int failures = FailureCount();
  const std::string dataset = SetUpDataDir(dir);
  if (FailedSince(failures) || dataset.empty()) return kSetUpFailed;
  FaultEnv env;
  auto b = Backend::Open(Options(dir, &env));
  if (!b.ok()) return kSetUpFailed;
  const int64_t before = env.mutating_ops();
  if (kill_after >= 0) env.KillAfter(kill_after);
  if (!(*b)->SubmitJob(SubmitRequest(dataset)).ok()) return kTransitionFailed;
  WriteAll(report_fd, kill_after >= 0 ? "acked" : absl::StrCat(env.mutating_ops() - before));
  return FailedSince(failures) ? kTransitionFailed : 0;
}

TEST_F(CrashWindowProcessTest, KilledSubmitLeavesTheJobWithItsQueuedEventOrNoJob) {
  const std::string count_dir = NewDir("count");
  ChildResult counted = RunInChild([&](int fd) { return SubmitInChild(count_dir, -1, fd); });
  ASSERT_EQ(NotKilled(counted.wait_status), "");
  int64_t steps = 0;
  ASSERT_TRUE(absl::SimpleAtoi(counted.report, &steps)) << counted.report;
  ASSERT_GE(steps, 2);  // at least a WAL write and its fsync

  int with_job = 0, acked = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("SIGKILL at file operation ", k, " of ", steps));
    const std::string dir = NewDir(absl::StrCat("kill", k));
    ChildResult child = RunInChild([&](int fd) { return SubmitInChild(dir, k, fd); });
    ASSERT_EQ(NotKilled(child.wait_status), "");
    const bool acknowledged = child.report == "acked";
    EXPECT_EQ(acknowledged, k == steps) << "the kill must land inside the submit for k < steps";
    acked += acknowledged;

    auto b = Backend::Open(Options(dir, Env::Default()));  // the restart
    ASSERT_TRUE(b.ok()) << b.status();
    const v1::ListJobsResponse listed = (*b)->ListJobs({}).value();
    const std::vector<v1::Job> jobs(listed.jobs().begin(), listed.jobs().end());
    ASSERT_LE(jobs.size(), 1u);
    if (acknowledged) {
      ASSERT_EQ(jobs.size(), 1u) << "an acknowledged submit was lost";
    }
    for (const v1::Job& job : jobs) {
      ++with_job;
      const std::vector<v1::JobEvent> events =
          BackendTestPeer::store(**b).ReadEvents(job.id(), 0, 100).value();
      ASSERT_FALSE(events.empty()) << "job row without its first event";
      EXPECT_EQ(events[0].seq(), 1);
      ASSERT_TRUE(events[0].has_state_change());
      EXPECT_EQ(events[0].state_change().from(), v1::JOB_STATE_UNSPECIFIED);
      EXPECT_EQ(events[0].state_change().to(), v1::QUEUED);
      EXPECT_EQ(events[0].state_change().reason(), "submitted");
      EXPECT_EQ(events.size(), 1u);
      EXPECT_EQ(job.state(), v1::QUEUED);
      EXPECT_EQ(job.last_event_seq(), 1);
    }
  }
  EXPECT_EQ(acked, 1);
  EXPECT_GE(with_job, 1);
}

// ------------------------------------------------- CheckpointRecorder::Save

// In the child: a RUNNING job, the recorder over a FaultEnv, and Save with
// the kill armed `kill_after` operations into it (< 0: report the count).
int SaveInChild(const std::string& dir, const v1::Checkpoint& ckpt, int64_t kill_after,
                int report_fd) {
  const int failures = FailureCount();
  SetUpRunningJob(dir);
  if (FailedSince(failures)) return kSetUpFailed;
  FaultEnv env;
  CheckpointRig rig(dir, &env);
  if (rig.store == nullptr) return kSetUpFailed;
  const int64_t before = env.mutating_ops();
  if (kill_after >= 0) env.KillAfter(kill_after);
  if (!rig.recorder.Save(kJob, ckpt, v1::PERIODIC).ok()) return kTransitionFailed;
  WriteAll(report_fd, kill_after >= 0 ? "acked" : absl::StrCat(env.mutating_ops() - before));
  return FailedSince(failures) ? kTransitionFailed : 0;
}

TEST_F(CrashWindowProcessTest, KilledCheckpointSaveLeavesRowPointerAndEventTogetherOrNone) {
  const v1::Checkpoint ckpt = TrainedCheckpoint();  // trained here, before any fork
  ASSERT_FALSE(HasFailure());
  const std::string count_dir = NewDir("count");
  ChildResult counted = RunInChild([&](int fd) { return SaveInChild(count_dir, ckpt, -1, fd); });
  ASSERT_EQ(NotKilled(counted.wait_status), "");
  int64_t steps = 0;
  ASSERT_TRUE(absl::SimpleAtoi(counted.report, &steps)) << counted.report;
  ASSERT_GE(steps, 8);  // the blob's steps, then the one transaction

  int with_checkpoint = 0, without = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE(absl::StrCat("SIGKILL at file operation ", k, " of ", steps));
    const std::string dir = NewDir(absl::StrCat("kill", k));
    ChildResult child = RunInChild([&](int fd) { return SaveInChild(dir, ckpt, k, fd); });
    ASSERT_EQ(NotKilled(child.wait_status), "");
    const bool acknowledged = child.report == "acked";
    EXPECT_EQ(acknowledged, k == steps) << "the kill must land inside the save for k < steps";

    // The restart: the sweep removes a blob without its row, and recovery
    // requeues the RUNNING job (one more state change).
    auto b = Backend::Open(Options(dir, Env::Default()));
    ASSERT_TRUE(b.ok()) << b.status();
    const v1::Job job = (*b)->GetJob(kJob).value();
    EXPECT_EQ(job.state(), v1::QUEUED);
    const v1::ListCheckpointsResponse listed = (*b)->ListCheckpoints(kJob).value();
    const std::vector<v1::CheckpointInfo> rows(listed.checkpoints().begin(),
                                               listed.checkpoints().end());
    ASSERT_LE(rows.size(), 1u);
    if (acknowledged) {
      ASSERT_EQ(rows.size(), 1u) << "an acknowledged checkpoint was lost";
    }
    int saved_events = 0;
    const std::vector<v1::JobEvent> events =
        BackendTestPeer::store(**b).ReadEvents(kJob, 0, 100).value();
    for (const v1::JobEvent& e : events) {
      if (!e.has_checkpoint_saved()) continue;
      ++saved_events;
      if (!rows.empty()) {
        EXPECT_EQ(e.checkpoint_saved().checkpoint_id(), rows[0].id());
      }
    }
    if (rows.empty()) {
      ++without;
      EXPECT_EQ(job.latest_checkpoint_id(), "") << "the job points at a checkpoint not listed";
      EXPECT_EQ(saved_events, 0) << "CheckpointSaved for a checkpoint not listed";
    } else {
      ++with_checkpoint;
      EXPECT_EQ(job.latest_checkpoint_id(), rows[0].id()) << "a listed checkpoint the job does not point to";
      EXPECT_EQ(saved_events, 1);
      absl::StatusOr<std::string> bytes = (*b)->ReadCheckpoint(rows[0].id(), 0, 1 << 20);
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      EXPECT_EQ(Sha256Hex(*bytes), rows[0].id()) << "a listed checkpoint whose bytes are not whole";
    }
    // QUEUED, RUNNING, [CheckpointSaved], then recovery's RUNNING -> QUEUED.
    EXPECT_EQ(job.last_event_seq(), 3 + static_cast<int64_t>(rows.size()));
    EXPECT_EQ(BlobFiles(dir), static_cast<int>(rows.size())) << "a blob without its row survived the sweep";
  }
  EXPECT_GE(without, 1);
  EXPECT_GE(with_checkpoint, 1);
}

}  // namespace
}  // namespace trainyard::server
