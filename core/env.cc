// Env::Default(): the POSIX file system.
#include "core/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/file_status.h"

namespace trainyard {

const char* FileOpName(FileOp op) {
  switch (op) {
    case FileOp::kCreate: return "create";
    case FileOp::kWrite: return "write";
    case FileOp::kSync: return "sync";
    case FileOp::kTruncate: return "truncate";
    case FileOp::kRename: return "rename";
    case FileOp::kRemove: return "remove";
    case FileOp::kCreateDir: return "create directory";
    case FileOp::kSyncDir: return "sync directory";
  }
  return "?";
}

namespace {

int FsyncRetry(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    // Dropping close's error is the documented contract: a caller that
    // needs to know calls Close().
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed();
    while (!data.empty()) {
      // Linux writes at most ~2 GiB per call; ask for no more than 1 GiB.
      const size_t chunk = std::min(data.size(), size_t{1} << 30);
      ssize_t n = ::write(fd_, data.data(), chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(errno, "cannot write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    if (int err = FsyncRetry(fd_)) return ErrnoToStatus(err, "cannot fsync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return Closed();
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return ErrnoToStatus(errno, "cannot close", path_);
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(absl::StrCat(path_, " is already closed"));
  }

  const std::string path_;
  int fd_;  // -1 once closed
};

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewExclusiveFile(const std::string& path,
                                                                 uint32_t mode) override {
    int fd;
    do {
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  static_cast<mode_t>(mode & 07777));
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return ErrnoToStatus(errno, "cannot create", path);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  absl::StatusOr<std::string> ReadRange(const std::string& path, int64_t offset,
                                        int64_t max_len) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoToStatus(errno, "cannot open", path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "cannot stat", path);
    const int64_t size = st.st_size;
    if (offset < 0 || offset > size) {
      return absl::OutOfRangeError(
          absl::StrFormat("offset %d is outside the %d bytes of %s", offset, size, path));
    }
    const int64_t len = std::max<int64_t>(0, std::min(max_len, size - offset));
    std::string out(static_cast<size_t>(len), '\0');
    int64_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd.get(), out.data() + done, static_cast<size_t>(len - done),
                          offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoToStatus(errno, "cannot read", path);
      if (n == 0) return absl::DataLossError(absl::StrCat("file shrank while read: ", path));
      done += n;
    }
    return out;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoToStatus(errno, "cannot open", path);
    // The size is a hint only: reads go straight into `data` up to it, and
    // past it (or when it is unknown: pipes, /proc) through a small buffer
    // until read() says end of file.
    std::string data;
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
      data.resize(static_cast<size_t>(st.st_size));
    }
    size_t used = 0;
    char buffer[1 << 16];
    for (;;) {
      const bool into_data = used < data.size();
      char* dst = into_data ? data.data() + used : buffer;
      const size_t room = into_data ? data.size() - used : sizeof(buffer);
      ssize_t n = ::read(fd.get(), dst, room);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoToStatus(errno, "cannot read", path);
      if (n == 0) break;
      if (!into_data) data.append(buffer, static_cast<size_t>(n));
      used += static_cast<size_t>(n);
    }
    data.resize(used);  // the file may have shrunk since fstat
    return data;
  }

  absl::StatusOr<int64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat", path);
    return static_cast<int64_t>(st.st_size);
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoToStatus(errno, "cannot open directory", path);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    return names;
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("cannot rename ", from, " to"), to);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoToStatus(errno, "cannot remove", path);
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
    return ErrnoToStatus(errno, "cannot create directory", path);
  }

  absl::Status SyncDir(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoToStatus(errno, "cannot open directory", path);
    if (int err = FsyncRetry(fd.get()); err != 0 && err != EINVAL && err != ENOTSUP) {
      return ErrnoToStatus(err, "cannot fsync directory", path);
    }
    return absl::OkStatus();
  }
};

}  // namespace

Env* Env::Default() {
  // Leaked on purpose: stores may use it from static destructors' time.
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace trainyard
