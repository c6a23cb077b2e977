// Durable metadata of the server in one SQLite database (WAL): datasets, jobs,
// the per-job event logs and checkpoint metadata. Each row holds the resource
// as a serialized proto plus the columns needed to find it (state, priority,
// creation time, request_id, ...), so adding a proto field needs no migration.
// The schema is versioned with PRAGMA user_version; Open() migrates forward
// and refuses a database written by a newer server.
//
// Thread-safe: one connection guarded by one mutex, so every method is atomic
// with respect to the others (e.g. DeleteDataset's "in use" check and the
// delete, InsertJob's "dataset exists" check and the insert).
#ifndef TRAINYARD_SERVER_METADATA_STORE_H_
#define TRAINYARD_SERVER_METADATA_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "trainyard/v1/service.pb.h"

// SQLite's connection type, declared here so users of the store do not
// include sqlite3.h.
typedef struct sqlite3 sqlite3;

namespace trainyard::server {

struct MetadataStoreOptions {
  // PRAGMA synchronous=FULL: every commit fsyncs the WAL, so anything a client
  // was told (an id, an event seq) survives a power loss. NORMAL would only
  // survive a process crash; event appends are batched, so FULL costs a few
  // fsyncs per second per job. Tests may turn it off for speed.
  bool synchronous_full = true;
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

class MetadataStore {
 public:
  // Opens or creates the database at `path` (server-chosen, e.g.
  // <data-dir>/trainyard.db) and migrates it to the current schema.
  static absl::StatusOr<std::unique_ptr<MetadataStore>> Open(
      const std::string& path, const MetadataStoreOptions& options = {});
  ~MetadataStore();

  static constexpr int kSchemaVersion = 1;

  // ------------------------------------------------------------ datasets
  // ALREADY_EXISTS if the id is taken.
  absl::Status InsertDataset(const v1::Dataset& dataset);
  absl::StatusOr<v1::Dataset> GetDataset(std::string_view id);  // NOT_FOUND
  // `name` non-empty: only datasets with exactly that name.
  absl::StatusOr<DatasetPage> ListDatasets(std::string_view name, int page_size,
                                           std::string_view page_token);
  absl::StatusOr<std::vector<v1::Dataset>> FindDatasetsBySha256(std::string_view sha256);
  // NOT_FOUND if absent; FAILED_PRECONDITION naming the job while a QUEUED,
  // RUNNING or PAUSED job uses it (as training or validation data).
  absl::StatusOr<DeletedDataset> DeleteDataset(std::string_view id);

  // ---------------------------------------------------------------- jobs
  // ALREADY_EXISTS if the id or the (non-empty) request_id is taken;
  // NOT_FOUND naming the field if dataset_id or validation_dataset_id does
  // not exist (checked atomically with the insert).
  absl::Status InsertJob(const v1::Job& job);
  // Replaces the stored job with the same id. NOT_FOUND if absent.
  absl::Status UpdateJob(const v1::Job& job);
  absl::StatusOr<v1::Job> GetJob(std::string_view id);  // NOT_FOUND
  // nullopt when no job has this request_id.
  absl::StatusOr<std::optional<v1::Job>> FindJobByRequestId(std::string_view request_id);
  absl::StatusOr<JobPage> ListJobs(const JobQuery& query);
  // Every job in `states`, oldest first, unpaged: for queue recovery at start-up.
  absl::StatusOr<std::vector<v1::Job>> JobsInStates(absl::Span<const v1::JobState> states);

  // -------------------------------------------------------------- events
  // Appends in one transaction (all or nothing). Each event's job_id must be
  // `job_id` and seqs must be new for the job, else ALREADY_EXISTS.
  absl::Status AppendEvents(std::string_view job_id, absl::Span<const v1::JobEvent> events);
  // Events with seq > after_seq, ascending, at most `limit`.
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(std::string_view job_id,
                                                       int64_t after_seq, int limit);
  // Largest stored seq of the job; 0 when it has none.
  absl::StatusOr<int64_t> MaxEventSeq(std::string_view job_id);

  // --------------------------------------------------------- checkpoints
  // ALREADY_EXISTS if the id (its sha256) is already recorded.
  absl::Status InsertCheckpoint(const v1::CheckpointInfo& info);
  absl::StatusOr<v1::CheckpointInfo> GetCheckpoint(std::string_view id);  // NOT_FOUND
  // The job's checkpoints by ascending step; job_id "" lists uploaded ones.
  absl::StatusOr<std::vector<v1::CheckpointInfo>> ListCheckpoints(std::string_view job_id);
  absl::Status DeleteCheckpoint(std::string_view id);  // NOT_FOUND

  // True while a dataset or checkpoint row names this blob (for deleting or
  // garbage-collecting blob files).
  absl::StatusOr<bool> IsBlobReferenced(std::string_view sha256);

 private:
  struct Statements;
  MetadataStore(sqlite3* db, std::unique_ptr<Statements> statements);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_;  // the connection; used only with mu_ held
  std::unique_ptr<Statements> stmts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_METADATA_STORE_H_
