// The MetadataStore in one SQLite database (WAL). Each row holds the resource
// as a serialized proto plus the columns needed to find it (state, priority,
// creation time, request_id, ...), so adding a proto field needs no
// migration. The schema is versioned with PRAGMA user_version; opening
// migrates forward and refuses a database written by a newer server.
//
// One connection guarded by one mutex: that is what makes every method atomic
// with respect to the others. The database, WAL and journal are written
// through options.env (server/sqlite_vfs.h), so a test Env can fill the disk
// or fail an fsync under SQLite: a full disk comes back as RESOURCE_EXHAUSTED
// ("disk full at <file>: ... database or disk is full"), a database that
// cannot be written (read-only file or mount) as FAILED_PRECONDITION naming
// the file, another I/O error as INTERNAL, and the failed transaction is
// rolled back.
#ifndef TRAINYARD_SERVER_SQLITE_METADATA_STORE_H_
#define TRAINYARD_SERVER_SQLITE_METADATA_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metadata_store.h"

namespace trainyard::server {

// The schema version this server writes (PRAGMA user_version).
constexpr int kSqliteSchemaVersion = 2;

// Opens or creates the database at `path` and migrates it to the current
// schema. FAILED_PRECONDITION for a database from a newer server.
absl::StatusOr<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(
    const std::string& path, const MetadataStoreOptions& options);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_SQLITE_METADATA_STORE_H_
