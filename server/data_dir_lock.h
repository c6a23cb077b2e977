// One owner per data dir. Two servers on one --data-dir would both "recover"
// the same RUNNING job and train it twice, collide on event seqs and sweep
// each other's temp files, so the Backend takes this lock before it touches
// anything in the dir and holds it for its lifetime:
//
//   absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(dir);
//   if (!lock.ok()) return lock.status();  // FAILED_PRECONDITION: in use
//   ... open the stores ...                // released when *lock is destroyed
//
// The lock is flock(LOCK_EX | LOCK_NB) on <dir>/LOCK, which also holds the
// owner's pid as text so the refusal can name it. flock belongs to the open
// file description, so a second DataDirLock in the same process is refused
// exactly like another process, and the kernel drops the lock when its owner
// dies (SIGKILL included): a stale LOCK file never blocks a restart. The
// file is never removed (removing it would let a waiter lock an unlinked
// inode while a third opener creates a new one).
#ifndef TRAINYARD_SERVER_DATA_DIR_LOCK_H_
#define TRAINYARD_SERVER_DATA_DIR_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace trainyard::server {

// The name of the lock file inside a data dir.
inline constexpr char kDataDirLockName[] = "LOCK";

class DataDirLock {
 public:
  // Creates `dir` (mode 0700 & ~umask; its parent must exist) unless it
  // exists — an existing dir keeps its mode — then locks <dir>/LOCK (created
  // 0600 & ~umask) and writes this process's pid into it.
  // FAILED_PRECONDITION naming the dir and the owner's pid when another
  // DataDirLock (in any process) holds it; otherwise the errno mapping's
  // codes (core/file_status.h) naming the path.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);

  // Releases the lock.
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  DataDirLock(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}

  const std::string dir_;
  const int fd_;  // the locked LOCK file
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_DATA_DIR_LOCK_H_
