// Checkpoints as the server records them: the one place a CheckpointInfo is
// made from a decoded checkpoint, the save path of a running job (encode,
// blob, row, the job's latest pointer, CheckpointSaved event), the import of
// an uploaded file, and loading a stored checkpoint by id.
//
// Locking: none of its own. Save holds the job's record lock
// (server/job_records.h) only for the one transaction that records the row,
// the job's pointer and the event (EventLog::AppendWith), so a state change
// of the job cannot land between them; and options.removal_mu (taken first,
// as the lock order in server/backend_internal.h says) from checking that
// its blob still exists to the commit, so no blob removal can take the file
// of a row being recorded. Thread-safe.
#ifndef TRAINYARD_SERVER_CHECKPOINT_RECORDER_H_
#define TRAINYARD_SERVER_CHECKPOINT_RECORDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/validate.h"
#include "server/blob_store.h"
#include "server/event_log.h"
#include "server/job_records.h"
#include "server/logger.h"
#include "server/metadata_store.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

struct CheckpointRecorderOptions {
  int64_t max_params = 0;            // ServerOptions::max_params
  int64_t max_checkpoint_bytes = 0;  // ServerOptions::max_checkpoint_bytes
  // created_at of new rows (injectable for tests).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Held by Import while it decides whether a refused upload's blob is
  // unreferenced and removes it; the backend passes the mutex its dataset
  // row writes hold (Backend::Impl::dataset_mu), so neither removes a blob
  // the other is recording. May be null (tests).
  absl::Mutex* blob_mu = nullptr;
  // Held by every blob removal between "no row names it" and the unlink,
  // and by Save from "its blob exists" to its commit
  // (Backend::Impl::blob_removal_mu). May be null (tests).
  absl::Mutex* removal_mu = nullptr;
  // Test hook: runs in Save after the blob is stored, before its row is
  // committed (a crash here must leave only an orphan blob).
  std::function<void(const std::string& sha256)> after_blob;
  // checkpoint_saved / checkpoint_imported lines and the failures they
  // tolerate; the time a save took by `timer`. Must outlive the recorder.
  const Logger* logger = Logger::Default();
  const Clock* timer = Clock::Steady();
};

class CheckpointRecorder {
 public:
  // Every pointer must outlive the recorder.
  CheckpointRecorder(MetadataStore* store, BlobStore* blobs, EventLog* events,
                     JobRecords* records, CheckpointRecorderOptions options)
      : store_(store), blobs_(blobs), events_(events), records_(records),
        options_(std::move(options)) {}

  // The row describing `checkpoint`, whose model analyses to `model`
  // (core's AnalyzeModel: the row's num_features and num_outputs), stored as
  // `size_bytes` bytes with hash `sha256`, for `job_id` ("" for an upload)
  // and `reason`.
  v1::CheckpointInfo MakeInfo(const v1::Checkpoint& checkpoint, const ModelShape& model,
                              const std::string& sha256, int64_t size_bytes,
                              std::string_view job_id, v1::CheckpointReason reason) const;

  // Stores a checkpoint of running job `job_id` (stamped with its dataset's
  // sha256), records it, points the job's latest_checkpoint_id at it and
  // logs CheckpointSaved (and checkpoint_saved on the operator log). With a
  // retention policy (TrainingConfig.retention) the rows it lets go are
  // deleted in the same transaction and their files after it.
  // Identical bytes saved before share the existing row. RESOURCE_EXHAUSTED past the format's 2 GiB limit; store errors.
  absl::StatusOr<v1::CheckpointInfo> Save(const std::string& job_id, v1::Checkpoint checkpoint,
                                          v1::CheckpointReason reason);

  // Validates the file stored as blob `sha256` and records it with reason
  // UPLOADED (no job). The same file again gives the existing row. When it
  // is refused, the blob is removed unless a row names it.
  absl::StatusOr<v1::CheckpointInfo> Import(const std::string& sha256);

  // Removes the blob of each of `shas` that no row names any more (after a
  // transaction that deleted their rows), each check and unlink under
  // options.removal_mu. Failures are logged (the start-up sweep removes what
  // stays) and not returned. Returns the files removed.
  // REQUIRES: options.removal_mu not held by the caller.
  int RemoveUnreferencedBlobs(absl::Span<const std::string> shas, std::string_view job_id);

  // The stored checkpoint `id`, decoded. `field` names the request field in
  // errors: INVALID_ARGUMENT for a malformed id, NOT_FOUND for an unknown one.
  absl::StatusOr<v1::Checkpoint> Load(std::string_view id, std::string_view field);

 private:
  absl::StatusOr<v1::CheckpointInfo> ImportLocked(const std::string& sha256);

  MetadataStore* const store_;
  BlobStore* const blobs_;
  EventLog* const events_;
  JobRecords* const records_;
  const CheckpointRecorderOptions options_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_CHECKPOINT_RECORDER_H_
