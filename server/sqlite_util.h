// Thin RAII over the SQLite C API for the SQLite metadata store: one prepared
// statement with typed binds and columns, reset on scope exit so a cached
// statement is always ready for its next use. Internal to server/.
#ifndef TRAINYARD_SERVER_SQLITE_UTIL_H_
#define TRAINYARD_SERVER_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace trainyard::server::sqlite {

// Maps an SQLite result code to a status: constraint violations become
// ALREADY_EXISTS, a full disk RESOURCE_EXHAUSTED, busy UNAVAILABLE, the rest
// INTERNAL; the message carries sqlite3_errmsg and `what`.
absl::Status Error(sqlite3* db, int rc, std::string_view what);

// Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
absl::Status Exec(sqlite3* db, std::string_view sql);

// A prepared statement owned for the store's lifetime.
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status Prepare(sqlite3* db, std::string_view sql);
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// One use of a prepared statement: bind, step, read columns; the destructor
// resets it and clears the bindings. Binds are 1-based like SQLite's.
class Query {
 public:
  explicit Query(const Statement& statement);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int index, int64_t value);
  // Text and blobs are copied by SQLite (SQLITE_TRANSIENT) so temporaries are safe.
  Query& BindText(int index, std::string_view value);
  Query& BindBlob(int index, std::string_view value);
  // Binds NULL when `value` is empty (e.g. an optional request_id).
  Query& BindTextOrNull(int index, std::string_view value);

  // true: a row is ready; false: done. Errors (also bind errors) as status.
  absl::StatusOr<bool> Step();
  // Step() expecting no row (INSERT/UPDATE/DELETE).
  absl::Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string_view Blob(int column) const;  // valid until the next Step()
  int changes() const;

 private:
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace trainyard::server::sqlite

#endif  // TRAINYARD_SERVER_SQLITE_UTIL_H_
