#include "server/logger.h"

#include <errno.h>
#include <unistd.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace trainyard::server {
namespace {

// The time of day, for timestamps people read (Clock::Steady is monotonic
// and has no date).
class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

const Clock* Wall() {
  static const Clock* const clock = new WallClock;  // leaked: see Clock::Steady
  return clock;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// A text-format value goes bare when it cannot be misread: not empty, and
// only printable ASCII other than '"' and '='.
bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '=') return true;
  }
  return false;
}

// Quoted, with backslash escapes for quote, backslash and control bytes;
// other bytes (UTF-8 text) as they are, so a person reads them.
void AppendTextQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          absl::StrAppendFormat(out, "\\x%02x", c);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendTextValue(std::string_view s, std::string* out) {
  if (NeedsQuotes(s)) {
    AppendTextQuoted(s, out);
  } else {
    out->append(s);
  }
}

std::string_view UpperLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "INFO";
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("must be debug, info, warn or error, got \"", std::string(name.substr(0, 32)),
                   "\""));
}

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("must be text or json, got \"", std::string(name.substr(0, 32)), "\""));
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void AppendJsonEscaped(std::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default:
          if (c < 0x20 || c == 0x7F) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out->append("\\ufffd");  // one invalid byte
      ++i;
      continue;
    }
    const std::string_view seq = s.substr(i, n);
    // U+2028/U+2029 are valid JSON but end a line in JavaScript.
    if (seq == "\xE2\x80\xA8") {
      out->append("\\u2028");
    } else if (seq == "\xE2\x80\xA9") {
      out->append("\\u2029");
    } else {
      out->append(seq);
    }
    i += n;
  }
}

// ------------------------------------------------------------------ sinks

void FdLogSink::Write(std::string_view line) {
  absl::MutexLock lock(&mu_);
  while (!line.empty()) {
    const ssize_t n = ::write(fd_, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    line.remove_prefix(static_cast<size_t>(n));
  }
}

FdLogSink* FdLogSink::Stderr() {
  static FdLogSink* const sink = new FdLogSink(STDERR_FILENO);
  return sink;
}

// ----------------------------------------------------------------- logger

Logger::Logger(LogFormat format, LogLevel level, LogSink* sink, const Clock* wall)
    : format_(format),
      level_(level),
      sink_(sink != nullptr ? sink : FdLogSink::Stderr()),
      wall_(wall != nullptr ? wall : Wall()) {}

const Logger* Logger::Default() {
  static const Logger* const logger = new Logger;
  return logger;
}

void Logger::Log(LogLevel level, std::string_view event, LogFields fields) const {
  if (!Enabled(level)) return;
  sink_->Write(Format(wall_->Now(), level, event, fields));
}

void Logger::Problem(LogLevel level, std::string_view event, std::string_view job_id,
                     std::string_view what, const absl::Status& status) const {
  if (status.ok() || !Enabled(level)) return;
  const std::string code = absl::StatusCodeToString(status.code());
  if (job_id.empty()) {
    Log(level, event, {{"what", what}, {"code", code}, {"error", status.message()}});
  } else {
    Log(level, event,
        {{"job", job_id}, {"what", what}, {"code", code}, {"error", status.message()}});
  }
}

std::string Logger::Format(absl::Time time, LogLevel level, std::string_view event,
                           LogFields fields) const {
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  std::string line;
  line.reserve(128);
  if (format_ == LogFormat::kText) {
    line.append(ts).append(" ").append(UpperLevelName(level)).append(" ");
    AppendTextValue(event, &line);
    for (const LogField& f : fields) {
      line.push_back(' ');
      AppendTextValue(f.key_, &line);
      line.push_back('=');
      switch (f.kind_) {
        case LogField::Kind::kString: AppendTextValue(f.str_, &line); break;
        case LogField::Kind::kInt: absl::StrAppend(&line, f.int_); break;
        case LogField::Kind::kDouble: absl::StrAppend(&line, f.double_); break;
        case LogField::Kind::kBool: line.append(f.bool_ ? "true" : "false"); break;
      }
    }
  } else {
    line.append("{\"ts\":\"").append(ts).append("\",\"level\":\"");
    line.append(LogLevelName(level)).append("\",\"event\":\"");
    AppendJsonEscaped(event, &line);
    line.push_back('"');
    for (const LogField& f : fields) {
      line.append(",\"");
      AppendJsonEscaped(f.key_, &line);
      line.append("\":");
      switch (f.kind_) {
        case LogField::Kind::kString:
          line.push_back('"');
          AppendJsonEscaped(f.str_, &line);
          line.push_back('"');
          break;
        case LogField::Kind::kInt: absl::StrAppend(&line, f.int_); break;
        case LogField::Kind::kDouble:
          // JSON has no NaN or infinity: those go as strings.
          if (std::isfinite(f.double_)) {
            absl::StrAppend(&line, f.double_);
          } else {
            line.append(std::isnan(f.double_) ? "\"NaN\""
                                              : (f.double_ > 0 ? "\"Infinity\"" : "\"-Infinity\""));
          }
          break;
        case LogField::Kind::kBool: line.append(f.bool_ ? "true" : "false"); break;
      }
    }
    line.push_back('}');
  }
  line.push_back('\n');
  return line;
}

}  // namespace trainyard::server
