// Crash-safe whole-file writes (for reads see core/data/file_util.h). After
// WriteFileAtomically returns OK, a reader (even after a power cut) sees
// either the old file or the complete new one, never a mix or a truncated one.
//
// Errors name the path and the OS reason. Codes:
//   NOT_FOUND          the directory does not exist
//   PERMISSION_DENIED  EACCES, EPERM, EROFS
//   RESOURCE_EXHAUSTED the disk or quota is full (ENOSPC, EDQUOT)
//   INTERNAL           any other I/O failure (EIO, ...). Not UNAVAILABLE: that
//                      code tells clients to retry, and retrying a failing
//                      disk rarely helps.
#ifndef TRAINYARD_CORE_ATOMIC_FILE_H_
#define TRAINYARD_CORE_ATOMIC_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace trainyard {

// Writes `data` to `path` atomically: a uniquely named temp file in the same
// directory, fsync, rename over `path`, fsync of the directory. On error the
// temp file is removed and `path` is untouched (its old content, or absent).
// Concurrent writers to the same path are safe: the last rename wins and each
// result is a complete file. The new file gets mode 0666 & ~umask.
absl::Status WriteFileAtomically(const std::string& path, std::string_view data);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_ATOMIC_FILE_H_
