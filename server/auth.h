// Bearer-token authentication. With a token configured, every RPC except
// grpc.health.v1.Health/* must carry "authorization: Bearer <token>".
//
// How it is enforced: a grpc::AuthMetadataProcessor on the server
// credentials (WithTokenCheck) sees every call's metadata, ":path" included,
// before any service does, and fails it with UNAUTHENTICATED and a message —
// for every service on the server, reflection included. Health is exempt by
// path so load balancers and orchestrators can probe without a secret.
// TrainingService handlers still call Authenticator::Check first (a second
// line, and what covers the service when it runs without these credentials).
// docs/decisions.md has why a processor and not an interceptor.
#ifndef TRAINYARD_SERVER_AUTH_H_
#define TRAINYARD_SERVER_AUTH_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"
#include "server/request_log.h"

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

// Checks the token of every call except grpc.health.v1.Health/* (by its
// ":path"); UNAUTHENTICATED otherwise. Holds its own copy of the token.
// gRPC ends a refused call in its auth filter, before any interceptor, so
// the refusal is reported to `log` (rpc_refused, rate-limited) from here.
class TokenAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  // `log` may be null; otherwise it must outlive the credentials.
  explicit TokenAuthProcessor(Authenticator auth, RequestLog* log = nullptr)
      : auth_(std::move(auth)), log_(log) {}

  // Cheap and never blocks, so gRPC runs it inline on its own thread.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const Authenticator auth_;
  RequestLog* const log_;
};

// Plain-text (insecure) server credentials that, unlike
// grpc::InsecureServerCredentials() (which aborts on SetAuthMetadataProcessor
// in gRPC 1.51), run an AuthMetadataProcessor: the core's insecure
// credentials go through the same server auth filter as TLS.
std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithAuth();

// Installs a TokenAuthProcessor on `credentials` (made by
// InsecureServerCredentialsWithAuth or grpc::SslServerCredentials) when
// `auth` has a token; returns `credentials`. Refusals go to `log` (may be
// null).
std::shared_ptr<grpc::ServerCredentials> WithTokenCheck(
    std::shared_ptr<grpc::ServerCredentials> credentials, const Authenticator& auth,
    RequestLog* log = nullptr);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_AUTH_H_
