#include "server/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"

namespace trainyard::server {
namespace {

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return ErrnoStatus("cannot create directory", path);
}

// A rename or create is durable only once its directory entry is.
absl::Status SyncDir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", path);
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", path);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status CheckName(std::string_view sha256) {
  if (IsSha256Hex(sha256)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "blob name must be 64 lower-case hex characters (a sha256)");
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// ------------------------------------------------------------- BlobWriter

BlobWriter::BlobWriter(const BlobStore* store, std::string temp_path, int fd,
                       int64_t max_bytes)
    : store_(store), temp_path_(std::move(temp_path)), fd_(fd), max_bytes_(max_bytes) {}

BlobWriter::~BlobWriter() { Discard(); }

void BlobWriter::Discard() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

absl::Status BlobWriter::Append(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (fd_ < 0) return absl::FailedPreconditionError("blob writer already committed");
  if (max_bytes_ > 0 && size_ + static_cast<int64_t>(bytes.size()) > max_bytes_) {
    failed_ = absl::ResourceExhaustedError(
        absl::StrFormat("data exceeds the limit of %d bytes", max_bytes_));
    Discard();
    return failed_;
  }
  if (absl::Status s = WriteAll(fd_, bytes, temp_path_); !s.ok()) {
    failed_ = s;
    Discard();
    return s;
  }
  hash_.Update(bytes);
  size_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobWriter::Commit(std::string_view expected_sha256) {
  if (!failed_.ok()) return failed_;
  if (fd_ < 0) return absl::FailedPreconditionError("blob writer already committed");
  std::string sha = hash_.FinishHex();
  if (!expected_sha256.empty() && expected_sha256 != sha) {
    failed_ = absl::InvalidArgumentError(absl::StrCat(
        "sha256 mismatch: the data received hashes to ", sha, ", the trailer says ",
        std::string(expected_sha256.substr(0, 80))));
    Discard();
    return failed_;
  }
  if (fsync(fd_) != 0) {
    failed_ = ErrnoStatus("cannot fsync", temp_path_);
    Discard();
    return failed_;
  }
  close(fd_);
  fd_ = -1;
  absl::Status s = store_->Install(temp_path_, sha);
  if (!s.ok()) {
    failed_ = s;
    Discard();
    return s;
  }
  temp_path_.clear();  // renamed away (or removed as a duplicate)
  return sha;
}

// -------------------------------------------------------------- BlobStore

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("blob store root is empty");
  if (absl::Status s = MakeDir(root); !s.ok()) return s;
  const std::string tmp = root + "/tmp";
  if (absl::Status s = MakeDir(tmp); !s.ok()) return s;
  // Temp files are never referenced by metadata: whatever is left was an
  // upload or save in progress when the process died.
  if (DIR* dir = opendir(tmp.c_str())) {
    while (dirent* e = readdir(dir)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      unlink((tmp + "/" + std::string(name)).c_str());
    }
    closedir(dir);
  }
  return std::unique_ptr<BlobStore>(new BlobStore(root));
}

std::string BlobStore::PathFor(std::string_view sha256) const {
  return absl::StrCat(root_, "/", std::string(sha256.substr(0, 2)), "/", std::string(sha256));
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BlobStore::NewWriter(int64_t max_bytes) const {
  absl::BitGen gen;
  std::string path = absl::StrFormat("%s/tmp/%016x%016x.tmp", root_,
                                     absl::Uniform<uint64_t>(gen),
                                     absl::Uniform<uint64_t>(gen));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", path);
  return std::unique_ptr<BlobWriter>(new BlobWriter(this, std::move(path), fd, max_bytes));
}

absl::Status BlobStore::Install(const std::string& temp_path, std::string_view sha256) const {
  const std::string dir = absl::StrCat(root_, "/", std::string(sha256.substr(0, 2)));
  const std::string final_path = PathFor(sha256);
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0) {
    // Same name, same bytes: keep the durable copy that is already there.
    unlink(temp_path.c_str());
    return absl::OkStatus();
  }
  bool new_dir = stat(dir.c_str(), &st) != 0;
  if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  if (new_dir) {
    if (absl::Status s = SyncDir(root_); !s.ok()) return s;
  }
  if (rename(temp_path.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus("cannot rename into", final_path);
  }
  return SyncDir(dir);
}

absl::StatusOr<std::string> BlobStore::Put(std::string_view bytes) const {
  absl::StatusOr<std::unique_ptr<BlobWriter>> writer = NewWriter();
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->Append(bytes); !s.ok()) return s;
  return (*writer)->Commit();
}

bool BlobStore::Exists(std::string_view sha256) const {
  if (!IsSha256Hex(sha256)) return false;
  struct stat st;
  return stat(PathFor(sha256).c_str(), &st) == 0;
}

absl::StatusOr<int64_t> BlobStore::Size(std::string_view sha256) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  struct stat st;
  const std::string path = PathFor(sha256);
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob ", std::string(sha256)));
    return ErrnoStatus("cannot stat", path);
  }
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<std::string> BlobStore::ReadRange(std::string_view sha256, int64_t offset,
                                                 int64_t max_len) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  const std::string path = PathFor(sha256);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob ", std::string(sha256)));
    return ErrnoStatus("cannot open", path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    absl::Status s = ErrnoStatus("cannot stat", path);
    close(fd);
    return s;
  }
  const int64_t size = st.st_size;
  if (offset < 0 || offset > size) {
    close(fd);
    return absl::OutOfRangeError(
        absl::StrFormat("offset %d is outside the blob's %d bytes", offset, size));
  }
  const int64_t len = std::max<int64_t>(0, std::min(max_len, size - offset));
  std::string out(static_cast<size_t>(len), '\0');
  int64_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, out.data() + done, static_cast<size_t>(len - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = n < 0 ? ErrnoStatus("cannot read", path)
                             : absl::DataLossError(absl::StrCat("blob shrank: ", path));
      close(fd);
      return s;
    }
    done += n;
  }
  close(fd);
  return out;
}

absl::StatusOr<std::string> BlobStore::ReadAll(std::string_view sha256) const {
  absl::StatusOr<int64_t> size = Size(sha256);
  if (!size.ok()) return size.status();
  return ReadRange(sha256, 0, *size);
}

absl::Status BlobStore::Remove(std::string_view sha256) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  const std::string path = PathFor(sha256);
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob ", std::string(sha256)));
    return ErrnoStatus("cannot remove", path);
  }
  return SyncDir(absl::StrCat(root_, "/", std::string(sha256.substr(0, 2))));
}

}  // namespace trainyard::server
