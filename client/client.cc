#include "client/client.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/errors.h"
#include "core/data/file_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace trainyard::client {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return LocalInputError(absl::StatusCode::kNotFound,
                           absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  return text;
}

// A unary call on the stub as one expression: context set up, status mapped.
template <typename Response, typename Call>
absl::StatusOr<Response> Unary(grpc::ClientContext* context, Call call) {
  Response response;
  grpc::Status status = call(context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const ClientOptions& options) {
  if (options.address.empty()) return UsageError("--addr: empty address");
  if (!(options.timeout_seconds > 0)) {
    return UsageError("--timeout: must be > 0 seconds");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return UsageError("--tls-cert and --tls-key go together");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const bool tls = !options.tls_ca_file.empty() ||
                   !options.tls_cert_file.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadPem("--tls-ca", options.tls_ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert =
          ReadPem("--tls-cert", options.tls_cert_file);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPem("--tls-key", options.tls_key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  auto channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::make_unique<Client>(std::move(channel), options);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      options_(std::move(options)),
      stub_(v1::TrainingService::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)) {}

void Client::PrepareStream(grpc::ClientContext* context) const {
  // Per-call metadata rather than grpc::AccessTokenCredentials: gRPC refuses
  // call credentials on an insecure channel, and a token on a plain local
  // connection is a legitimate (if discouraged) set-up.
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
}

void Client::PrepareUnary(grpc::ClientContext* context) const {
  PrepareStream(context);
  context->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::microseconds(
          static_cast<int64_t>(options_.timeout_seconds * 1e6)));
}

absl::StatusOr<v1::ServerInfo> Client::GetServerInfo() {
  grpc::ClientContext context;
  PrepareUnary(&context);
  return Unary<v1::ServerInfo>(&context, [&](auto* c, auto* r) {
    return stub_->GetServerInfo(c, v1::GetServerInfoRequest(), r);
  });
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
Client::CheckHealth(const std::string& service) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  auto response = Unary<grpc::health::v1::HealthCheckResponse>(
      &context, [&](auto* c, auto* r) { return health_stub_->Check(c, request, r); });
  if (!response.ok()) return response.status();
  return response->status();
}

absl::StatusOr<v1::ListDatasetsResponse> Client::ListDatasets(
    const v1::ListDatasetsRequest& request) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  return Unary<v1::ListDatasetsResponse>(&context, [&](auto* c, auto* r) {
    return stub_->ListDatasets(c, request, r);
  });
}

absl::StatusOr<v1::ListDatasetsResponse> Client::ListAllDatasets(
    const std::string& name) {
  v1::ListDatasetsResponse all;
  v1::ListDatasetsRequest request;
  request.set_name(name);
  request.set_page_size(1000);
  do {
    absl::StatusOr<v1::ListDatasetsResponse> page = ListDatasets(request);
    if (!page.ok()) return page.status();
    for (auto& dataset : *page->mutable_datasets()) {
      *all.add_datasets() = std::move(dataset);
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::StatusOr<v1::Dataset> Client::GetDataset(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::GetDatasetRequest request;
  request.set_dataset_id(id);
  return Unary<v1::Dataset>(
      &context, [&](auto* c, auto* r) { return stub_->GetDataset(c, request, r); });
}

absl::Status Client::DeleteDataset(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::DeleteDatasetRequest request;
  request.set_dataset_id(id);
  return Unary<v1::DeleteDatasetResponse>(&context, [&](auto* c, auto* r) {
           return stub_->DeleteDataset(c, request, r);
         }).status();
}

absl::StatusOr<v1::Job> Client::SubmitJob(const v1::SubmitJobRequest& request) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  return Unary<v1::Job>(
      &context, [&](auto* c, auto* r) { return stub_->SubmitJob(c, request, r); });
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::GetJobRequest request;
  request.set_job_id(id);
  return Unary<v1::Job>(
      &context, [&](auto* c, auto* r) { return stub_->GetJob(c, request, r); });
}

absl::StatusOr<v1::ListJobsResponse> Client::ListAllJobs(
    const std::vector<v1::JobState>& states) {
  v1::ListJobsResponse all;
  v1::ListJobsRequest request;
  for (v1::JobState state : states) request.add_states(state);
  request.set_page_size(1000);
  do {
    grpc::ClientContext context;
    PrepareUnary(&context);
    auto page = Unary<v1::ListJobsResponse>(
        &context, [&](auto* c, auto* r) { return stub_->ListJobs(c, request, r); });
    if (!page.ok()) return page.status();
    for (auto& job : *page->mutable_jobs()) *all.add_jobs() = std::move(job);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::StatusOr<v1::DeleteJobResponse> Client::DeleteJob(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::DeleteJobRequest request;
  request.set_job_id(id);
  return Unary<v1::DeleteJobResponse>(
      &context, [&](auto* c, auto* r) { return stub_->DeleteJob(c, request, r); });
}

absl::Status Client::DeleteCheckpoint(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::DeleteCheckpointRequest request;
  request.set_checkpoint_id(id);
  return Unary<v1::DeleteCheckpointResponse>(&context, [&](auto* c, auto* r) {
           return stub_->DeleteCheckpoint(c, request, r);
         }).status();
}

absl::StatusOr<v1::Job> Client::CancelJob(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::CancelJobRequest request;
  request.set_job_id(id);
  return Unary<v1::Job>(
      &context, [&](auto* c, auto* r) { return stub_->CancelJob(c, request, r); });
}

absl::StatusOr<v1::Job> Client::PauseJob(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::PauseJobRequest request;
  request.set_job_id(id);
  return Unary<v1::Job>(
      &context, [&](auto* c, auto* r) { return stub_->PauseJob(c, request, r); });
}

absl::StatusOr<v1::Job> Client::ResumeJob(const std::string& id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::ResumeJobRequest request;
  request.set_job_id(id);
  return Unary<v1::Job>(
      &context, [&](auto* c, auto* r) { return stub_->ResumeJob(c, request, r); });
}

absl::StatusOr<v1::ListCheckpointsResponse> Client::ListCheckpoints(
    const std::string& job_id) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  v1::ListCheckpointsRequest request;
  request.set_job_id(job_id);
  return Unary<v1::ListCheckpointsResponse>(&context, [&](auto* c, auto* r) {
    return stub_->ListCheckpoints(c, request, r);
  });
}

absl::StatusOr<v1::PredictResponse> Client::Predict(
    const v1::PredictRequest& request) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  return Unary<v1::PredictResponse>(
      &context, [&](auto* c, auto* r) { return stub_->Predict(c, request, r); });
}

absl::StatusOr<v1::EvaluateResponse> Client::Evaluate(
    const v1::EvaluateRequest& request) {
  grpc::ClientContext context;
  PrepareUnary(&context);
  return Unary<v1::EvaluateResponse>(
      &context, [&](auto* c, auto* r) { return stub_->Evaluate(c, request, r); });
}

namespace {

// WatchJob's ClientReader behind the EventStream interface, with a watchdog
// thread that cancels the call when nothing (not even a heartbeat) arrived
// for `idle_timeout`; Finish then reports UNAVAILABLE so RunWatch reconnects.
class GrpcEventStream final : public EventStream {
 public:
  GrpcEventStream(v1::TrainingService::Stub* stub,
                  std::unique_ptr<grpc::ClientContext> context,
                  const v1::WatchJobRequest& request, absl::Duration idle_timeout)
      : context_(std::move(context)),
        reader_(stub->WatchJob(context_.get(), request)),
        idle_timeout_(idle_timeout),
        last_message_(absl::Now()) {
    if (idle_timeout_ > absl::ZeroDuration()) {
      watchdog_ = std::thread([this] { Watchdog(); });
    }
  }
  ~GrpcEventStream() override { StopWatchdog(); }

  bool Read(v1::JobEvent* event) override {
    const bool ok = reader_->Read(event);
    absl::MutexLock lock(&mu_);
    last_message_ = absl::Now();
    return ok;
  }
  absl::Status Finish() override {
    StopWatchdog();
    absl::Status status = FromGrpcStatus(reader_->Finish());
    if (timed_out_ && status.code() == absl::StatusCode::kCancelled) {
      return absl::UnavailableError(absl::StrCat(
          "no event or heartbeat for ", absl::FormatDuration(idle_timeout_)));
    }
    return status;
  }

 private:
  void Watchdog() {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      const absl::Duration idle = absl::Now() - last_message_;
      if (idle >= idle_timeout_) {
        timed_out_ = true;
        context_->TryCancel();
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stop_), idle_timeout_ - idle);
    }
  }
  void StopWatchdog() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (watchdog_.joinable()) watchdog_.join();
  }

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader_;
  const absl::Duration idle_timeout_;
  absl::Mutex mu_;
  absl::Time last_message_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the watchdog before it exits; read after join.
  bool timed_out_ = false;
  std::thread watchdog_;
};

}  // namespace

EventStreamOpener Client::WatchOpener(const std::string& job_id, bool follow) {
  return [this, job_id, follow](int64_t from) -> std::unique_ptr<EventStream> {
    auto context = std::make_unique<grpc::ClientContext>();
    PrepareStream(context.get());
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_after_seq(from);
    request.set_no_follow(!follow);
    return std::make_unique<GrpcEventStream>(
        stub_.get(), std::move(context), request,
        absl::Seconds(options_.watch_idle_timeout_seconds));
  };
}

absl::Status Client::WatchJob(const std::string& job_id, int64_t after_seq,
                              const WatchCallbacks& callbacks) {
  return RunWatch(WatchOpener(job_id, /*follow=*/true), after_seq, callbacks, options_.retry);
}

absl::StatusOr<std::vector<v1::JobEvent>> Client::ReadEvents(const std::string& job_id) {
  std::vector<v1::JobEvent> events;
  WatchCallbacks callbacks;
  callbacks.on_event = [&events](const v1::JobEvent& event) { events.push_back(event); };
  absl::Status status =
      RunWatch(WatchOpener(job_id, /*follow=*/false), /*after_seq=*/0, callbacks, options_.retry);
  if (!status.ok()) return status;
  return events;
}

}  // namespace trainyard::client
