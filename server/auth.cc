#include "server/auth.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "core/data/file_util.h"
#include "openssl/crypto.h"

namespace trainyard::server {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// Reads "authorization" from client metadata; empty when absent.
std::string_view AuthorizationHeader(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

class AuthInterceptor : public grpc::experimental::Interceptor {
 public:
  AuthInterceptor(const Authenticator* auth, grpc::experimental::ServerRpcInfo* info)
      : auth_(auth), info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      std::string_view value;
      if (md != nullptr) {
        auto it = md->find("authorization");
        if (it != md->end()) value = std::string_view(it->second.data(), it->second.size());
      }
      if (!auth_->Allows(value)) info_->server_context()->TryCancel();
    }
    methods->Proceed();
  }

 private:
  const Authenticator* auth_;
  grpc::experimental::ServerRpcInfo* info_;
};

}  // namespace

absl::StatusOr<Authenticator> Authenticator::FromFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-token-file: cannot read ", path));
  }
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-token-file: ", path, " is empty"));
  }
  return Authenticator(std::move(token));
}

bool Authenticator::Allows(std::string_view header_value) const {
  if (token_.empty()) return true;
  if (!header_value.starts_with(kBearer)) return false;
  std::string_view given = header_value.substr(kBearer.size());
  // The length may leak through timing; the content may not.
  if (given.size() != token_.size()) return false;
  return CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
}

absl::Status Authenticator::Check(const grpc::ServerContextBase& context) const {
  return CheckHeader(AuthorizationHeader(context));
}

absl::Status Authenticator::CheckHeader(std::string_view header_value) const {
  if (Allows(header_value)) return absl::OkStatus();
  return absl::UnauthenticatedError(
      "missing or wrong \"authorization: Bearer <token>\" metadata");
}

grpc::experimental::Interceptor* AuthInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (!auth_->enabled()) return nullptr;
  std::string_view method = info->method() ? info->method() : "";
  if (method.starts_with("/grpc.health.v1.") ||
      method.starts_with("/trainyard.v1.")) {
    return nullptr;
  }
  return new AuthInterceptor(auth_, info);
}

}  // namespace trainyard::server
