#include "server/request_log.h"

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trainyard::server {
namespace {

enum class Outcome { kOk, kRefused, kFailed };

Outcome Classify(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
    // The client went away or gave up: nothing was refused.
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Outcome::kOk;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::UNKNOWN:
      return Outcome::kFailed;
    default:
      // INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION,
      // RESOURCE_EXHAUSTED, UNAUTHENTICATED, PERMISSION_DENIED, OUT_OF_RANGE,
      // ABORTED, UNIMPLEMENTED, UNAVAILABLE (shutting down).
      return Outcome::kRefused;
  }
}

// Refusals an operator may have to act on (limits, a full disk, someone
// without the token) at warn; the rest are a client's own mistakes.
LogLevel RefusedLevel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return LogLevel::kWarn;
    default:
      return LogLevel::kInfo;
  }
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// A client can put up to a message's worth of text into an error (an id it
// sent, echoed); a log line keeps the first 256 bytes.
std::string_view Clip(const std::string& message) {
  return std::string_view(message).substr(0, 256);
}

class RequestLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  RequestLogInterceptor(RequestLog* log, std::string method, CallTiming timing)
      : log_(log),
        method_(std::move(method)),
        timing_(timing),
        start_ns_(absl::ToUnixNanos(log->clock()->Now())) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (timing_ == CallTiming::kAfterLastRead &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      start_ns_.store(absl::ToUnixNanos(log_->clock()->Now()), std::memory_order_relaxed);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const absl::Time start =
          absl::FromUnixNanos(start_ns_.load(std::memory_order_relaxed));
      log_->OnFinished(method_, timing_, methods->GetSendStatus(), log_->clock()->Now() - start);
    }
    methods->Proceed();
  }

 private:
  RequestLog* const log_;
  const std::string method_;
  const CallTiming timing_;
  // Set on a gRPC thread (each read), read where the status is sent (often
  // an executor thread): atomic rather than relying on the reactor's order.
  std::atomic<int64_t> start_ns_;
};

}  // namespace

RequestLog::RequestLog(const Logger* logger, const Clock* clock, absl::Duration slow_call)
    : logger_(logger),
      clock_(clock),
      slow_call_(slow_call),
      refused_(kRefusedPerSecond, absl::Seconds(1), clock) {}

void RequestLog::OnFinished(std::string_view method, CallTiming timing,
                            const grpc::Status& status, absl::Duration elapsed) {
  Log(method, timing, status, elapsed);
  // Then the other keys' counts whose window has passed (this key's own
  // count, if it was admitted now, went out with its line).
  LogSuppressed(false);
}

void RequestLog::Log(std::string_view method, CallTiming timing, const grpc::Status& status,
                     absl::Duration elapsed) {
  const grpc::StatusCode code = status.error_code();
  const std::string code_name = CodeName(code);
  const bool timed = timing != CallTiming::kNone;
  const int64_t ms = timed ? absl::ToInt64Milliseconds(elapsed) : -1;
  switch (Classify(code)) {
    case Outcome::kFailed:
      logger_->Error("rpc_failed", {{"method", method},
                                    {"code", code_name},
                                    {"error", Clip(status.error_message())},
                                    {"ms", ms}});
      return;
    case Outcome::kRefused: {
      const LogLevel level = RefusedLevel(code);
      if (!logger_->Enabled(level)) return;
      const LogRateLimiter::Admission admission =
          refused_.Admit(absl::StrCat(std::string(method), " ", code_name));
      if (!admission.admit) return;
      logger_->Log(level, "rpc_refused", {{"method", method},
                                          {"code", code_name},
                                          {"error", Clip(status.error_message())},
                                          {"ms", ms},
                                          {"suppressed", admission.suppressed}});
      return;
    }
    case Outcome::kOk:
      break;
  }
  if (timed && slow_call_ > absl::ZeroDuration() && elapsed > slow_call_) {
    logger_->Warn("rpc_slow", {{"method", method},
                               {"code", code_name},
                               {"ms", ms},
                               {"slow_call_ms", absl::ToInt64Milliseconds(slow_call_)}});
    return;
  }
  logger_->Debug("rpc_finished", {{"method", method}, {"code", code_name}, {"ms", ms}});
}

void RequestLog::FlushSuppressed() { LogSuppressed(true); }

void RequestLog::LogSuppressed(bool all) {
  for (const auto& [key, count] : refused_.TakeSuppressed(all)) {
    // The key is "<method> <code>".
    const size_t space = key.rfind(' ');
    const std::string_view method = std::string_view(key).substr(0, space);
    const std::string_view code =
        space == std::string::npos ? "" : std::string_view(key).substr(space + 1);
    logger_->Warn("rpc_suppressed", {{"method", method}, {"code", code}, {"suppressed", count}});
  }
}

grpc::experimental::Interceptor* RequestLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  CallTiming timing = CallTiming::kWhole;
  switch (info->type()) {
    case Type::UNARY: timing = CallTiming::kWhole; break;
    case Type::CLIENT_STREAMING: timing = CallTiming::kAfterLastRead; break;
    case Type::SERVER_STREAMING:
    case Type::BIDI_STREAMING: timing = CallTiming::kNone; break;
  }
  return new RequestLogInterceptor(log_, info->method() != nullptr ? info->method() : "",
                                   timing);
}

}  // namespace trainyard::server
