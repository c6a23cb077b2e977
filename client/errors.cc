#include "client/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace trainyard::client {
namespace {

// Payload key marking where a status came from; its value is "usage",
// "input" or "local". Absent on statuses that came from the server.
constexpr absl::string_view kOriginKey = "trainyard.dev/cli-origin";

absl::Status WithOrigin(absl::StatusCode code, absl::string_view message,
                        absl::string_view origin) {
  absl::Status status(code, message);
  status.SetPayload(kOriginKey, absl::Cord(origin));
  return status;
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  return WithOrigin(absl::StatusCode::kInvalidArgument, message, "usage");
}

absl::Status LocalInputError(absl::StatusCode code, absl::string_view message) {
  return WithOrigin(code, message, "input");
}

absl::Status LocalError(absl::StatusCode code, absl::string_view message) {
  return WithOrigin(code, message, "local");
}

bool IsUsageError(const absl::Status& status) {
  auto origin = status.GetPayload(kOriginKey);
  return origin.has_value() && *origin == "usage";
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  auto origin = status.GetPayload(kOriginKey);
  if (origin.has_value()) {
    return *origin == "local" ? kExitLocalError : kExitUsage;
  }
  if (status.code() == absl::StatusCode::kUnavailable) return kExitUnreachable;
  return kExitRpcError;
}

std::string FormatError(const absl::Status& status) {
  return absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace trainyard::client
