// Internals shared by the sqlite_metadata_store*.cc files: the class, its
// prepared statements, page tokens, row parsing. Not part of the store's API
// (that is server/metadata_store.h; opening is server/sqlite_metadata_store.h).
#ifndef TRAINYARD_SERVER_METADATA_STORE_INTERNAL_H_
#define TRAINYARD_SERVER_METADATA_STORE_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/metadata_store.h"
#include "server/sqlite_util.h"

namespace trainyard::server {
namespace store_internal {

using sqlite::Query;
using sqlite::Statement;

int64_t Micros(const google::protobuf::Timestamp& t);
int ClampPageSize(int page_size);

// Keyset pagination: the token names the last row returned, so pages stay
// consistent while rows are added. Format (inside web-safe base64):
// "<kind>:<created_us>:<id>".
std::string MakePageToken(std::string_view kind, int64_t created_us, std::string_view id);

struct PageKey {
  bool present = false;
  int64_t created_us = 0;
  std::string id;
};
absl::StatusOr<PageKey> ParsePageToken(std::string_view kind, std::string_view token);

template <typename Proto>
absl::StatusOr<Proto> ParseRow(std::string_view blob, std::string_view what) {
  Proto proto;
  if (!proto.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return absl::DataLossError(absl::StrCat("stored ", std::string(what), " does not parse"));
  }
  return proto;
}

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on error.
template <typename Body>
absl::Status InTransaction(Statement& begin, Statement& commit, Statement& rollback,
                           Body&& body) {
  if (absl::Status s = Query(begin).Run(); !s.ok()) return s;
  absl::Status s = body();
  if (s.ok()) s = Query(commit).Run();
  if (!s.ok()) Query(rollback).Run().IgnoreError();
  return s;
}

// Runs a one-text-argument SELECT COUNT(*) and returns the count.
absl::StatusOr<int64_t> CountRow(const Statement& stmt, std::string_view arg);

// Reads every row's proto column 0 into `out`.
template <typename Proto>
absl::Status CollectRows(Query& q, std::string_view what, std::vector<Proto>* out) {
  while (true) {
    absl::StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    absl::StatusOr<Proto> p = ParseRow<Proto>(q.Blob(0), what);
    if (!p.ok()) return p.status();
    out->push_back(*std::move(p));
  }
}

// Reads one keyset page: rows are (proto, created_us, id), the query asked
// for limit + 1 rows, and the extra row only says that another page exists,
// whose token names the last row kept.
template <typename Proto>
absl::Status CollectPage(Query& q, int limit, std::string_view token_kind,
                         std::string_view what, std::vector<Proto>* out,
                         std::string* next_page_token) {
  int64_t last_created = 0;
  std::string last_id;
  while (true) {
    absl::StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    if (static_cast<int>(out->size()) == limit) {
      *next_page_token = MakePageToken(token_kind, last_created, last_id);
      return absl::OkStatus();
    }
    absl::StatusOr<Proto> p = ParseRow<Proto>(q.Blob(0), what);
    if (!p.ok()) return p.status();
    out->push_back(*std::move(p));
    last_created = q.Int(1);
    last_id = q.Text(2);
  }
}

}  // namespace store_internal

// The SQLite MetadataStore (see server/sqlite_metadata_store.h).
class SqliteMetadataStore final : public MetadataStore {
 public:
  struct Statements;
  SqliteMetadataStore(sqlite3* db, std::unique_ptr<Statements> statements);
  ~SqliteMetadataStore() override;

  // Creates or upgrades the schema to kSqliteSchemaVersion and prepares the
  // statements. Called once, by OpenSqliteMetadataStore.
  absl::Status Initialize();

  absl::Status InsertDataset(const v1::Dataset& dataset) override;
  absl::StatusOr<v1::Dataset> GetDataset(std::string_view id) override;
  absl::StatusOr<DatasetPage> ListDatasets(std::string_view name, int page_size,
                                           std::string_view page_token) override;
  absl::StatusOr<std::vector<v1::Dataset>> FindDatasetsBySha256(
      std::string_view sha256) override;
  absl::StatusOr<DeletedDataset> DeleteDataset(std::string_view id) override;

  absl::Status InsertJob(const v1::Job& job) override;
  absl::Status UpdateJob(const v1::Job& job) override;
  absl::StatusOr<v1::Job> GetJob(std::string_view id) override;
  absl::StatusOr<std::optional<v1::Job>> FindJobByRequestId(
      std::string_view request_id) override;
  absl::StatusOr<JobPage> ListJobs(const JobQuery& query) override;
  absl::StatusOr<std::vector<v1::Job>> JobsInStates(
      absl::Span<const v1::JobState> states) override;

  absl::Status AppendEvents(std::string_view job_id,
                            absl::Span<const v1::JobEvent> events) override;
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(std::string_view job_id,
                                                       int64_t after_seq, int limit) override;
  absl::StatusOr<int64_t> MaxEventSeq(std::string_view job_id) override;

  absl::Status InsertCheckpoint(const v1::CheckpointInfo& info) override;
  absl::StatusOr<v1::CheckpointInfo> GetCheckpoint(std::string_view id) override;
  absl::StatusOr<std::vector<v1::CheckpointInfo>> ListCheckpoints(
      std::string_view job_id) override;
  absl::Status DeleteCheckpoint(std::string_view id) override;
  absl::StatusOr<std::vector<std::string>> DeleteJob(std::string_view id) override;

  absl::Status Commit(const StoreWrite& write) override;

  absl::StatusOr<bool> IsBlobReferenced(std::string_view sha256) override;

 private:
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The single-row writes without a transaction of their own, so that
  // Commit can run several inside one.
  absl::Status InsertJobLocked(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpdateJobLocked(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertEventsLocked(std::string_view job_id, absl::Span<const v1::JobEvent> events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // keep_existing: an existing row with the same id is not an error.
  absl::Status InsertCheckpointLocked(const v1::CheckpointInfo& info, bool keep_existing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Some job naming checkpoint `id` as latest, init_from or resume_from
  // (any state): nullopt when none.
  absl::StatusOr<std::optional<std::string>> JobNamingLocked(std::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes checkpoint row `id` unless a job names it; true when deleted.
  absl::StatusOr<bool> DeleteUnnamedCheckpointLocked(std::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_;  // the connection; used only with mu_ held
  std::unique_ptr<Statements> stmts_ ABSL_GUARDED_BY(mu_);
};

struct SqliteMetadataStore::Statements {
  using Statement = store_internal::Statement;
  Statement begin, commit, rollback;
  Statement insert_dataset, get_dataset, list_datasets, datasets_by_sha, delete_dataset,
      count_sha_in_datasets, active_job_using_dataset;
  Statement insert_job, update_job, get_job, job_by_request_id, list_jobs, jobs_in_states,
      dataset_exists;
  Statement insert_event, read_events, max_seq;
  Statement insert_checkpoint, get_checkpoint, list_checkpoints, delete_checkpoint,
      count_sha_in_checkpoints;
  Statement job_naming_checkpoint, active_job_naming_checkpoint, jobs_with_latest,
      newest_checkpoint_of_job, checkpoint_ids_of_job, delete_job, delete_events;

  absl::Status PrepareAll(sqlite3* db) {
    const std::pair<Statement*, const char*> all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&insert_dataset,
         "INSERT INTO datasets (id, name, sha256, created_us, proto) VALUES (?1, ?2, ?3, ?4, ?5)"},
        {&get_dataset, "SELECT proto FROM datasets WHERE id = ?1"},
        {&list_datasets,
         "SELECT proto, created_us, id FROM datasets WHERE (?1 = '' OR name = ?1) AND "
         "(?2 = 0 OR created_us < ?3 OR (created_us = ?3 AND id < ?4)) "
         "ORDER BY created_us DESC, id DESC LIMIT ?5"},
        {&datasets_by_sha,
         "SELECT proto FROM datasets WHERE sha256 = ?1 ORDER BY created_us, id"},
        {&delete_dataset, "DELETE FROM datasets WHERE id = ?1"},
        {&count_sha_in_datasets, "SELECT COUNT(*) FROM datasets WHERE sha256 = ?1"},
        {&active_job_using_dataset,
         "SELECT id, state FROM jobs WHERE (dataset_id = ?1 OR validation_dataset_id = ?1) "
         "AND state IN (?2, ?3, ?4) ORDER BY created_us LIMIT 1"},
        {&insert_job,
         "INSERT INTO jobs (id, request_id, state, priority, created_us, dataset_id, "
         "validation_dataset_id, proto, latest_checkpoint_id, init_from_checkpoint_id, "
         "resume_from_checkpoint_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
        {&update_job,
         "UPDATE jobs SET request_id = ?2, state = ?3, priority = ?4, created_us = ?5, "
         "dataset_id = ?6, validation_dataset_id = ?7, proto = ?8, latest_checkpoint_id = ?9, "
         "init_from_checkpoint_id = ?10, resume_from_checkpoint_id = ?11 WHERE id = ?1"},
        {&get_job, "SELECT proto FROM jobs WHERE id = ?1"},
        {&job_by_request_id, "SELECT proto FROM jobs WHERE request_id = ?1"},
        // ?1 is a bit mask of wanted states (bit s set: state s wanted; 0: all).
        {&list_jobs,
         "SELECT proto, created_us, id FROM jobs WHERE (?1 = 0 OR ((1 << state) & ?1) != 0) "
         "AND (?2 = 0 OR created_us < ?3 OR (created_us = ?3 AND id < ?4)) "
         "ORDER BY created_us DESC, id DESC LIMIT ?5"},
        {&jobs_in_states,
         "SELECT proto FROM jobs WHERE ((1 << state) & ?1) != 0 ORDER BY created_us, id"},
        {&dataset_exists, "SELECT COUNT(*) FROM datasets WHERE id = ?1"},
        {&insert_event, "INSERT INTO events (job_id, seq, proto) VALUES (?1, ?2, ?3)"},
        {&read_events,
         "SELECT proto FROM events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"},
        {&max_seq, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?1"},
        {&insert_checkpoint,
         "INSERT INTO checkpoints (id, job_id, step, epoch, size_bytes, created_us, proto) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&get_checkpoint, "SELECT proto FROM checkpoints WHERE id = ?1"},
        {&list_checkpoints,
         "SELECT proto FROM checkpoints WHERE job_id = ?1 ORDER BY step, created_us, id"},
        {&delete_checkpoint, "DELETE FROM checkpoints WHERE id = ?1"},
        {&count_sha_in_checkpoints, "SELECT COUNT(*) FROM checkpoints WHERE id = ?1"},
        {&job_naming_checkpoint,
         "SELECT id FROM jobs WHERE latest_checkpoint_id = ?1 OR init_from_checkpoint_id = ?1 "
         "OR resume_from_checkpoint_id = ?1 LIMIT 1"},
        // ?2..?4: the non-terminal states.
        {&active_job_naming_checkpoint,
         "SELECT id, state, CASE WHEN latest_checkpoint_id = ?1 THEN 'latest checkpoint' "
         "WHEN init_from_checkpoint_id = ?1 THEN 'init_from_checkpoint_id' "
         "ELSE 'resume_from_checkpoint_id' END FROM jobs "
         "WHERE (latest_checkpoint_id = ?1 OR init_from_checkpoint_id = ?1 "
         "OR resume_from_checkpoint_id = ?1) AND state IN (?2, ?3, ?4) "
         "ORDER BY created_us LIMIT 1"},
        {&jobs_with_latest, "SELECT proto FROM jobs WHERE latest_checkpoint_id = ?1"},
        {&newest_checkpoint_of_job,
         "SELECT id FROM checkpoints WHERE job_id = ?1 "
         "ORDER BY step DESC, created_us DESC, id DESC LIMIT 1"},
        {&checkpoint_ids_of_job,
         "SELECT id FROM checkpoints WHERE job_id = ?1 ORDER BY step, created_us, id"},
        {&delete_job, "DELETE FROM jobs WHERE id = ?1"},
        {&delete_events, "DELETE FROM events WHERE job_id = ?1"},
    };
    for (const auto& [stmt, sql] : all) {
      if (absl::Status s = stmt->Prepare(db, sql); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_METADATA_STORE_INTERNAL_H_
