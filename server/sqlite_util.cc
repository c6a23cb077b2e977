#include "server/sqlite_util.h"

#include "absl/strings/str_cat.h"

namespace trainyard::server::sqlite {

absl::Status Error(sqlite3* db, int rc, std::string_view what) {
  std::string msg = absl::StrCat(std::string(what), ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  const std::string path = file != nullptr && *file != '\0' ? file : "the database";
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return absl::AlreadyExistsError(msg);
    // The operator's to fix, and said in words naming the file (issue 9).
    case SQLITE_FULL: return absl::ResourceExhaustedError(absl::StrCat("disk full at ", path, ": ", msg));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return absl::FailedPreconditionError(
          absl::StrCat("database ", path, " is not writable: ", msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return absl::UnavailableError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return absl::DataLossError(msg);
    default: return absl::InternalError(msg);
  }
}

absl::Status Exec(sqlite3* db, std::string_view sql) {
  std::string copy(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db, copy.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string detail = err ? err : "";
  sqlite3_free(err);
  return Error(db, rc, absl::StrCat("sqlite exec failed (", detail, ")"));
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

absl::Status Statement::Prepare(sqlite3* db, std::string_view sql) {
  db_ = db;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) return Error(db, rc, absl::StrCat("cannot prepare ", std::string(sql)));
  return absl::OkStatus();
}

Query::Query(const Statement& statement) : stmt_(statement.get()) {}

Query::~Query() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

namespace {
void Keep(int& sticky, int rc) {
  if (sticky == SQLITE_OK) sticky = rc;
}
}  // namespace

Query& Query::Bind(int index, int64_t value) {
  Keep(bind_rc_, sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Query& Query::BindText(int index, std::string_view value) {
  Keep(bind_rc_, sqlite3_bind_text(stmt_, index, value.data(),
                                   static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

Query& Query::BindBlob(int index, std::string_view value) {
  // A zero-length blob must not bind as NULL (data() may be null).
  Keep(bind_rc_, value.empty()
                     ? sqlite3_bind_zeroblob(stmt_, index, 0)
                     : sqlite3_bind_blob(stmt_, index, value.data(),
                                         static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

Query& Query::BindTextOrNull(int index, std::string_view value) {
  if (value.empty()) {
    Keep(bind_rc_, sqlite3_bind_null(stmt_, index));
    return *this;
  }
  return BindText(index, value);
}

absl::StatusOr<bool> Query::Step() {
  sqlite3* db = sqlite3_db_handle(stmt_);
  if (bind_rc_ != SQLITE_OK) return Error(db, bind_rc_, "cannot bind");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db, rc, absl::StrCat("cannot run ", sqlite3_sql(stmt_)));
}

absl::Status Query::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

int64_t Query::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Query::Text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
           : std::string();
}

std::string_view Query::Blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  return p ? std::string_view(static_cast<const char*>(p),
                              static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
           : std::string_view();
}

int Query::changes() const { return sqlite3_changes(sqlite3_db_handle(stmt_)); }

}  // namespace trainyard::server::sqlite
