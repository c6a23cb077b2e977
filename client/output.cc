#include "client/output.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/errors.h"
#include "google/protobuf/util/json_util.h"

namespace trainyard::client {
namespace {

std::string Json(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) return "{}";  // only on invalid UTF-8 in a string field
  if (pretty && (text.empty() || text.back() != '\n')) text += '\n';
  return text;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  return Json(message, true);
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  return Json(message, false);
}

std::string JobStateName(v1::JobState state) {
  if (state == v1::JOB_STATE_UNSPECIFIED) return "UNKNOWN";
  return v1::JobState_Name(state);
}

absl::StatusOr<v1::JobState> ParseJobState(const std::string& text) {
  v1::JobState state;
  if (v1::JobState_Parse(absl::AsciiStrToUpper(text), &state) &&
      state != v1::JOB_STATE_UNSPECIFIED) {
    return state;
  }
  return UsageError(absl::StrFormat(
      "--state: unknown state '%s' (queued, running, paused, succeeded, failed, "
      "cancelled)",
      text));
}

std::string FormatTimestamp(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string FormatMetric(double value) {
  if (value < 0) return "-";
  return absl::StrFormat("%.4f", value);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    text += line + "\n";
  }
  return text;
}

}  // namespace trainyard::client
