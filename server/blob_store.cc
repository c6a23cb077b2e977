#include "server/blob_store.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trainyard::server {
namespace {

// Marks a BlobWriter's size-limit error (see IsSizeLimitError). A payload
// rather than a message match: messages are for people and may change.
constexpr char kSizeLimitPayload[] = "trainyard.server/blob-size-limit";

absl::Status SizeLimitError(int64_t max_bytes) {
  absl::Status s = absl::ResourceExhaustedError(
      absl::StrFormat("data exceeds the limit of %d bytes", max_bytes));
  s.SetPayload(kSizeLimitPayload, absl::Cord(absl::StrCat(max_bytes)));
  return s;
}

absl::Status CheckName(std::string_view sha256) {
  if (IsSha256Hex(sha256)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "blob name must be 64 lower-case hex characters (a sha256)");
}

// The store's NOT_FOUND names the blob, not the path under the root.
absl::Status NoBlobIfNotFound(absl::Status s, std::string_view sha256) {
  if (absl::IsNotFound(s)) return absl::NotFoundError(absl::StrCat("no blob ", std::string(sha256)));
  return s;
}

}  // namespace

bool IsSizeLimitError(const absl::Status& status) {
  return absl::IsResourceExhausted(status) &&
         status.GetPayload(kSizeLimitPayload).has_value();
}

absl::Status CheckBlobDigest(std::string_view sha256, std::string_view actual_hex,
                             int64_t size) {
  if (actual_hex == sha256) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("blob ", std::string(sha256), " is corrupt: its ",
                                          size, " bytes hash to ", std::string(actual_hex)));
}

// ------------------------------------------------------------- BlobWriter

BlobWriter::BlobWriter(const BlobStore* store, std::string temp_path,
                       std::unique_ptr<WritableFile> file, int64_t max_bytes)
    : store_(store),
      temp_path_(std::move(temp_path)),
      file_(std::move(file)),
      max_bytes_(max_bytes) {}

BlobWriter::~BlobWriter() { Discard(); }

void BlobWriter::Discard() {
  file_.reset();
  if (!temp_path_.empty()) {
    // Nothing refers to a temp file, and BlobStore::Open sweeps any that a
    // failed remove leaves behind, so a failure here loses nothing.
    store_->env_->RemoveFile(temp_path_).IgnoreError();
    temp_path_.clear();
  }
}

absl::Status BlobWriter::Append(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (file_ == nullptr) return absl::FailedPreconditionError("blob writer already committed");
  if (max_bytes_ > 0 && size_ + static_cast<int64_t>(bytes.size()) > max_bytes_) {
    failed_ = SizeLimitError(max_bytes_);
    Discard();
    return failed_;
  }
  if (absl::Status s = file_->Append(bytes); !s.ok()) {
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
  if (file_ == nullptr) return absl::FailedPreconditionError("blob writer already committed");
  std::string sha = hash_.FinishHex();
  if (!expected_sha256.empty() && expected_sha256 != sha) {
    failed_ = absl::InvalidArgumentError(absl::StrCat(
        "sha256 mismatch: the data received hashes to ", sha, ", the trailer says ",
        std::string(expected_sha256.substr(0, 80))));
    Discard();
    return failed_;
  }
  absl::Status s = file_->Sync();
  if (s.ok()) s = file_->Close();
  if (s.ok()) s = store_->Install(temp_path_, sha);
  if (!s.ok()) {
    failed_ = s;
    Discard();
    return s;
  }
  file_.reset();
  temp_path_.clear();  // renamed away (or removed as a duplicate)
  return sha;
}

// -------------------------------------------------------------- BlobStore

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& root,
                                                           Env* env) {
  if (root.empty()) return absl::InvalidArgumentError("blob store root is empty");
  if (absl::Status s = env->CreateDir(root); !s.ok()) return s;
  const std::string tmp = root + "/tmp";
  if (absl::Status s = env->CreateDir(tmp); !s.ok()) return s;
  // Temp files are never referenced by metadata: whatever is left was an
  // upload or save in progress when the process died. A sweep that fails
  // leaves only garbage, which the next start sweeps again, so it does not
  // keep the store from opening.
  int removed = 0;
  if (absl::StatusOr<std::vector<std::string>> names = env->ListDir(tmp); names.ok()) {
    for (const std::string& name : *names) {
      // See above: a file left here is swept again next time.
      if (env->RemoveFile(absl::StrCat(tmp, "/", name)).ok()) ++removed;
    }
  }
  auto store = std::unique_ptr<BlobStore>(new BlobStore(root, env));
  store->temp_files_removed_ = removed;
  return store;
}

std::string BlobStore::PathFor(std::string_view sha256) const {
  return absl::StrCat(root_, "/", std::string(sha256.substr(0, 2)), "/", std::string(sha256));
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BlobStore::NewWriter(int64_t max_bytes) const {
  absl::BitGen gen;
  std::string path = absl::StrFormat("%s/tmp/%016x%016x.tmp", root_,
                                     absl::Uniform<uint64_t>(gen),
                                     absl::Uniform<uint64_t>(gen));
  // Uploaded data is the clients' own: the server's user only.
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      env_->NewExclusiveFile(path, kPrivateFileMode);
  if (!file.ok()) return file.status();
  return std::unique_ptr<BlobWriter>(
      new BlobWriter(this, std::move(path), *std::move(file), max_bytes));
}

absl::Status BlobStore::Install(const std::string& temp_path, std::string_view sha256) const {
  const std::string dir = absl::StrCat(root_, "/", std::string(sha256.substr(0, 2)));
  const std::string final_path = PathFor(sha256);
  const bool exists = env_->FileExists(final_path);
  if (exists && HashFile(final_path).value_or("") == sha256) {
    // Same name, same bytes: keep the durable copy that is already there.
    // The temp copy is garbage either way (Open sweeps it if this fails).
    env_->RemoveFile(temp_path).IgnoreError();
    return absl::OkStatus();
  }
  // A copy that no longer hashes to its name (altered or truncated on disk)
  // is replaced by the good bytes just received: re-uploading heals it.
  const bool new_dir = !exists && !env_->FileExists(dir);
  if (absl::Status s = env_->CreateDir(dir); !s.ok()) return s;
  if (new_dir) {
    if (absl::Status s = env_->SyncDir(root_); !s.ok()) return s;
  }
  if (absl::Status s = env_->RenameFile(temp_path, final_path); !s.ok()) return s;
  return env_->SyncDir(dir);
}

absl::StatusOr<std::string> BlobStore::HashFile(const std::string& path) const {
  constexpr int64_t kChunk = 1 << 20;
  Sha256Hasher hash;
  for (int64_t offset = 0;; offset += kChunk) {
    absl::StatusOr<std::string> bytes = env_->ReadRange(path, offset, kChunk);
    if (!bytes.ok()) return bytes.status();
    hash.Update(*bytes);
    if (static_cast<int64_t>(bytes->size()) < kChunk) break;
  }
  return hash.FinishHex();
}

absl::StatusOr<std::string> BlobStore::Put(std::string_view bytes) const {
  absl::StatusOr<std::unique_ptr<BlobWriter>> writer = NewWriter();
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->Append(bytes); !s.ok()) return s;
  return (*writer)->Commit();
}

bool BlobStore::Exists(std::string_view sha256) const {
  return IsSha256Hex(sha256) && env_->FileExists(PathFor(sha256));
}

absl::StatusOr<int64_t> BlobStore::Size(std::string_view sha256) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  absl::StatusOr<int64_t> size = env_->FileSize(PathFor(sha256));
  if (!size.ok()) return NoBlobIfNotFound(size.status(), sha256);
  return size;
}

absl::StatusOr<std::string> BlobStore::ReadRange(std::string_view sha256, int64_t offset,
                                                 int64_t max_len) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  // Checked here rather than left to the Env so the message, which a client
  // downloading with a bad offset sees, names the blob and not a server path.
  // Blobs never change size, so the check cannot go stale.
  absl::StatusOr<int64_t> size = Size(sha256);
  if (!size.ok()) return size.status();
  if (offset < 0 || offset > *size) {
    return absl::OutOfRangeError(
        absl::StrFormat("offset %d is outside the blob's %d bytes", offset, *size));
  }
  absl::StatusOr<std::string> bytes = env_->ReadRange(PathFor(sha256), offset, max_len);
  if (!bytes.ok()) return NoBlobIfNotFound(bytes.status(), sha256);
  return bytes;
}

absl::StatusOr<std::string> BlobStore::ReadAll(std::string_view sha256) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  absl::StatusOr<std::string> bytes = env_->ReadFile(PathFor(sha256));
  if (!bytes.ok()) return NoBlobIfNotFound(bytes.status(), sha256);
  return bytes;
}

absl::StatusOr<std::string> BlobStore::ReadVerified(std::string_view sha256) const {
  absl::StatusOr<std::string> bytes = ReadAll(sha256);
  if (!bytes.ok()) return bytes;
  if (absl::Status s = CheckBlobDigest(sha256, Sha256Hex(*bytes),
                                       static_cast<int64_t>(bytes->size()));
      !s.ok()) {
    return s;
  }
  return bytes;
}

absl::Status BlobStore::Remove(std::string_view sha256) const {
  if (absl::Status s = CheckName(sha256); !s.ok()) return s;
  if (absl::Status s = env_->RemoveFile(PathFor(sha256)); !s.ok()) {
    return NoBlobIfNotFound(s, sha256);
  }
  return env_->SyncDir(absl::StrCat(root_, "/", std::string(sha256.substr(0, 2))));
}

}  // namespace trainyard::server
