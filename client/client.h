// A small client for trainyard.v1.TrainingService: channel set-up (plain or
// TLS, optional client certificate), the bearer token on every call, a
// deadline on every unary call, chunked uploads with sha256, resumable
// verified downloads, a watch that survives reconnects, and health checks.
//
//   ClientOptions options;
//   options.address = "127.0.0.1:50051";
//   auto client = Client::Create(options);
//   if (!client.ok()) ...;
//   absl::StatusOr<v1::ServerInfo> info = (*client)->GetServerInfo();
//
// Every method returns the server's status verbatim (same code, same message)
// or, for local failures, a status marked by client/errors.h. Thread-safe:
// concurrent calls share the channel.
#ifndef TRAINYARD_CLIENT_CLIENT_H_
#define TRAINYARD_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/watch.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "trainyard/v1/service.grpc.pb.h"

namespace trainyard::client {

struct ClientOptions {
  // host:port (any gRPC target string).
  std::string address = "127.0.0.1:50051";
  // Sent as "authorization: Bearer <token>" on every call; empty: none.
  std::string token;
  // PEM files. Setting any of them selects TLS; the CA file verifies the
  // server (empty: the system roots); cert and key, given together, are the
  // client certificate for servers that require one.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Deadline of every unary call, seconds (> 0). Streams have none: uploads
  // and watches legitimately take long.
  double timeout_seconds = 30;
  // Largest message received (a Predict answer can be big). Matches the
  // server's default --max-message-bytes.
  int max_receive_message_bytes = 64 << 20;
  // Reconnects of a watch or download after UNAVAILABLE.
  WatchRetryPolicy retry;
  // A watch stream that brings no event and no heartbeat for this long is
  // treated as a dead connection (UNAVAILABLE) and reopened: a silently lost
  // peer would otherwise block the watch forever. Server heartbeats default
  // to every 5 s. <= 0: never.
  double watch_idle_timeout_seconds = 30;
};

// Bytes done so far and the total (0 when unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// Upload chunk size: well under any message limit, big enough that the
// per-message overhead is negligible.
inline constexpr int64_t kChunkBytes = 1 << 20;

struct DownloadResult {
  int64_t size_bytes = 0;
  // Bytes already in FILE.part from an earlier, interrupted download.
  int64_t resumed_from = 0;
  std::string sha256;
};

class Client {
 public:
  // Reads the TLS files and opens the channel (lazily: an unreachable server
  // shows up as UNAVAILABLE on the first call). Bad options or unreadable
  // files: a usage error.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      const ClientOptions& options);

  // Over an existing channel (tests: an in-process server).
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  absl::StatusOr<v1::ServerInfo> GetServerInfo();
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
  CheckHealth(const std::string& service = "");

  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets(
      const v1::ListDatasetsRequest& request);
  // Every page, merged into one response (next_page_token empty).
  absl::StatusOr<v1::ListDatasetsResponse> ListAllDatasets(
      const std::string& name = "");
  absl::StatusOr<v1::Dataset> GetDataset(const std::string& id);
  absl::Status DeleteDataset(const std::string& id);

  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(const std::string& id);
  // Every page, merged.
  absl::StatusOr<v1::ListJobsResponse> ListAllJobs(
      const std::vector<v1::JobState>& states);
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  absl::StatusOr<v1::Job> PauseJob(const std::string& id);
  absl::StatusOr<v1::Job> ResumeJob(const std::string& id);
  absl::StatusOr<v1::DeleteJobResponse> DeleteJob(const std::string& id);
  absl::Status DeleteCheckpoint(const std::string& id);

  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(
      const std::string& job_id);
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);
  absl::StatusOr<v1::EvaluateResponse> Evaluate(
      const v1::EvaluateRequest& request);

  // Streams header, then the files' bytes in kChunkBytes chunks (for IDX the
  // images file then the labels file; header.idx_parts and total_size_bytes
  // are filled in here), then the sha256 trailer.
  absl::StatusOr<v1::Dataset> UploadDataset(v1::DatasetHeader header,
                                            const std::vector<std::string>& paths,
                                            const ProgressFn& progress);
  absl::StatusOr<v1::CheckpointInfo> UploadCheckpoint(const std::string& path,
                                                      const ProgressFn& progress);

  // Downloads into `path`.part, resuming from its current size (an earlier
  // interrupted run) and after UNAVAILABLE mid-stream; checks the sha256 of
  // the whole file and only then renames it to `path`. A mismatch after a
  // resume retries once from zero; a mismatch from zero is DATA_LOSS.
  absl::StatusOr<DownloadResult> DownloadCheckpoint(const std::string& id,
                                                    const std::string& path,
                                                    const ProgressFn& progress);

  // See RunWatch (client/watch.h) with this client's retry policy.
  absl::Status WatchJob(const std::string& job_id, int64_t after_seq,
                        const WatchCallbacks& callbacks);
  // Every event stored for the job so far, oldest first (WatchJob with
  // no_follow, reconnecting like WatchJob): returns without waiting for a
  // running job's next events.
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& job_id);

 private:
  // Auth metadata, plus the deadline for unary calls.
  void PrepareUnary(grpc::ClientContext* context) const;
  void PrepareStream(grpc::ClientContext* context) const;
  // Opens WatchJob streams of `job_id` (no_follow when !follow).
  EventStreamOpener WatchOpener(const std::string& job_id, bool follow);
  absl::Status DownloadOnce(const std::string& id, const std::string& part_path,
                            const ProgressFn& progress, DownloadResult* result);

  std::shared_ptr<grpc::Channel> channel_;
  ClientOptions options_;
  std::unique_ptr<v1::TrainingService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
};

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CLIENT_H_
