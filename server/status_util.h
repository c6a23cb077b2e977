// The one place where absl::Status and grpc::Status meet. The codes are the
// same google.rpc.Code numbers on both sides, so the mapping is 1:1 and the
// message is kept verbatim; everything in server/ returns absl::Status and
// the service converts at the RPC boundary with these functions only.
#ifndef TRAINYARD_SERVER_STATUS_UTIL_H_
#define TRAINYARD_SERVER_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The google.rpc-style error stored on a failed job (Job.error,
// StateChange.error). OK maps to an empty ErrorInfo.
v1::ErrorInfo ToErrorInfo(const absl::Status& status);
absl::Status FromErrorInfo(const v1::ErrorInfo& error);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_STATUS_UTIL_H_
