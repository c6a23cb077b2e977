// The server's durable metadata: datasets, jobs, the per-job event logs and
// checkpoint metadata. An interface, so the backend does not depend on where
// it lives: the SQLite implementation is server/sqlite_metadata_store.h (one
// file, one process); a PostgreSQL one for several replicas can sit behind
// the same contracts. tests/server_store_test.cc checks every implementation
// against them.
//
// Contracts every implementation keeps:
// - Thread-safe, and every method is atomic with respect to the others (e.g.
//   DeleteDataset's "in use" check and the delete, InsertJob's "dataset
//   exists" check and the insert).
// - Durable before it returns OK (with MetadataStoreOptions::synchronous_full).
// - Codes: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION and
//   INVALID_ARGUMENT as documented per method; RESOURCE_EXHAUSTED ("disk
//   full at <path>") when the storage is full; FAILED_PRECONDITION naming the
//   file when it cannot be written at all (read-only); INTERNAL for other
//   storage failures; DATA_LOSS when a stored row does not parse. A failed
//   write changes nothing.
#ifndef TRAINYARD_SERVER_METADATA_STORE_H_
#define TRAINYARD_SERVER_METADATA_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/env.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

struct MetadataStoreOptions {
  // PRAGMA synchronous=FULL: every commit fsyncs the WAL, so anything a client
  // was told (an id, an event seq) survives a power loss. NORMAL would only
  // survive a process crash; event appends are batched, so FULL costs a few
  // fsyncs per second per job. Tests may turn it off for speed.
  bool synchronous_full = true;
  // The file system the store's files are written through (SQLite's via
  // server/sqlite_vfs.h). Must outlive the store. Tests pass a FaultEnv.
  Env* env = Env::Default();
};

// Pages are newest first (creation time, then id, descending). Page tokens
// are opaque to clients; a malformed one is INVALID_ARGUMENT.
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

struct DatasetPage {
  std::vector<v1::Dataset> datasets;
  std::string next_page_token;  // empty: last page
};

struct JobQuery {
  std::vector<v1::JobState> states;  // empty: all
  int page_size = 0;                 // 0: kDefaultPageSize; capped at kMaxPageSize
  std::string page_token;
};

struct JobPage {
  std::vector<v1::Job> jobs;
  std::string next_page_token;
};

struct DeletedDataset {
  std::string sha256;
  // True when another dataset still uses the same bytes: keep the blob.
  bool blob_still_referenced = false;
};

// Several writes that commit as one transaction: after a crash either all of
// them are in the store or none is. What makes one state transition the API
// shows (a job row and its first event; a state change and its event; a
// checkpoint row, the job's pointer to it and its CheckpointSaved event).
// Applied in the order of the fields; each keeps the contract of the
// single-row method named beside it, and any error rolls all of it back.
struct StoreWrite {
  std::vector<v1::Job> insert_jobs;  // InsertJob
  // InsertCheckpoint, except that a row already recorded under the same id
  // is kept (identical bytes saved twice share one row).
  std::vector<v1::CheckpointInfo> checkpoints;
  std::vector<v1::Job> update_jobs;  // UpdateJob
  std::vector<v1::JobEvent> events;  // AppendEvents, each under its own job_id
  // Checkpoint rows to delete last (retention), each unless a job (any job,
  // in any state, after the writes above) names it as latest, init_from or
  // resume_from; absent ids are skipped. Their blob files are the caller's
  // to remove after the commit, once IsBlobReferenced says no row needs them.
  std::vector<std::string> prune_checkpoints;

  bool empty() const {
    return insert_jobs.empty() && checkpoints.empty() && update_jobs.empty() &&
           events.empty() && prune_checkpoints.empty();
  }
};

class MetadataStore {
 public:
  // The SQLite store at `path` (server-chosen, e.g. <data-dir>/trainyard.db),
  // created and migrated as needed: OpenSqliteMetadataStore
  // (server/sqlite_metadata_store.h), kept here so callers need not choose.
  static absl::StatusOr<std::unique_ptr<MetadataStore>> Open(
      const std::string& path, const MetadataStoreOptions& options = {});
  virtual ~MetadataStore() = default;

  // ------------------------------------------------------------ datasets
  // ALREADY_EXISTS if the id is taken.
  virtual absl::Status InsertDataset(const v1::Dataset& dataset) = 0;
  virtual absl::StatusOr<v1::Dataset> GetDataset(std::string_view id) = 0;  // NOT_FOUND
  // `name` non-empty: only datasets with exactly that name.
  virtual absl::StatusOr<DatasetPage> ListDatasets(std::string_view name, int page_size,
                                                   std::string_view page_token) = 0;
  // Every dataset with these bytes, oldest first.
  virtual absl::StatusOr<std::vector<v1::Dataset>> FindDatasetsBySha256(
      std::string_view sha256) = 0;
  // NOT_FOUND if absent; FAILED_PRECONDITION naming the job while a QUEUED,
  // RUNNING or PAUSED job uses it (as training or validation data).
  virtual absl::StatusOr<DeletedDataset> DeleteDataset(std::string_view id) = 0;

  // ---------------------------------------------------------------- jobs
  // ALREADY_EXISTS if the id or the (non-empty) request_id is taken;
  // NOT_FOUND naming the field if dataset_id, validation_dataset_id,
  // init_from_checkpoint_id or resume_from_checkpoint_id does not exist
  // (checked atomically with the insert, so a checkpoint deleted meanwhile
  // cannot leave the job naming nothing).
  virtual absl::Status InsertJob(const v1::Job& job) = 0;
  // Replaces the stored job with the same id. NOT_FOUND if absent.
  virtual absl::Status UpdateJob(const v1::Job& job) = 0;
  virtual absl::StatusOr<v1::Job> GetJob(std::string_view id) = 0;  // NOT_FOUND
  // nullopt when no job has this request_id.
  virtual absl::StatusOr<std::optional<v1::Job>> FindJobByRequestId(
      std::string_view request_id) = 0;
  virtual absl::StatusOr<JobPage> ListJobs(const JobQuery& query) = 0;
  // Every job in `states`, oldest first, unpaged: for queue recovery at start-up.
  virtual absl::StatusOr<std::vector<v1::Job>> JobsInStates(
      absl::Span<const v1::JobState> states) = 0;

  // -------------------------------------------------------------- events
  // Appends in one transaction (all or nothing). Each event's job_id must be
  // `job_id` (else INVALID_ARGUMENT) and seqs must be new for the job, else
  // ALREADY_EXISTS.
  virtual absl::Status AppendEvents(std::string_view job_id,
                                    absl::Span<const v1::JobEvent> events) = 0;
  // Events with seq > after_seq, ascending, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(std::string_view job_id,
                                                               int64_t after_seq,
                                                               int limit) = 0;
  // Largest stored seq of the job; 0 when it has none.
  virtual absl::StatusOr<int64_t> MaxEventSeq(std::string_view job_id) = 0;

  // --------------------------------------------------------- checkpoints
  // ALREADY_EXISTS if the id (its sha256) is already recorded.
  virtual absl::Status InsertCheckpoint(const v1::CheckpointInfo& info) = 0;
  virtual absl::StatusOr<v1::CheckpointInfo> GetCheckpoint(std::string_view id) = 0;  // NOT_FOUND
  // The job's checkpoints by ascending step; job_id "" lists uploaded ones.
  virtual absl::StatusOr<std::vector<v1::CheckpointInfo>> ListCheckpoints(
      std::string_view job_id) = 0;
  // NOT_FOUND if absent; FAILED_PRECONDITION naming the job while a QUEUED,
  // RUNNING or PAUSED job names it (as latest, init_from or resume_from). A
  // terminal job whose latest it was points at its newest remaining
  // checkpoint instead (or none), in the same transaction.
  virtual absl::Status DeleteCheckpoint(std::string_view id) = 0;

  // Deletes a terminal job's row, its events and its checkpoint rows that no
  // other job names, in one transaction; returns the ids of the checkpoint
  // rows deleted (their blobs are the caller's to remove, as for
  // prune_checkpoints). NOT_FOUND if absent; FAILED_PRECONDITION naming the
  // state if the job is not SUCCEEDED, FAILED or CANCELLED.
  virtual absl::StatusOr<std::vector<std::string>> DeleteJob(std::string_view id) = 0;

  // ------------------------------------------------------- transactions
  // Everything in `write` in one transaction (see StoreWrite); an empty
  // write is OK and does nothing.
  virtual absl::Status Commit(const StoreWrite& write) = 0;

  // True while a dataset or checkpoint row names this blob (for deleting or
  // garbage-collecting blob files).
  virtual absl::StatusOr<bool> IsBlobReferenced(std::string_view sha256) = 0;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_METADATA_STORE_H_
