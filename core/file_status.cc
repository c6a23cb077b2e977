#include "core/file_status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace trainyard {

absl::Status ErrnoToStatus(int err, std::string_view what, std::string_view path) {
  std::string message = absl::StrCat(std::string(what), " ", std::string(path), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EROFS:
      return absl::FailedPreconditionError(
          absl::StrCat("read-only file system at ", std::string(path), ": ", message));
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(
          absl::StrCat("disk full at ", std::string(path), ": ", message));
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case EISDIR:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace trainyard
