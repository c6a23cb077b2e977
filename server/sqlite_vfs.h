// An SQLite VFS that routes the database's file system through an Env.
//
// SQLite does its own I/O (page writes at offsets, file locks, the WAL's
// shared-memory index), which an Env of whole files and appends cannot
// express. So the shim delegates everything to SQLite's default VFS and only
// asks the Env first, through Env::CheckForeignWrite, before each write, sync
// and truncate of the database, WAL and journal files. The POSIX Env always
// says yes; a test Env can say "disk full" (the write fails with SQLITE_FULL,
// which the store reports as RESOURCE_EXHAUSTED) or fail a write or fsync
// with another errno (SQLITE_IOERR, reported as INTERNAL). Either way SQLite
// rolls the transaction back.
#ifndef TRAINYARD_SERVER_SQLITE_VFS_H_
#define TRAINYARD_SERVER_SQLITE_VFS_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/env.h"

namespace trainyard::server::sqlite {

// The name to pass to sqlite3_open_v2 so that connection's files go through
// `env`. The VFS is registered on the first call for an Env and kept for the
// process's lifetime (a few hundred bytes per Env). REQUIRES: `env` outlives
// every connection opened with the name.
absl::StatusOr<std::string> VfsFor(Env* env);

}  // namespace trainyard::server::sqlite

#endif  // TRAINYARD_SERVER_SQLITE_VFS_H_
