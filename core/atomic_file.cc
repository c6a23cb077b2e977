#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace trainyard {
namespace {

// Closes a descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close's errno (0 on success): on NFS and some
  // other file systems a deferred write error first shows up here.
  int Close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// The directory holding `path` ("." for a bare name, "/" for "/name").
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A name in `path`'s directory that no other writer in this or another
// process picks: pid, a per-process counter, and the clock (for pid reuse
// across containers sharing a volume). Starting with '.' keeps it out of
// casual listings; the ".tmp" suffix lets a cleaner recognise leftovers of a
// crash.
std::string TempPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  size_t slash = path.rfind('/');
  std::string dir_prefix =
      slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  uint64_t nanos = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return absl::StrCat(dir_prefix, ".", base, ".", ::getpid(), "-",
                      counter.fetch_add(1, std::memory_order_relaxed), "-",
                      nanos % 1000000007, ".tmp");
}

// Writes all of `data`, retrying short writes and EINTR. Returns 0 or errno.
int WriteAll(int fd, std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    // Linux writes at most ~2 GiB per call; ask for no more than 1 GiB.
    size_t chunk = left < (size_t{1} << 30) ? left : (size_t{1} << 30);
    ssize_t n = ::write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

int FsyncRetry(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// The status for a failed system call `what` on `path` (see the code table in
// the header).
absl::Status FileErrorStatus(int err, absl::string_view what,
                             absl::string_view path) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case EISDIR:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::string_view data) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write \"", path, "\": not a file path"));
  }
  std::string temp;
  int fd = -1;
  // O_EXCL makes a name collision an error rather than a shared file; a few
  // retries with fresh names cover the (practically impossible) collision.
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    temp = TempPathFor(path);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST && errno != EINTR) {
      return FileErrorStatus(errno, "create temp file", temp);
    }
  }
  if (fd < 0) return FileErrorStatus(EEXIST, "create temp file", temp);

  FdCloser file(fd);
  auto fail = [&](int err, absl::string_view what, const std::string& where) {
    if (file.get() >= 0) file.Close();
    ::unlink(temp.c_str());
    return FileErrorStatus(err, what, where);
  };
  if (int err = WriteAll(file.get(), data)) return fail(err, "write", temp);
  // The data must be on disk before the rename makes it visible, or a crash
  // could leave `path` naming an empty or partial file.
  if (int err = FsyncRetry(file.get())) return fail(err, "fsync", temp);
  if (int err = file.Close()) return fail(err, "close", temp);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail(errno, "rename to", path);
  }

  // The rename itself lives in the directory; without this fsync a crash can
  // bring back the old file (or none) even though we reported success.
  std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return FileErrorStatus(errno, "open directory", dir);
  FdCloser dir_file(dir_fd);
  if (int err = FsyncRetry(dir_file.get())) {
    // Some file systems refuse fsync on directories; the file is already
    // complete and in place, only its durability across a power cut is
    // unknown, which those file systems never promise anyway.
    if (err != EINVAL && err != ENOTSUP) {
      return FileErrorStatus(err, "fsync directory", dir);
    }
  }
  return absl::OkStatus();
}

}  // namespace trainyard
