// Whole-file reads for loaders and tests.
#ifndef TRAINYARD_CORE_DATA_FILE_UTIL_H_
#define TRAINYARD_CORE_DATA_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace trainyard {

// The bytes of the file at `path` (Env::Default()->ReadFile). NOT_FOUND when
// it does not exist, PERMISSION_DENIED when it cannot be opened for reading,
// other codes as in core/file_status.h; each message names the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATA_FILE_UTIL_H_
