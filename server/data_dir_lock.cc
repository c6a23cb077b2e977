#include "server/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/file_status.h"

namespace trainyard::server {
namespace {

// The dir as given (what the operator typed), and where that is when it is
// relative ("./trainyard-data (/srv/trainyard-data)").
std::string Displayed(const std::string& dir) {
  if (std::filesystem::path(dir).is_absolute()) return dir;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  if (ec) return dir;
  return absl::StrCat(dir, " (", abs.lexically_normal().string(), ")");
}

// The pid the current owner wrote, or 0 when it cannot be read (the owner
// may have taken the lock and not yet written it).
long OwnerPid(int fd) {
  char buffer[32];
  ssize_t n;
  do {
    n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  } while (n < 0 && errno == EINTR);
  long pid = 0;
  if (n <= 0) return 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buffer, static_cast<size_t>(n))), &pid)) {
    return 0;
  }
  return pid;
}

absl::Status InUse(const std::string& dir, long pid) {
  const std::string shown = Displayed(dir);
  if (pid == static_cast<long>(::getpid())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", shown, " is already open in this process (pid ", pid,
        "); one Backend per data dir"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "data dir ", shown, " is in use by another trainyard-server (pid ",
      pid > 0 ? absl::StrCat(pid) : std::string("unknown"),
      "); stop it or choose another --data-dir"));
}

absl::Status WritePid(int fd, const std::string& path) {
  const std::string text = absl::StrCat(static_cast<long>(::getpid()), "\n");
  if (::ftruncate(fd, 0) != 0) return ErrnoToStatus(errno, "cannot truncate", path);
  ssize_t n;
  do {
    n = ::pwrite(fd, text.data(), text.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoToStatus(errno, "cannot write", path);
  if (static_cast<size_t>(n) != text.size()) {
    return ErrnoToStatus(ENOSPC, "cannot write", path);  // a short write: out of space
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& dir) {
  // The owner only, like everything in it (core/env.h). An existing dir is
  // left as the operator made it.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, "cannot create data dir", dir);
  }
  const std::string path = absl::StrCat(dir, "/", kDataDirLockName);
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoToStatus(errno, "cannot open", path);
  // From here `lock` closes fd on every path.
  std::unique_ptr<DataDirLock> lock(new DataDirLock(dir, fd));
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) return InUse(dir, OwnerPid(fd));
    return ErrnoToStatus(errno, "cannot lock", path);
  }
  if (absl::Status s = WritePid(fd, path); !s.ok()) return s;
  return lock;
}

DataDirLock::~DataDirLock() {
  // close releases the flock. Nothing was written that close could lose.
  ::close(fd_);
}

}  // namespace trainyard::server
