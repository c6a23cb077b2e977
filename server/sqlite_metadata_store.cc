// SqliteMetadataStore: the schema and its migrations, opening, datasets
// (jobs, events and checkpoints are in sqlite_metadata_store_jobs.cc).
#include "server/sqlite_metadata_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/sqlite_metadata_store_internal.h"
#include "server/sqlite_vfs.h"

namespace trainyard::server {
namespace {

using store_internal::CountRow;
using store_internal::InTransaction;
using store_internal::Micros;
using store_internal::PageKey;
using store_internal::ParsePageToken;
using store_internal::ParseRow;
using store_internal::Query;
using store_internal::Statement;

// kMigrations[i] takes the schema from version i to i + 1. Append only; never
// edit a shipped entry.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
    CREATE TABLE datasets (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      created_us INTEGER NOT NULL,
      proto BLOB NOT NULL);
    CREATE INDEX datasets_by_sha256 ON datasets(sha256);
    CREATE INDEX datasets_by_created ON datasets(created_us, id);
    CREATE INDEX datasets_by_name ON datasets(name, created_us, id);

    CREATE TABLE jobs (
      id TEXT PRIMARY KEY,
      request_id TEXT,
      state INTEGER NOT NULL,
      priority INTEGER NOT NULL,
      created_us INTEGER NOT NULL,
      dataset_id TEXT,
      validation_dataset_id TEXT,
      proto BLOB NOT NULL);
    CREATE UNIQUE INDEX jobs_by_request_id ON jobs(request_id)
      WHERE request_id IS NOT NULL;
    CREATE INDEX jobs_by_created ON jobs(created_us, id);
    CREATE INDEX jobs_by_state ON jobs(state, created_us);
    CREATE INDEX jobs_by_dataset ON jobs(dataset_id);
    CREATE INDEX jobs_by_validation_dataset ON jobs(validation_dataset_id);

    CREATE TABLE events (
      job_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      proto BLOB NOT NULL,
      PRIMARY KEY (job_id, seq)) WITHOUT ROWID;

    CREATE TABLE checkpoints (
      id TEXT PRIMARY KEY,
      job_id TEXT NOT NULL,
      step INTEGER NOT NULL,
      epoch INTEGER NOT NULL,
      size_bytes INTEGER NOT NULL,
      created_us INTEGER NOT NULL,
      proto BLOB NOT NULL);
    CREATE INDEX checkpoints_by_job ON checkpoints(job_id, step, created_us);
    )sql",
    // 1 -> 2: the checkpoints a job names, as columns, so that deleting or
    // pruning a checkpoint can check "does any job still need it" in the
    // same transaction with an index. Filled from the job protos by
    // BackfillCheckpointRefs in the same transaction.
    R"sql(
    ALTER TABLE jobs ADD COLUMN latest_checkpoint_id TEXT;
    ALTER TABLE jobs ADD COLUMN init_from_checkpoint_id TEXT;
    ALTER TABLE jobs ADD COLUMN resume_from_checkpoint_id TEXT;
    CREATE INDEX jobs_by_latest_checkpoint ON jobs(latest_checkpoint_id);
    CREATE INDEX jobs_by_init_from ON jobs(init_from_checkpoint_id);
    CREATE INDEX jobs_by_resume_from ON jobs(resume_from_checkpoint_id);
    )sql",
};
constexpr int kNumMigrations = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kNumMigrations == kSqliteSchemaVersion);

// Migration 2's data step: the new columns from each stored job's proto.
absl::Status BackfillCheckpointRefs(sqlite3* db) {
  Statement select, update;
  if (absl::Status s = select.Prepare(db, "SELECT id, proto FROM jobs"); !s.ok()) return s;
  if (absl::Status s = update.Prepare(
          db, "UPDATE jobs SET latest_checkpoint_id = ?2, init_from_checkpoint_id = ?3, "
              "resume_from_checkpoint_id = ?4 WHERE id = ?1");
      !s.ok()) {
    return s;
  }
  Query rows(select);
  while (true) {
    absl::StatusOr<bool> row = rows.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    absl::StatusOr<v1::Job> job = ParseRow<v1::Job>(rows.Blob(1), "job");
    if (!job.ok()) return job.status();
    absl::Status s = Query(update)
                         .BindText(1, rows.Text(0))
                         .BindTextOrNull(2, job->latest_checkpoint_id())
                         .BindTextOrNull(3, job->init_from_checkpoint_id())
                         .BindTextOrNull(4, job->resume_from_checkpoint_id())
                         .Run();
    if (!s.ok()) return s;
  }
}

}  // namespace

SqliteMetadataStore::SqliteMetadataStore(sqlite3* db, std::unique_ptr<Statements> statements)
    : db_(db), stmts_(std::move(statements)) {}

SqliteMetadataStore::~SqliteMetadataStore() {
  {
    absl::MutexLock lock(&mu_);
    // Statements must be finalized before the connection closes.
    stmts_.reset();
  }
  sqlite3_close(db_);
}

absl::Status SqliteMetadataStore::Initialize() {
  absl::MutexLock lock(&mu_);
  // Statements reference tables, so migrate before preparing them.
  if (absl::Status m = Migrate(); !m.ok()) return m;
  auto stmts = std::make_unique<Statements>();
  if (absl::Status p = stmts->PrepareAll(db_); !p.ok()) return p;
  stmts_ = std::move(stmts);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(
    const std::string& path, const MetadataStoreOptions& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  absl::StatusOr<std::string> vfs = sqlite::VfsFor(env);
  if (!vfs.ok()) return vfs.status();
  // SQLite would create the database 0644 & ~umask, and it gives the -wal
  // and -shm files the database file's mode; an empty file made first (an
  // empty file is an empty database) makes all three private.
  if (!env->FileExists(path)) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        env->NewExclusiveFile(path, kPrivateFileMode);
    if (file.ok()) {
      if (absl::Status s = (*file)->Close(); !s.ok()) return s;
    } else if (!absl::IsAlreadyExists(file.status())) {  // lost a race: fine
      return file.status();
    }
  }
  sqlite3* db = nullptr;
  // NOMUTEX: the store's own mutex serialises use of the connection.
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           vfs->c_str());
  if (rc != SQLITE_OK) {
    absl::Status s = sqlite::Error(db, rc, absl::StrCat("cannot open database ", path));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  absl::Status s = sqlite::Exec(
      db, absl::StrCat("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=",
                       options.synchronous_full ? "FULL" : "NORMAL", ";"));
  if (!s.ok()) {
    sqlite3_close(db);
    return s;
  }
  // From here the store owns the connection and closes it on every path.
  auto store = std::make_unique<SqliteMetadataStore>(db, nullptr);
  if (absl::Status init = store->Initialize(); !init.ok()) return init;
  return store;
}

absl::Status SqliteMetadataStore::Migrate() {
  Statement version_stmt;
  if (absl::Status s = version_stmt.Prepare(db_, "PRAGMA user_version"); !s.ok()) return s;
  int64_t version = 0;
  {
    Query q(version_stmt);
    absl::StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    version = *row ? q.Int(0) : 0;
  }
  if (version > kSqliteSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", version, " is newer than this server's ",
        kSqliteSchemaVersion,
        "; upgrade the server"));
  }
  for (int64_t v = version; v < kSqliteSchemaVersion; ++v) {
    // Each step, its data step and its version bump commit together.
    absl::Status s = sqlite::Exec(db_, absl::StrCat("BEGIN IMMEDIATE;", kMigrations[v]));
    if (s.ok() && v + 1 == 2) s = BackfillCheckpointRefs(db_);
    if (s.ok()) {
      s = sqlite::Exec(db_, absl::StrCat("PRAGMA user_version = ", v + 1, "; COMMIT;"));
    }
    if (!s.ok()) {
      sqlite::Exec(db_, "ROLLBACK").IgnoreError();
      return absl::Status(s.code(), absl::StrCat("schema migration to version ", v + 1,
                                                 " failed: ", s.message()));
    }
  }
  return absl::OkStatus();
}

// -------------------------------------------------------------- datasets

absl::Status SqliteMetadataStore::InsertDataset(const v1::Dataset& d) {
  absl::MutexLock lock(&mu_);
  absl::Status s = Query(stmts_->insert_dataset)
                       .BindText(1, d.id())
                       .BindText(2, d.name())
                       .BindText(3, d.sha256())
                       .Bind(4, Micros(d.created_at()))
                       .BindBlob(5, d.SerializeAsString())
                       .Run();
  if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("dataset " + d.id() + " exists");
  return s;
}

absl::StatusOr<v1::Dataset> SqliteMetadataStore::GetDataset(std::string_view id) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->get_dataset);
  q.BindText(1, id);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no dataset ", std::string(id)));
  return ParseRow<v1::Dataset>(q.Blob(0), "dataset");
}

absl::StatusOr<DatasetPage> SqliteMetadataStore::ListDatasets(std::string_view name, int page_size,
                                                       std::string_view page_token) {
  absl::StatusOr<PageKey> key = ParsePageToken("d", page_token);
  if (!key.ok()) return key.status();
  const int limit = store_internal::ClampPageSize(page_size);
  absl::MutexLock lock(&mu_);
  Query q(stmts_->list_datasets);
  q.BindText(1, name).Bind(2, key->present).Bind(3, key->created_us).BindText(4, key->id)
      .Bind(5, limit + 1);
  DatasetPage page;
  if (absl::Status s = store_internal::CollectPage(q, limit, "d", "dataset", &page.datasets,
                                                    &page.next_page_token);
      !s.ok()) {
    return s;
  }
  return page;
}

absl::StatusOr<std::vector<v1::Dataset>> SqliteMetadataStore::FindDatasetsBySha256(
    std::string_view sha256) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->datasets_by_sha);
  q.BindText(1, sha256);
  std::vector<v1::Dataset> out;
  if (absl::Status st = store_internal::CollectRows(q, "dataset", &out); !st.ok()) return st;
  return out;
}

absl::StatusOr<DeletedDataset> SqliteMetadataStore::DeleteDataset(std::string_view id) {
  absl::MutexLock lock(&mu_);
  DeletedDataset result;
  absl::Status s = InTransaction(stmts_->begin, stmts_->commit, stmts_->rollback, [&]() {
    std::string sha;
    {
      Query q(stmts_->get_dataset);
      q.BindText(1, id);
      absl::StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no dataset ", std::string(id)));
      absl::StatusOr<v1::Dataset> d = ParseRow<v1::Dataset>(q.Blob(0), "dataset");
      if (!d.ok()) return d.status();
      result.sha256 = d->sha256();
    }
    {
      Query q(stmts_->active_job_using_dataset);
      q.BindText(1, id).Bind(2, v1::QUEUED).Bind(3, v1::RUNNING).Bind(4, v1::PAUSED);
      absl::StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (*row) {
        return absl::FailedPreconditionError(absl::StrCat(
            "dataset ", std::string(id), " is in use by job ", q.Text(0), " (",
            v1::JobState_Name(static_cast<v1::JobState>(q.Int(1))),
            "); cancel it or wait for it to finish"));
      }
    }
    if (absl::Status d = Query(stmts_->delete_dataset).BindText(1, id).Run(); !d.ok()) return d;
    absl::StatusOr<int64_t> refs = CountRow(stmts_->count_sha_in_datasets, result.sha256);
    if (!refs.ok()) return refs.status();
    result.blob_still_referenced = *refs > 0;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace trainyard::server
