// Captures operator-log lines (server/logger.h) for tests: a LogSink that
// keeps every line, json-format lines parsed with protobuf's JSON parser
// (google.protobuf.Struct), so a line that is not valid JSON fails the test.
#ifndef TRAINYARD_TESTS_TESTING_LOG_CAPTURE_H_
#define TRAINYARD_TESTS_TESTING_LOG_CAPTURE_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/logger.h"

namespace trainyard::testing {

class CaptureSink final : public server::LogSink {
 public:
  void Write(std::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> Lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// One json line, parsed; an empty Struct (and a test failure) if invalid.
inline google::protobuf::Struct ParseJsonLine(const std::string& line) {
  google::protobuf::Struct s;
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n') << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per entry: " << line;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &s);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in: " << line;
  return s;
}

inline std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}
inline double Num(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? -1e300 : it->second.number_value();
}
inline bool Has(const google::protobuf::Struct& s, const std::string& key) {
  return s.fields().contains(key);
}

// The json lines of `sink` whose event is `event` and that `match` accepts.
inline std::vector<google::protobuf::Struct> Events(
    const CaptureSink& sink, std::string_view event,
    const std::function<bool(const google::protobuf::Struct&)>& match = nullptr) {
  std::vector<google::protobuf::Struct> out;
  for (const std::string& line : sink.Lines()) {
    google::protobuf::Struct s = ParseJsonLine(line);
    if (Str(s, "event") != event) continue;
    if (match && !match(s)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

// Waits up to `seconds` for a line Events would return; the first one.
inline std::optional<google::protobuf::Struct> WaitEvent(
    const CaptureSink& sink, std::string_view event,
    const std::function<bool(const google::protobuf::Struct&)>& match = nullptr,
    double seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    std::vector<google::protobuf::Struct> found = Events(sink, event, match);
    if (!found.empty()) return found.front();
    if (std::chrono::steady_clock::now() > end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A clock that moves only when told to (rate limits, call durations).
class ManualClock final : public Clock {
 public:
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch() + absl::Hours(1);
};

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_LOG_CAPTURE_H_
