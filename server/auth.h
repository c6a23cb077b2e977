// Bearer-token authentication. With a token configured, every RPC except
// grpc.health.v1.Health/* must carry "authorization: Bearer <token>".
//
// How it is enforced: TrainingService handlers call Authenticator::Check
// first and finish with UNAUTHENTICATED (a grpc server interceptor cannot
// fail a call with a status of its choice in gRPC 1.51, and an
// AuthMetadataProcessor is not available on insecure credentials). Any other
// service registered on the server (reflection) is covered by
// AuthInterceptorFactory, which cancels unauthenticated calls (the client
// sees CANCELLED). Health is always open so load balancers and
// orchestrators can probe without a secret.
#ifndef TRAINYARD_SERVER_AUTH_H_
#define TRAINYARD_SERVER_AUTH_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"

namespace trainyard::server {

class Authenticator {
 public:
  // No token: every call is allowed.
  Authenticator() = default;
  explicit Authenticator(std::string token) : token_(std::move(token)) {}

  // Reads the token from `path` (surrounding whitespace trimmed).
  // INVALID_ARGUMENT naming --auth-token-file when unreadable or empty.
  static absl::StatusOr<Authenticator> FromFile(const std::string& path);

  bool enabled() const { return !token_.empty(); }

  // True when auth is off, or `header_value` is "Bearer <token>" (compared in
  // constant time so the token cannot be guessed byte by byte from timing).
  bool Allows(std::string_view header_value) const;
  // UNAUTHENTICATED unless the call's metadata passes Allows; the handlers
  // finish with it through ToGrpcStatus (server/status_util.h).
  absl::Status Check(const grpc::ServerContextBase& context) const;
  // The same for an "authorization" header value ("" when absent).
  absl::Status CheckHeader(std::string_view header_value) const;

 private:
  std::string token_;
};

// Server interceptor for the services that do not check tokens themselves
// (reflection). Skips grpc.health.v1 and trainyard.v1 (which checks itself).
// `auth` must outlive the server.
class AuthInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuthInterceptorFactory(const Authenticator* auth) : auth_(auth) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const Authenticator* auth_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_AUTH_H_
