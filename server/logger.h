// The server's operator log: one line per event an operator cares about
// (start with the effective options, a job submitted/started/finished, a
// checkpoint saved, recovery actions, refused and slow calls, store errors),
// each with a stable event name and key=value fields. The events and their
// fields are listed in docs/architecture.md ("Logs").
//
//   logger.Info("job_submitted", {{"job", id}, {"threads", 2}});
//
// text:  2026-12-02T05:56:14.123Z INFO job_submitted job=job-1 threads=2
// json:  {"ts":"2026-12-02T05:56:14.123Z","level":"info","event":"job_submitted",
//         "job":"job-1","threads":2}
//
// Each line reaches the sink in one Write call (FdLogSink: one write(2)), so
// lines from concurrent threads never interleave. Logger itself is immutable
// after construction and safe to share; the sink holds the lock.
//
// Not for the per-step path: a training step never logs (the event log and
// epoch summaries carry progress).
#ifndef TRAINYARD_SERVER_LOGGER_H_
#define TRAINYARD_SERVER_LOGGER_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace trainyard::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// "debug" | "info" | "warn" | "error"; INVALID_ARGUMENT listing them.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
// "text" | "json"; INVALID_ARGUMENT listing them.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);
std::string_view LogLevelName(LogLevel level);  // "info", ...

// Where finished lines go. Write is called from any thread with one whole
// line, '\n' included, and must not split it.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(std::string_view line) = 0;
};

// A file descriptor (stderr by default). Each line is one write(2), retried
// only for the rest of a short write or on EINTR; mu_ keeps two threads'
// retries from interleaving. Errors are dropped: there is nowhere left to
// report them.
class FdLogSink final : public LogSink {
 public:
  explicit FdLogSink(int fd) : fd_(fd) {}
  void Write(std::string_view line) override;
  // The process's stderr sink. Never destroyed (threads may log at exit).
  static FdLogSink* Stderr();

 private:
  const int fd_;
  absl::Mutex mu_;  // held across the write(2) calls of one line
};

// One key=value of a line. Keeps views of strings: use it within the
// full expression of the Log call (temporaries live that long).
class LogField {
 public:
  LogField(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), str_(value) {}
  LogField(std::string_view key, const char* value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
#ifndef ABSL_USES_STD_STRING_VIEW
  // Debian 12's abseil has its own string_view (absl::Status::message()).
  LogField(std::string_view key, absl::string_view value)
      : LogField(key, std::string_view(value.data(), value.size())) {}
#endif
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  LogField(std::string_view key, T value)
      : key_(key), kind_(Kind::kInt), int_(static_cast<int64_t>(value)) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), double_(value) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), bool_(value) {}

 private:
  friend class Logger;
  enum class Kind { kString, kInt, kDouble, kBool };
  std::string_view key_;
  Kind kind_;
  std::string_view str_;
  int64_t int_ = 0;
  double double_ = 0;
  bool bool_ = false;
};

using LogFields = std::initializer_list<LogField>;

class Logger {
 public:
  // Text at info on stderr.
  Logger() : Logger(LogFormat::kText, LogLevel::kInfo) {}
  // `sink` null: stderr; `wall` null: the real time of day (absl::Now). Both
  // must outlive the logger.
  Logger(LogFormat format, LogLevel level, LogSink* sink = nullptr, const Clock* wall = nullptr);

  // The process-wide default (text, info, stderr) for components built
  // without one (tests); never destroyed.
  static const Logger* Default();

  bool Enabled(LogLevel level) const { return level >= level_; }
  LogFormat format() const { return format_; }
  LogLevel level() const { return level_; }

  // Writes one line when `level` passes the filter.
  void Log(LogLevel level, std::string_view event, LogFields fields = {}) const;
  void Debug(std::string_view event, LogFields fields = {}) const {
    Log(LogLevel::kDebug, event, fields);
  }
  void Info(std::string_view event, LogFields fields = {}) const {
    Log(LogLevel::kInfo, event, fields);
  }
  void Warn(std::string_view event, LogFields fields = {}) const {
    Log(LogLevel::kWarn, event, fields);
  }
  void Error(std::string_view event, LogFields fields = {}) const {
    Log(LogLevel::kError, event, fields);
  }
  // A failure that does not stop the work in progress (what replaced
  // "trainyard-server: job <id>: <what>: <status>"): `event` with job (when
  // not empty), what, code and error. No-op for OK.
  void Problem(LogLevel level, std::string_view event, std::string_view job_id,
               std::string_view what, const absl::Status& status) const;

  // The line (with its '\n') that Log writes at `time`.
  std::string Format(absl::Time time, LogLevel level, std::string_view event,
                     LogFields fields) const;

 private:
  LogFormat format_;
  LogLevel level_;
  LogSink* sink_;
  const Clock* wall_;
};

// `s` as the contents of a JSON string (no quotes): quote, backslash and
// control characters escaped, valid UTF-8 kept, each byte of invalid UTF-8
// replaced by U+FFFD, so the result is always valid JSON text.
void AppendJsonEscaped(std::string_view s, std::string* out);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_LOGGER_H_
