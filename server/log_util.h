// The server's diagnostic line on stderr for a failure that must not stop
// the work in progress (a lost metric point, a periodic checkpoint that could
// not be written): the operator sees it with the job id, the job goes on.
#ifndef TRAINYARD_SERVER_LOG_UTIL_H_
#define TRAINYARD_SERVER_LOG_UTIL_H_

#include <string_view>

#include "absl/status/status.h"

namespace trainyard::server {

// "trainyard-server: job <job_id>: <what>: <status>" (without "job ...: "
// when job_id is empty). No-op for OK.
void LogJobError(std::string_view job_id, std::string_view what, const absl::Status& status);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_LOG_UTIL_H_
