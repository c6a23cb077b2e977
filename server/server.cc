#include "server/server.h"

#include <algorithm>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/data/file_util.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/decode_errors.h"
#include "server/service.h"
#include "core/version.h"

namespace trainyard::server {
namespace {

// In-flight calls get this long after Backend::Shutdown before they are
// cancelled (watchers already ended; only uploads and unary calls remain).
constexpr absl::Duration kTransportGrace = absl::Seconds(5);
constexpr char kServiceName[] = "trainyard.v1.TrainingService";

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  if (pem->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    // Not grpc::InsecureServerCredentials(): it cannot run the token check
    // (server/auth.h).
    return InsecureServerCredentialsWithAuth();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(options.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(options.tls_client_ca_file, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// "host:port" of `listen` with the bound port.
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

// The effective options, after Finalize: what an operator needs to know the
// server runs with (never the token, only whether there is one).
void LogStart(const Logger& log, const ServerOptions& o) {
  const std::string_view tls = o.tls_cert_file.empty()        ? "off"
                               : o.tls_client_ca_file.empty() ? "on"
                                                              : "mutual";
  log.Info("server_start", {{"version", kTrainyardVersion},
                            {"listen", o.listen},
                            {"data_dir", o.data_dir},
                            {"workers", o.workers},
                            {"cores", o.cores},
                            {"default_threads", o.default_threads},
                            {"inference_threads", o.inference_threads},
                            {"inference_queue", o.inference_queue},
                            {"max_message_bytes", o.max_message_bytes},
                            {"max_dataset_bytes", o.max_dataset_bytes},
                            {"max_checkpoint_bytes", o.max_checkpoint_bytes},
                            {"max_params", o.max_params},
                            {"max_queued_jobs", o.max_queued_jobs},
                            {"max_watchers_per_job", o.max_watchers_per_job},
                            {"max_job_memory", o.max_job_memory},
                            {"max_predict_work", o.max_predict_work},
                            {"heartbeat_seconds", o.heartbeat_seconds},
                            {"shutdown_grace_seconds", o.shutdown_grace_seconds},
                            {"slow_call_ms", o.slow_call_ms},
                            {"tls", tls},
                            {"auth", o.auth_token_file.empty() ? "off" : "on"},
                            {"log_format", o.log_format},
                            {"log_level", o.log_level}});
}

int ExecutorThreads(const ServerOptions& options) {
  // Enough for a few concurrent uploads/predictions without competing with
  // the training workers for cores.
  return std::clamp(options.cores / 2, 2, 8);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  if (absl::Status s = options.Finalize(); !s.ok()) return s;
  if (options.max_message_bytes < 4096 || options.max_message_bytes > INT32_MAX) {
    return absl::InvalidArgumentError("--max-message-bytes must be in [4096, 2147483647]");
  }
  std::unique_ptr<Server> server(new Server(options));
  LogStart(server->logger_, options);
  if (!options.auth_token_file.empty()) {
    absl::StatusOr<Authenticator> auth = Authenticator::FromFile(options.auth_token_file);
    if (!auth.ok()) return auth.status();
    server->auth_ = *std::move(auth);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();

  // A fresh --data-dir is created (the default ./trainyard-data included):
  // its parents here with the umask's modes, the dir itself 0700 by
  // Backend::Open, which locks it.
  std::filesystem::path dir = std::filesystem::path(options.data_dir).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "x/" names x
  if (dir.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data-dir: cannot create ", dir.parent_path().string(), ": ", ec.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::Open(options);
  if (!backend.ok()) return backend.status();
  server->backend_ = *std::move(backend);
  server->executor_ = std::make_unique<Executor>(ExecutorThreads(options));
  server->inference_ = std::make_unique<Executor>(
      options.inference_threads, static_cast<size_t>(options.inference_queue),
      "--inference-queue");
  server->watchers_ = std::make_unique<WatcherLimiter>(options.max_watchers_per_job);

  ServiceDeps deps;
  deps.backend = server->backend_.get();
  deps.executor = server->executor_.get();
  deps.inference = server->inference_.get();
  deps.before_inference = options.test_hooks.before_inference;
  deps.auth = &server->auth_;
  deps.watchers = server->watchers_.get();
  deps.draining = &server->draining_;
  server->service_ = std::make_unique<TrainingServiceImpl>(deps);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, so a second server on a busy port
  // would start and split the clients with the first at random. Off, the
  // bind fails and BuildAndStart returns null.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The token is checked on the credentials, before any service sees a call.
  builder.AddListeningPort(options.listen,
                           WithTokenCheck(*credentials, server->auth_, &server->request_log_),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  // Outgoing hooks run in this order: the logger sees the rewritten status.
  creators.push_back(std::make_unique<DecodeErrorInterceptorFactory>());
  creators.push_back(std::make_unique<RequestLogInterceptorFactory>(&server->request_log_));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    // ~Server tears the backend down again.
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        " (--listen): the address is in use (another server?) or invalid"));
  }
  server->address_ = WithPort(options.listen, server->port_);
  server->backend_->StartWorkers();
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kServiceName, true);
  server->logger_.Info("server_listening", {{"address", server->address_}});
  return server;
}

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      logger_(options_.MakeLogger()),
      request_log_(&logger_, options_.clock, absl::Milliseconds(options_.slow_call_ms)) {}

void Server::Drain() {
  draining_.store(true);
  if (server_ != nullptr) {
    auto* health = server_->GetHealthCheckService();
    health->SetServingStatus(false);
    health->SetServingStatus(kServiceName, false);
  }
}

void Server::StopTransport(absl::Duration deadline) {
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
    server_->Wait();
  }
  // Tasks still queued finish their calls (with the transport gone, their
  // Finish is a no-op); after this no reactor touches the backend.
  if (executor_ != nullptr) executor_->Shutdown();
  if (inference_ != nullptr) inference_->Shutdown();
}

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  const absl::Time start = options_.clock->Now();
  logger_.Info("shutdown_begin", {{"grace_seconds", absl::ToDoubleSeconds(grace)}});
  Drain();
  backend_->Shutdown(grace);
  // Watchers end now (UNAVAILABLE) instead of holding the transport open
  // until its deadline.
  backend_->ShutdownEvents();
  StopTransport(kTransportGrace);
  request_log_.FlushSuppressed();
  shut_down_ = true;
  logger_.Info("shutdown_end",
               {{"ms", absl::ToInt64Milliseconds(options_.clock->Now() - start)}});
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

Server::~Server() {
  bool graceful;
  {
    absl::MutexLock lock(&mu_);
    graceful = shut_down_;
  }
  if (!graceful) {
    Drain();
    if (backend_ != nullptr) backend_->ShutdownEvents();
    StopTransport(absl::ZeroDuration());
  }
  // The backend goes last: ~Backend stops workers without checkpoints.
  server_.reset();
  service_.reset();
  executor_.reset();
  inference_.reset();
  backend_.reset();
}

}  // namespace trainyard::server
