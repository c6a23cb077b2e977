// The running trainyard server: Backend + TrainingService + health +
// reflection on one grpc::Server, with the transport limits, TLS and auth of
// ServerOptions. main.cc and the in-process service tests use exactly this.
#ifndef TRAINYARD_SERVER_SERVER_H_
#define TRAINYARD_SERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/auth.h"
#include "server/backend.h"
#include "server/executor.h"
#include "server/logger.h"
#include "server/options.h"
#include "server/reactors.h"
#include "server/request_log.h"

namespace trainyard::server {

class TrainingServiceImpl;

class Server {
 public:
  // Finalizes `options`, logs server_start with the result, opens the
  // Backend (its data dir lock and recovery included), starts its workers
  // and listens on options.listen, logging server_listening (port 0
  // picks a free port; a port is never shared: SO_REUSEPORT is off).
  // INVALID_ARGUMENT naming the flag for bad options or unreadable TLS/token
  // files; FAILED_PRECONDITION naming the dir and the owner's pid when
  // another server has --data-dir open; UNAVAILABLE naming the address when
  // it cannot be bound (in use, or not an address of this host).
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);

  // Without a prior Shutdown: a hard stop, as close to a crash as a
  // destructor gets (calls cancelled at once, jobs stopped without a
  // checkpoint and left for recovery), but every thread joined.
  ~Server();

  // The bound port and "host:port" with it (for listen ports of 0).
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  Backend& backend() { return *backend_; }
  // Predict/Evaluate calls waiting for an inference thread (tests, benchmark).
  size_t inference_queued() { return inference_->queued(); }

  // First step of Shutdown, callable on its own (tests): health reports
  // NOT_SERVING and new uploads and submissions get UNAVAILABLE; everything
  // else keeps working.
  void Drain();

  // Graceful stop, bounded by about grace + 5 s, between shutdown_begin and
  // shutdown_end lines: Drain(), Backend::Shutdown
  // (running jobs checkpoint and requeue), watchers end with UNAVAILABLE, the
  // gRPC server stops (in-flight calls get 5 s), the executor is joined.
  // Idempotent; thread-safe.
  void Shutdown(absl::Duration grace);
  void Shutdown() { Shutdown(absl::Seconds(options_.shutdown_grace_seconds)); }

  // Blocks until Shutdown finished.
  void Wait();

 private:
  explicit Server(ServerOptions options);
  void StopTransport(absl::Duration deadline);

  ServerOptions options_;
  const Logger logger_;
  // Every call's end (server/request_log.h); used by the interceptor and the
  // token check, so it outlives server_.
  RequestLog request_log_;
  std::unique_ptr<Backend> backend_;
  Authenticator auth_;
  std::unique_ptr<Executor> executor_;   // control RPCs and streaming steps
  std::unique_ptr<Executor> inference_;  // Predict, Evaluate (bounded queue)
  std::unique_ptr<WatcherLimiter> watchers_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<TrainingServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_SERVER_H_
