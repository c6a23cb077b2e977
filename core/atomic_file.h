// Crash-safe whole-file writes (for reads see core/data/file_util.h). After
// WriteFileAtomically returns OK, a reader (even after a power cut) sees
// either the old file or the complete new one, never a mix or a truncated one.
//
// Errors name the path and the OS reason, with the codes of the one errno
// mapping (core/file_status.h): NOT_FOUND when the directory does not exist,
// PERMISSION_DENIED, RESOURCE_EXHAUSTED when the disk or quota is full,
// INTERNAL for any other I/O failure.
#ifndef TRAINYARD_CORE_ATOMIC_FILE_H_
#define TRAINYARD_CORE_ATOMIC_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/env.h"

namespace trainyard {

// Writes `data` to `path` atomically: a uniquely named temp file in the same
// directory, fsync, rename over `path`, fsync of the directory. On error the
// temp file is removed and `path` is untouched (its old content, or absent).
// Concurrent writers to the same path are safe: the last rename wins and each
// result is a complete file. The new file gets mode 0666 & ~umask (a file a
// user asked for, unlike the server's private data). All file system access
// goes through `env`.
absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                 Env* env = Env::Default());

}  // namespace trainyard

#endif  // TRAINYARD_CORE_ATOMIC_FILE_H_
