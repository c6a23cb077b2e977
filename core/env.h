// The file system as an injected interface (leveldb's Env is the model), so
// the stores can be tested against a disk that fills up, an fsync that fails
// or a process that dies between two writes (tests/testing/fault_env.h).
//
//   Env* env = Env::Default();              // POSIX
//   auto file = env->NewExclusiveFile(tmp);  // O_CREAT | O_EXCL, mode 0600
//   (*file)->Append(bytes); (*file)->Sync(); (*file)->Close();
//   env->RenameFile(tmp, final); env->SyncDir(dir);
//
// Modes: what an Env creates is private unless the caller says otherwise —
// files kPrivateFileMode, directories 0700, so that datasets, checkpoints
// and the database are not readable by other users of the machine whatever
// the umask (which can only remove bits from these).
//
// Every error is a Status from the one errno mapping (core/file_status.h):
// NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED (disk full),
// INVALID_ARGUMENT, ALREADY_EXISTS, else INTERNAL; messages name the path.
// Implementations are thread-safe; a WritableFile is used by one thread.
#ifndef TRAINYARD_CORE_ENV_H_
#define TRAINYARD_CORE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace trainyard {

// The mutating operations, named so a test Env can fail one kind of them.
enum class FileOp {
  kCreate,    // NewExclusiveFile
  kWrite,     // WritableFile::Append, or a foreign write
  kSync,      // WritableFile::Sync, or a foreign sync
  kTruncate,  // a foreign truncate
  kRename,
  kRemove,
  kCreateDir,
  kSyncDir,
};
const char* FileOpName(FileOp op);

// Permission bits for NewExclusiveFile.
inline constexpr uint32_t kPrivateFileMode = 0600;  // the owner only: server data
inline constexpr uint32_t kSharedFileMode = 0666;   // as the umask allows: user files

// A file being written sequentially. The destructor closes it if Close was
// not called, dropping any error (callers that need durability call Sync and
// Close, which report them).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` at the end (short writes and EINTR are retried).
  virtual absl::Status Append(std::string_view data) = 0;
  // fsync: the data written so far survives a power cut.
  virtual absl::Status Sync() = 0;
  // Closes the file; some file systems (NFS) report a deferred write error
  // only here. Every call after the first fails with FAILED_PRECONDITION.
  virtual absl::Status Close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX file system. Never destroyed; safe from any thread.
  static Env* Default();

  // Creates `path` for writing with permission bits `mode & ~umask`;
  // ALREADY_EXISTS if the name is taken, so two writers never share a file.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewExclusiveFile(
      const std::string& path, uint32_t mode) = 0;
  // The same with kPrivateFileMode, the mode for anything the server keeps.
  // (Subclasses that override the two-argument form add
  // `using Env::NewExclusiveFile;` so this one stays visible.)
  absl::StatusOr<std::unique_ptr<WritableFile>> NewExclusiveFile(const std::string& path) {
    return NewExclusiveFile(path, kPrivateFileMode);
  }

  // Up to `max_len` bytes from `offset`; fewer (possibly none) at the end.
  // OUT_OF_RANGE when offset is negative or past the end; DATA_LOSS if the
  // file shrinks while being read.
  virtual absl::StatusOr<std::string> ReadRange(const std::string& path, int64_t offset,
                                                int64_t max_len) = 0;
  // The whole file; also files whose size is unknown in advance (pipes, /proc).
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  virtual absl::StatusOr<int64_t> FileSize(const std::string& path) = 0;
  // False also when the state cannot be determined (e.g. EACCES).
  virtual bool FileExists(const std::string& path) = 0;
  // The entries of directory `path` without "." and "..", in no order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;

  // rename(2): atomically replaces `to`.
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // Creates directory `path` (0700 & ~umask); OK if it already exists (its
  // mode is then left as it is).
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // fsyncs directory `path`, so a create, rename or unlink in it survives a
  // power cut. File systems that refuse fsync on a directory (EINVAL,
  // ENOTSUP) never promise that anyway: that counts as OK.
  virtual absl::Status SyncDir(const std::string& path) = 0;

  // For files this Env does not write itself: SQLite writes its database,
  // WAL and journal through its own VFS (server/sqlite_vfs.h), which calls
  // this before each write, sync or truncate of them. Returns 0 to go on, or
  // the errno that operation fails with, so a disk a test Env fills is full
  // for SQLite too. The POSIX Env always returns 0.
  virtual int CheckForeignWrite(FileOp /*op*/, std::string_view /*path*/,
                                int64_t /*bytes*/) {
    return 0;
  }
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_ENV_H_
