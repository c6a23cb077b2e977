// The streaming RPCs' reactors (server/upload_reactor.cc,
// server/watch_reactor.cc, server/download_reactor.cc) and what they share
// with the unary handlers in server/service.cc. Internal to the service.
//
// Every reactor keeps at most one read or write in flight, never blocks in a
// reaction, and hands store/disk/CPU-heavy steps to the Executor. Each one
// deletes itself in OnDone. Errors are absl::Status until the one conversion
// (ToGrpcStatus) at Finish. They reach the backend only through its methods.
#ifndef TRAINYARD_SERVER_REACTORS_H_
#define TRAINYARD_SERVER_REACTORS_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/auth.h"
#include "server/backend.h"
#include "server/executor.h"
#include "server/status_util.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Counts concurrent WatchJob streams per job (ServerOptions::max_watchers_per_job).
class WatcherLimiter {
 public:
  explicit WatcherLimiter(int max_per_job) : max_per_job_(max_per_job) {}
  // False when the job already has max_per_job watchers.
  bool TryAcquire(const std::string& job_id);
  void Release(const std::string& job_id);
  int count(const std::string& job_id);

 private:
  const int max_per_job_;
  absl::Mutex mu_;
  std::map<std::string, int> counts_ ABSL_GUARDED_BY(mu_);
};

// What the handlers and reactors need; owned by Server, outlives the RPCs.
struct ServiceDeps {
  Backend* backend = nullptr;
  Executor* executor = nullptr;
  // Predict and Evaluate only (bounded queue): never delays the control RPCs.
  Executor* inference = nullptr;
  // ServerOptions::TestHooks::before_inference; empty in production.
  std::function<void()> before_inference;
  const Authenticator* auth = nullptr;
  WatcherLimiter* watchers = nullptr;
  // Set when the server starts draining: new uploads and submissions get
  // UNAVAILABLE before the backend itself refuses them.
  const std::atomic<bool>* draining = nullptr;
};

// UNAVAILABLE: the server is draining or its executor stopped.
absl::Status ShuttingDownError();

// A reactor that finishes at once with `status` (auth failures, bad
// requests found before any I/O), converted by server/status_util.h.
template <typename Base>
class FinishedReactor : public Base {
 public:
  explicit FinishedReactor(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

grpc::ServerReadReactor<v1::UploadDatasetRequest>* NewUploadDatasetReactor(
    const ServiceDeps& deps, v1::Dataset* response);
grpc::ServerReadReactor<v1::UploadCheckpointRequest>* NewUploadCheckpointReactor(
    const ServiceDeps& deps, v1::CheckpointInfo* response);
grpc::ServerWriteReactor<v1::JobEvent>* NewWatchJobReactor(
    const ServiceDeps& deps, const v1::WatchJobRequest& request);
grpc::ServerWriteReactor<v1::DownloadCheckpointResponse>* NewDownloadCheckpointReactor(
    const ServiceDeps& deps, const v1::DownloadCheckpointRequest& request);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_REACTORS_H_
