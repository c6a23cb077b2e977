// The one mapping from a failed system call's errno to an absl::Status, used
// by every file-system caller (core/env.cc, core/atomic_file.cc,
// core/data/file_util.cc, server/blob_store.cc through the Env).
//
// The message is "<what> <path>: <strerror(err)>", so it names the path and
// the OS reason. Codes:
//   NOT_FOUND           ENOENT, ENOTDIR: the file or a directory on the path
//                       does not exist
//   PERMISSION_DENIED   EACCES, EPERM
//   FAILED_PRECONDITION EROFS, prefixed "read-only file system at <path>: ":
//                       the server's storage is not writable (an operator's
//                       fix, not a client's; not INTERNAL)
//   RESOURCE_EXHAUSTED  ENOSPC, EDQUOT (prefixed "disk full at <path>: "),
//                       EFBIG: the disk or quota is full; the strerror text
//                       ("No space left on device", "Disk quota exceeded",
//                       "File too large") says which, and tells it apart
//                       from a configured size limit (which never goes
//                       through this function)
//   INVALID_ARGUMENT    EISDIR, ENAMETOOLONG: the path itself is wrong
//   ALREADY_EXISTS      EEXIST (an exclusive create found the name taken)
//   INTERNAL            everything else (EIO, ...). Not UNAVAILABLE: that code
//                       tells clients to retry, and retrying a failing disk
//                       rarely helps.
#ifndef TRAINYARD_CORE_FILE_STATUS_H_
#define TRAINYARD_CORE_FILE_STATUS_H_

#include <string_view>

#include "absl/status/status.h"

namespace trainyard {

// The status for system call `what` (e.g. "cannot open") failing on `path`
// with `err` (an errno value, not 0).
absl::Status ErrnoToStatus(int err, std::string_view what, std::string_view path);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_FILE_STATUS_H_
