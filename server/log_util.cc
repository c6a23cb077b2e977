#include "server/log_util.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"

namespace trainyard::server {

void LogJobError(std::string_view job_id, std::string_view what, const absl::Status& status) {
  if (status.ok()) return;
  const std::string job = job_id.empty() ? "" : absl::StrCat("job ", std::string(job_id), ": ");
  const std::string line = absl::StrCat("trainyard-server: ", job, std::string(what), ": ",
                                        status.ToString(), "\n");
  std::fputs(line.c_str(), stderr);
}

}  // namespace trainyard::server
