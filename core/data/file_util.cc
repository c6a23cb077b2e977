#include "core/data/file_util.h"

#include "core/env.h"

namespace trainyard {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return Env::Default()->ReadFile(path);
}

}  // namespace trainyard
