// An Env for tests that wraps another and makes the file system fail on
// purpose, deterministically (the same calls fail on every run):
//
//   FaultEnv env;                       // over Env::Default()
//   env.SetDiskBudget(100);             // (a) the disk is full after 100 bytes
//   env.FailNth(FileOp::kSync, 1, EIO); // (b) the next fsync fails with EIO
//   env.CrashAfter(3);                  // (c) the process "dies" after 3 more
//                                       //     mutating operations
//   env.KillAfter(3);                   // (d) the process really dies (SIGKILL)
//                                       //     at the 4th
//
// Mutating operations are those named by FileOp: creates, writes (Append and
// SQLite's writes through CheckForeignWrite), syncs, truncates, renames,
// removes, directory creates and directory syncs. A failed one changes
// nothing in the wrapped Env (a write beyond the budget writes no byte).
//
// After a crash every operation that goes through this Env fails (its reads
// and FileExists too) with "simulated crash", as if the process were gone; a
// test then reopens the store over the real Env to see what the crash left.
// SQLite reaches the Env only for its writes, syncs and truncates
// (server/sqlite_vfs.cc routes those through CheckForeignWrite): its reads,
// opens (which may create a journal) and deletes (of a journal) go straight
// to the real VFS and keep working after the crash. So a crashed SQLite store
// can still read its database and open and remove its journal files; only
// its writes, syncs and truncates fail.
//
// The simulation keeps what reached the wrapped Env: it does not drop
// unsynced data the way a power cut would, so it checks the order of visible
// steps (temp file, rename, cleanup), not fsync placement (for that, FailNth
// a sync).
//
// KillAfter is the real thing for a forked child: the kernel keeps exactly
// what reached it, and SQLite's locks and journals are released or left the
// way a killed server leaves them (tests/server_crash_windows_process_test.cc).
// Thread-safe.
#ifndef TRAINYARD_TESTS_TESTING_FAULT_ENV_H_
#define TRAINYARD_TESTS_TESTING_FAULT_ENV_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"

namespace trainyard::testing {

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base = Env::Default()) : base_(base) {}

  // (a) From now on writes may add up to `bytes`; a write that would pass it
  // fails with ENOSPC. Negative: no limit (the default).
  void SetDiskBudget(int64_t bytes);
  // (b) The `n`th (1-based, counted from now) operation of kind `op` fails
  // with `err`; one failure, then that kind works again.
  void FailNth(FileOp op, int n, int err);
  // (c) `k` more mutating operations succeed; from then on everything fails.
  void CrashAfter(int64_t k);
  // (d) `k` more mutating operations succeed; the next one raises SIGKILL
  // in this process before it reaches the wrapped Env. Only for a forked
  // child whose parent reaps it.
  void KillAfter(int64_t k);
  // Clears every fault above (the counters keep counting).
  void Heal();

  // Mutating operations attempted so far (failed ones included).
  int64_t mutating_ops() const;
  bool crashed() const;

  // Env.
  using Env::NewExclusiveFile;  // the one-argument form
  absl::StatusOr<std::unique_ptr<WritableFile>> NewExclusiveFile(const std::string& path,
                                                                 uint32_t mode) override;
  absl::StatusOr<std::string> ReadRange(const std::string& path, int64_t offset,
                                        int64_t max_len) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<int64_t> FileSize(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::Status SyncDir(const std::string& path) override;
  int CheckForeignWrite(FileOp op, std::string_view path, int64_t bytes) override;

 private:
  friend class FaultWritableFile;
  static constexpr int kNumOps = static_cast<int>(FileOp::kSyncDir) + 1;

  // Counts one mutating operation of `bytes` and decides its fate: 0 to go
  // on, else the errno it fails with.
  int Admit(FileOp op, int64_t bytes);
  // OK, or the status of a failure Admit chose for `op` on `path`.
  absl::Status AdmitStatus(FileOp op, std::string_view path, int64_t bytes = 0);
  // The status every operation returns after a crash.
  absl::Status CrashedStatus(std::string_view what, std::string_view path) const;
  bool CrashedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const base_;
  mutable absl::Mutex mu_;
  int64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t budget_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t crash_at_ ABSL_GUARDED_BY(mu_) = -1;  // ops_ value at which to crash
  int64_t kill_at_ ABSL_GUARDED_BY(mu_) = -1;   // ops_ value at which to SIGKILL
  std::array<int64_t, kNumOps> seen_ ABSL_GUARDED_BY(mu_) = {};
  std::array<int64_t, kNumOps> fail_at_ ABSL_GUARDED_BY(mu_) = {};  // 0: none
  std::array<int, kNumOps> fail_errno_ ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_FAULT_ENV_H_
