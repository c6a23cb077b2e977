#include "server/status_util.h"

#include <string>

namespace trainyard::server {
namespace {

// Both enums are google.rpc.Code; anything outside 0..16 (a newer code we do
// not know) becomes UNKNOWN rather than an undefined enum value.
int ClampCode(int code) { return (code >= 0 && code <= 16) ? code : 2; }

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(
      static_cast<grpc::StatusCode>(ClampCode(static_cast<int>(status.code()))),
      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(
      static_cast<absl::StatusCode>(ClampCode(static_cast<int>(status.error_code()))),
      status.error_message());
}

v1::ErrorInfo ToErrorInfo(const absl::Status& status) {
  v1::ErrorInfo error;
  if (status.ok()) return error;
  error.set_code(static_cast<int>(status.code()));
  error.set_message(std::string(status.message()));
  return error;
}

absl::Status FromErrorInfo(const v1::ErrorInfo& error) {
  if (error.code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(ClampCode(error.code())),
                      error.message());
}

}  // namespace trainyard::server
