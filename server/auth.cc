#include "server/auth.h"

#include <string>
#include <vector>

#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpc/slice.h"

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

// A TrainingService method, reflection and anything else registered later
// need the token; only the health service is open.
bool IsOpen(std::string_view path) { return path.starts_with("/grpc.health.v1.Health/"); }

std::string_view SliceView(const grpc_slice& slice) {
  return std::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                          GRPC_SLICE_LENGTH(slice));
}

// The C core's processor hook, calling a grpc::AuthMetadataProcessor the
// way grpc::SslServerCredentials does (its adapter is not public). Only
// non-blocking processors: this runs inline on the transport's thread.
struct ProcessorState {
  std::shared_ptr<grpc::AuthMetadataProcessor> processor;
};

void ProcessAuthMetadata(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                         size_t num_md, grpc_process_auth_metadata_done_cb cb,
                         void* user_data) {
  grpc::AuthMetadataProcessor::InputMetadata input;
  for (size_t i = 0; i < num_md; ++i) {
    const std::string_view key = SliceView(md[i].key), value = SliceView(md[i].value);
    input.emplace(grpc::string_ref(key.data(), key.size()),
                  grpc::string_ref(value.data(), value.size()));
  }
  grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
  // The processors here never look at the auth context (there is no peer
  // identity without TLS).
  const grpc::Status status =
      static_cast<ProcessorState*>(state)->processor->Process(input, nullptr, &consumed,
                                                              &response);
  // The core copies what it needs from these arrays before cb returns.
  std::vector<grpc_metadata> consumed_md, response_md;
  for (const auto& [key, value] : consumed) {
    grpc_metadata m{};
    m.key = grpc_slice_from_static_buffer(key.data(), key.size());
    m.value = grpc_slice_from_static_buffer(value.data(), value.size());
    consumed_md.push_back(m);
  }
  for (const auto& [key, value] : response) {
    grpc_metadata m{};
    m.key = grpc_slice_from_static_buffer(key.data(), key.size());
    m.value = grpc_slice_from_static_buffer(value.data(), value.size());
    response_md.push_back(m);
  }
  cb(user_data, consumed_md.data(), consumed_md.size(), response_md.data(), response_md.size(),
     static_cast<grpc_status_code>(status.error_code()),
     status.ok() ? nullptr : status.error_message().c_str());
}

void DestroyProcessorState(void* state) { delete static_cast<ProcessorState*>(state); }

class InsecureWithAuth final : public grpc::ServerCredentials {
 public:
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& processor) override {
    processor_ = processor;
  }

 private:
  // grpc::Server calls this (a private virtual of ServerCredentials).
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    if (processor_ != nullptr) {
      // The core owns the state from here and destroys it with `creds`.
      grpc_server_credentials_set_auth_metadata_processor(
          creds, {ProcessAuthMetadata, DestroyProcessorState, new ProcessorState{processor_}});
    }
    const int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::shared_ptr<grpc::AuthMetadataProcessor> processor_;
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

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                         grpc::AuthContext* /*context*/,
                                         OutputMetadata* /*consumed_auth_metadata*/,
                                         OutputMetadata* /*response_metadata*/) {
  auto path = auth_metadata.find(":path");
  // Every call has a :path; without one nothing can be exempted, so the token
  // is required.
  if (path != auth_metadata.end() && IsOpen(std::string_view(path->second.data(),
                                                             path->second.size()))) {
    return grpc::Status::OK;
  }
  std::string_view value;
  auto it = auth_metadata.find("authorization");
  if (it != auth_metadata.end()) value = std::string_view(it->second.data(), it->second.size());
  // The header is not consumed: the TrainingService handlers check it again.
  const absl::Status status = auth_.CheckHeader(value);
  if (status.ok()) return grpc::Status::OK;
  grpc::Status refused(grpc::StatusCode::UNAUTHENTICATED, std::string(status.message()));
  if (log_ != nullptr) {
    const std::string_view method =
        path != auth_metadata.end() ? std::string_view(path->second.data(), path->second.size())
                                    : std::string_view("(no :path)");
    // Refused before any work: no duration worth reporting.
    log_->OnFinished(method, CallTiming::kWhole, refused, absl::ZeroDuration());
  }
  return refused;
}

std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithAuth() {
  return std::make_shared<InsecureWithAuth>();
}

std::shared_ptr<grpc::ServerCredentials> WithTokenCheck(
    std::shared_ptr<grpc::ServerCredentials> credentials, const Authenticator& auth,
    RequestLog* log) {
  if (auth.enabled()) {
    credentials->SetAuthMetadataProcessor(std::make_shared<TokenAuthProcessor>(auth, log));
  }
  return credentials;
}

}  // namespace trainyard::server
