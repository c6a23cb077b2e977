// One point that sees every RPC's end: a gRPC server interceptor (all
// services: TrainingService, health, reflection) that hands each call's
// method, status and duration to RequestLog, which logs
//   - refused requests (a code the client caused: INVALID_ARGUMENT,
//     NOT_FOUND, ..., UNAUTHENTICATED) as rpc_refused, at most
//     kRefusedPerSecond lines per second per (method, code), with the count
//     held back in between (suppressed=K, or an rpc_suppressed summary);
//   - internal errors (INTERNAL, DATA_LOSS, UNKNOWN) as rpc_failed at error,
//     always;
//   - slow calls (longer than --slow-call-ms) as rpc_slow at warn;
//   - every other call as rpc_finished at debug.
// Why an interceptor and not status_util.cc, and how streaming calls are
// timed: docs/decisions.md ("Operator logs").
//
// Calls refused by the token check never reach an interceptor (gRPC ends them
// in its auth filter): TokenAuthProcessor reports those here itself.
#ifndef TRAINYARD_SERVER_REQUEST_LOG_H_
#define TRAINYARD_SERVER_REQUEST_LOG_H_

#include <string_view>

#include "absl/time/time.h"
#include "core/clock.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "server/log_rate_limiter.h"
#include "server/logger.h"

namespace trainyard::server {

// How a call's duration is measured (and whether it can be "slow").
enum class CallTiming {
  kWhole,          // unary: from the call's start to its status
  kAfterLastRead,  // client streaming (uploads): from the last message read
                   // to the status, the server's own work on it
  kNone,           // server streaming (WatchJob, DownloadCheckpoint): as long
                   // as the client reads; never slow; no duration
};

class RequestLog {
 public:
  static constexpr int kRefusedPerSecond = 5;

  // `slow_call`: zero disables slow-call lines. Pointers must outlive it.
  RequestLog(const Logger* logger, const Clock* clock, absl::Duration slow_call);

  const Clock* clock() const { return clock_; }

  // A call to `method` ("/package.Service/Method") ended with `status`
  // after `elapsed` (ignored for CallTiming::kNone).
  void OnFinished(std::string_view method, CallTiming timing, const grpc::Status& status,
                  absl::Duration elapsed);

  // Logs the counts still held back (rpc_suppressed), e.g. at shutdown.
  void FlushSuppressed();

 private:
  void Log(std::string_view method, CallTiming timing, const grpc::Status& status,
           absl::Duration elapsed);
  void LogSuppressed(bool all);

  const Logger* const logger_;
  const Clock* const clock_;
  const absl::Duration slow_call_;
  LogRateLimiter refused_;
};

class RequestLogInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RequestLogInterceptorFactory(RequestLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  RequestLog* const log_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_REQUEST_LOG_H_
