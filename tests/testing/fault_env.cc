#include "tests/testing/fault_env.h"

#include <signal.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/file_status.h"

namespace trainyard::testing {

// Passes writes and syncs to the wrapped file once the FaultEnv admits them.
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(std::string_view data) override {
    if (absl::Status s = env_->AdmitStatus(FileOp::kWrite, path_, data.size()); !s.ok()) {
      return s;
    }
    return base_->Append(data);
  }
  absl::Status Sync() override {
    if (absl::Status s = env_->AdmitStatus(FileOp::kSync, path_); !s.ok()) return s;
    return base_->Sync();
  }
  absl::Status Close() override {
    if (env_->crashed()) return env_->CrashedStatus("cannot close", path_);
    return base_->Close();
  }

 private:
  FaultEnv* const env_;
  const std::string path_;
  const std::unique_ptr<WritableFile> base_;
};

void FaultEnv::SetDiskBudget(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  budget_ = bytes;
}

void FaultEnv::FailNth(FileOp op, int n, int err) {
  absl::MutexLock lock(&mu_);
  const int i = static_cast<int>(op);
  fail_at_[i] = seen_[i] + n;
  fail_errno_[i] = err;
}

void FaultEnv::CrashAfter(int64_t k) {
  absl::MutexLock lock(&mu_);
  crash_at_ = ops_ + k;
}

void FaultEnv::KillAfter(int64_t k) {
  absl::MutexLock lock(&mu_);
  kill_at_ = ops_ + k;
}

void FaultEnv::Heal() {
  absl::MutexLock lock(&mu_);
  budget_ = -1;
  crash_at_ = -1;
  kill_at_ = -1;
  fail_at_.fill(0);
}

int64_t FaultEnv::mutating_ops() const {
  absl::MutexLock lock(&mu_);
  return ops_;
}

bool FaultEnv::crashed() const {
  absl::MutexLock lock(&mu_);
  return CrashedLocked();
}

bool FaultEnv::CrashedLocked() const { return crash_at_ >= 0 && ops_ >= crash_at_; }

int FaultEnv::Admit(FileOp op, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (CrashedLocked()) return EIO;
  // Dies with the lock held: nothing in this process runs again.
  if (kill_at_ >= 0 && ops_ >= kill_at_) raise(SIGKILL);
  ++ops_;
  const int i = static_cast<int>(op);
  if (++seen_[i] == fail_at_[i]) {
    fail_at_[i] = 0;
    return fail_errno_[i];
  }
  if (op == FileOp::kWrite && budget_ >= 0) {
    if (bytes > budget_) return ENOSPC;
    budget_ -= bytes;
  }
  return 0;
}

absl::Status FaultEnv::AdmitStatus(FileOp op, std::string_view path, int64_t bytes) {
  const std::string what = absl::StrCat("cannot ", FileOpName(op));
  if (crashed()) return CrashedStatus(what, path);
  if (int err = Admit(op, bytes)) {
    // A crash may have begun between the check above and Admit.
    if (crashed() && err == EIO) return CrashedStatus(what, path);
    return ErrnoToStatus(err, absl::StrCat(what, " (injected)"), path);
  }
  return absl::OkStatus();
}

absl::Status FaultEnv::CrashedStatus(std::string_view what, std::string_view path) const {
  return ErrnoToStatus(EIO, absl::StrCat(std::string(what), " (simulated crash)"), path);
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultEnv::NewExclusiveFile(
    const std::string& path, uint32_t mode) {
  if (absl::Status s = AdmitStatus(FileOp::kCreate, path); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<WritableFile>> file = base_->NewExclusiveFile(path, mode);
  if (!file.ok()) return file.status();
  return std::make_unique<FaultWritableFile>(this, path, *std::move(file));
}

absl::StatusOr<std::string> FaultEnv::ReadRange(const std::string& path, int64_t offset,
                                                int64_t max_len) {
  if (crashed()) return CrashedStatus("cannot read", path);
  return base_->ReadRange(path, offset, max_len);
}

absl::StatusOr<std::string> FaultEnv::ReadFile(const std::string& path) {
  if (crashed()) return CrashedStatus("cannot read", path);
  return base_->ReadFile(path);
}

absl::StatusOr<int64_t> FaultEnv::FileSize(const std::string& path) {
  if (crashed()) return CrashedStatus("cannot stat", path);
  return base_->FileSize(path);
}

bool FaultEnv::FileExists(const std::string& path) {
  return !crashed() && base_->FileExists(path);
}

absl::StatusOr<std::vector<std::string>> FaultEnv::ListDir(const std::string& path) {
  if (crashed()) return CrashedStatus("cannot list", path);
  return base_->ListDir(path);
}

absl::Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  if (absl::Status s = AdmitStatus(FileOp::kRename, to); !s.ok()) return s;
  return base_->RenameFile(from, to);
}

absl::Status FaultEnv::RemoveFile(const std::string& path) {
  if (absl::Status s = AdmitStatus(FileOp::kRemove, path); !s.ok()) return s;
  return base_->RemoveFile(path);
}

absl::Status FaultEnv::CreateDir(const std::string& path) {
  if (absl::Status s = AdmitStatus(FileOp::kCreateDir, path); !s.ok()) return s;
  return base_->CreateDir(path);
}

absl::Status FaultEnv::SyncDir(const std::string& path) {
  if (absl::Status s = AdmitStatus(FileOp::kSyncDir, path); !s.ok()) return s;
  return base_->SyncDir(path);
}

int FaultEnv::CheckForeignWrite(FileOp op, std::string_view path, int64_t bytes) {
  if (int err = Admit(op, bytes)) return err;
  return base_->CheckForeignWrite(op, path, bytes);
}

}  // namespace trainyard::testing
