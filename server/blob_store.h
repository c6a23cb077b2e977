// Content-addressed files: <root>/<aa>/<sha256hex>, where aa is the first two
// hex characters (so no directory grows past ~1/256 of the blobs). Holds the
// uploaded dataset bytes and checkpoint files. A blob appears under its name
// only complete and durable: it is written to <root>/tmp/, fsynced, renamed,
// and the directory fsynced. Identical bytes are stored once (a stored copy
// that no longer hashes to its name is replaced by a new upload of them).
//
// Only 64-character lower-case hex names are accepted (IsSha256Hex), so
// nothing a client sends can become a path. Thread-safe: the only shared state
// is the file system, and every visible change is one rename or unlink.
#ifndef TRAINYARD_SERVER_BLOB_STORE_H_
#define TRAINYARD_SERVER_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/sha256.h"

namespace trainyard::server {

class BlobStore;

// IsSha256Hex (core/sha256.h) names the only strings the blob store accepts.
using ::trainyard::IsSha256Hex;

// True for the error a BlobWriter returns when the data passes its
// max_bytes: RESOURCE_EXHAUSTED "data exceeds the limit of N bytes", marked
// with a status payload. A full disk is RESOURCE_EXHAUSTED too ("No space
// left on device", from the errno mapping) but without the mark, so callers
// can tell "your upload is too large" from "the server's disk is full".
bool IsSizeLimitError(const absl::Status& status);

// OK when `actual_hex`, the sha256 of a blob's `size` bytes as read, is its
// name; otherwise DATA_LOSS "blob <sha256> is corrupt: its <size> bytes hash
// to <actual>" (altered or truncated on disk after it was stored).
absl::Status CheckBlobDigest(std::string_view sha256, std::string_view actual_hex,
                             int64_t size);

// Streams one blob to a temp file while hashing it; Commit() names it by its
// hash. For uploads too big to hold in memory. Destroying an uncommitted
// writer deletes the temp file (a cancelled upload leaves nothing behind).
// Not thread-safe (one writer per upload stream).
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // RESOURCE_EXHAUSTED once the total would pass max_bytes (IsSizeLimitError)
  // or the disk is full (the temp file is then discarded and every later
  // call fails).
  absl::Status Append(std::string_view bytes);
  int64_t size() const { return size_; }

  // Makes the blob durable under its sha256 and returns the hex. When
  // `expected_sha256` is non-empty and differs: INVALID_ARGUMENT (nothing
  // stored). If the blob already exists the temp file is dropped (dedup).
  // Call at most once.
  absl::StatusOr<std::string> Commit(std::string_view expected_sha256 = {});

 private:
  friend class BlobStore;

  BlobWriter(const BlobStore* store, std::string temp_path,
             std::unique_ptr<WritableFile> file, int64_t max_bytes);
  void Discard();

  const BlobStore* store_;
  std::string temp_path_;              // empty once committed or discarded
  std::unique_ptr<WritableFile> file_;  // null once closed
  int64_t max_bytes_;
  int64_t size_ = 0;
  Sha256Hasher hash_;
  absl::Status failed_;  // sticky error
};

class BlobStore {
 public:
  // Creates `root` and root/tmp if needed and deletes temp files left by a
  // crash. `root` is server-chosen (e.g. <data-dir>/blobs), never client input.
  // Every file-system access goes through `env`, which must outlive the store.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(const std::string& root,
                                                         Env* env = Env::Default());

  // Stores `bytes` and returns their sha256 hex.
  absl::StatusOr<std::string> Put(std::string_view bytes) const;

  // A writer for a blob of at most `max_bytes` (<= 0: no limit).
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter(int64_t max_bytes = 0) const;

  // False also for malformed names.
  bool Exists(std::string_view sha256) const;
  // Bytes in the blob. NOT_FOUND if absent, INVALID_ARGUMENT if not a sha name.
  absl::StatusOr<int64_t> Size(std::string_view sha256) const;
  // Up to `max_len` bytes from `offset`; fewer (possibly none) at the end.
  // OUT_OF_RANGE when offset > size or negative.
  absl::StatusOr<std::string> ReadRange(std::string_view sha256, int64_t offset,
                                        int64_t max_len) const;
  absl::StatusOr<std::string> ReadAll(std::string_view sha256) const;
  // ReadAll, checked against the name: DATA_LOSS (CheckBlobDigest) when the
  // bytes on disk no longer hash to it. For anything parsed or served.
  absl::StatusOr<std::string> ReadVerified(std::string_view sha256) const;
  // NOT_FOUND if absent. Callers must make sure no metadata still refers to
  // it (the store does not count references).
  absl::Status Remove(std::string_view sha256) const;

  const std::string& root() const { return root_; }
  // Temp files Open removed (left by a crash mid-upload or mid-save), for
  // the start-up log.
  int temp_files_removed() const { return temp_files_removed_; }

 private:
  friend class BlobWriter;
  BlobStore(std::string root, Env* env) : root_(std::move(root)), env_(env) {}
  // REQUIRES: IsSha256Hex(sha256).
  std::string PathFor(std::string_view sha256) const;
  // The sha256 hex of the file at `path`, read in chunks.
  absl::StatusOr<std::string> HashFile(const std::string& path) const;
  // Renames a complete, fsynced temp file into place under `sha256`, unless
  // a copy that still hashes to `sha256` is there already.
  absl::Status Install(const std::string& temp_path, std::string_view sha256) const;

  const std::string root_;
  Env* const env_;
  int temp_files_removed_ = 0;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_BLOB_STORE_H_
