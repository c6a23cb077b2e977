// How the CLI turns a failure into one stderr line and an exit code.
//
// Every failure travels as an absl::Status. Errors the CLI finds itself
// (bad flags, unreadable input files, a corrupt download) carry a payload
// saying so; errors from the server are plain statuses with the server's
// code and message (gRPC and absl codes are the same numbers).
//
// Exit codes (documented in `trainyard --help` and the report):
//   0  success (for --wait / watch: the job SUCCEEDED; health: SERVING)
//   1  the job ended FAILED or CANCELLED; health: not SERVING
//   2  usage: bad flags or arguments, unreadable or invalid local input
//   3  the server answered with an error
//   4  the server is unreachable (UNAVAILABLE)
//   5  a local failure after talking to the server (writing a download,
//      checksum mismatch)
#ifndef TRAINYARD_CLIENT_ERRORS_H_
#define TRAINYARD_CLIENT_ERRORS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace trainyard::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitJobNotSucceeded = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRpcError = 3;
inline constexpr int kExitUnreachable = 4;
inline constexpr int kExitLocalError = 5;

// INVALID_ARGUMENT marked as a usage error (exit 2).
absl::Status UsageError(absl::string_view message);
// `code` marked as a local input problem (unreadable or invalid input file,
// bad --values) found before any RPC (exit 2, but no help text).
absl::Status LocalInputError(absl::StatusCode code, absl::string_view message);
// `code` marked as a local failure after the server answered (exit 5).
absl::Status LocalError(absl::StatusCode code, absl::string_view message);

// True only for UsageError (the CLI then prints the command's help).
bool IsUsageError(const absl::Status& status);

// The exit code for a failed command (see the table above). OK gives 0.
int ExitCodeFor(const absl::Status& status);

// "error: INVALID_ARGUMENT: <message>" (no trailing newline).
std::string FormatError(const absl::Status& status);

// The codes are the same google.rpc.Code numbers on both sides.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_ERRORS_H_
