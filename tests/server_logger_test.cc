// The operator log (server/logger.h): both formats line for line, escaping
// of any string (quotes, control characters, UTF-8, invalid UTF-8), the level
// filter, whole lines from concurrent threads through a real pipe, and the
// rate limiter (server/log_rate_limiter.h) and request log
// (server/request_log.h) on a clock that moves only when told.
#include "server/logger.h"

#include <unistd.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/log_rate_limiter.h"
#include "server/options.h"
#include "server/request_log.h"
#include "tests/testing/log_capture.h"

namespace trainyard::server {
namespace {

using testing::CaptureSink;
using testing::ManualClock;
using testing::ParseJsonLine;

// 2025-12-02T05:56:14.123Z, always.
class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixMillis(1764654974123); }
};

TEST(LoggerTest, TextLineHasTimeLevelEventAndFieldsQuotedWhereNeeded) {
  CaptureSink sink;
  FixedClock wall;
  Logger log(LogFormat::kText, LogLevel::kInfo, &sink, &wall);
  log.Info("job_submitted", {{"job", "job-1"},
                             {"name", "my job"},
                             {"threads", 2},
                             {"resumed", false},
                             {"loss", 0.5},
                             {"empty", ""},
                             {"eq", "a=b"},
                             {"quote", "say \"hi\"\n\tnext\x01"},
                             {"utf8", "naïve"}});
  ASSERT_EQ(sink.Lines().size(), 1u);
  EXPECT_EQ(sink.Lines()[0],
            "2025-12-02T05:56:14.123Z INFO job_submitted job=job-1 name=\"my job\" threads=2 "
            "resumed=false loss=0.5 empty=\"\" eq=\"a=b\" "
            "quote=\"say \\\"hi\\\"\\n\\tnext\\x01\" utf8=\"naïve\"\n");
}

TEST(LoggerTest, JsonLineIsOneObjectWithTsLevelEventAndTypedFields) {
  CaptureSink sink;
  FixedClock wall;
  Logger log(LogFormat::kJson, LogLevel::kInfo, &sink, &wall);
  log.Warn("job_finished", {{"job", "job-1"},
                            {"step", int64_t{1} << 40},
                            {"ok", true},
                            {"loss", 0.25},
                            {"nan", std::nan("")},
                            {"inf", -INFINITY}});
  ASSERT_EQ(sink.Lines().size(), 1u);
  EXPECT_EQ(sink.Lines()[0],
            "{\"ts\":\"2025-12-02T05:56:14.123Z\",\"level\":\"warn\",\"event\":\"job_finished\","
            "\"job\":\"job-1\",\"step\":1099511627776,\"ok\":true,\"loss\":0.25,"
            "\"nan\":\"NaN\",\"inf\":\"-Infinity\"}\n");
  const google::protobuf::Struct s = ParseJsonLine(sink.Lines()[0]);
  EXPECT_EQ(testing::Str(s, "level"), "warn");
  EXPECT_EQ(testing::Num(s, "step"), 1099511627776.0);
}

TEST(LoggerTest, JsonEscapesAnyStringIntoValidJson) {
  // Quote, backslash, every control character, DEL, 2- 3- and 4-byte UTF-8,
  // U+2028, and invalid UTF-8: a lone continuation byte, a truncated
  // sequence, an overlong '/', a surrogate, 0xFF.
  std::string nasty = "q\"b\\";
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "\x7f" "é€😀" "\xE2\x80\xA8" "|\x80|\xC3|\xC0\xAF|\xED\xA0\x80|\xFF";
  std::string escaped;
  AppendJsonEscaped(nasty, &escaped);
  std::string want = "q\\\"b\\\\\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                     "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014"
                     "\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e"
                     "\\u001f\\u007fé€😀\\u2028|\\ufffd|\\ufffd|\\ufffd\\ufffd|"
                     "\\ufffd\\ufffd\\ufffd|\\ufffd";
  EXPECT_EQ(escaped, want);

  CaptureSink sink;
  Logger log(LogFormat::kJson, LogLevel::kDebug, &sink);
  log.Info("e\"vent", {{"k\ney", nasty}});
  const google::protobuf::Struct s = ParseJsonLine(sink.Lines().at(0));
  EXPECT_EQ(testing::Str(s, "event"), "e\"vent");
  std::string decoded = "q\"b\\";
  for (int c = 0; c < 0x20; ++c) decoded.push_back(static_cast<char>(c));
  decoded += "\x7f" "é€😀" "\xE2\x80\xA8" "|\uFFFD|\uFFFD|\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD";
  EXPECT_EQ(testing::Str(s, "k\ney"), decoded);
}

TEST(LoggerTest, LevelFilterDropsLinesBelowTheLevel) {
  CaptureSink sink;
  Logger info(LogFormat::kText, LogLevel::kInfo, &sink);
  info.Debug("d");
  info.Info("i");
  info.Warn("w");
  info.Error("e");
  Logger error(LogFormat::kText, LogLevel::kError, &sink);
  error.Info("i2");
  error.Warn("w2");
  error.Error("e2");
  std::vector<std::string> events;
  for (const std::string& line : sink.Lines()) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    ASSERT_GE(parts.size(), 3u) << line;
    events.push_back(absl::StrCat(parts[1], ":", absl::StripSuffix(parts[2], "\n")));
  }
  EXPECT_EQ(events, (std::vector<std::string>{"INFO:i", "WARN:w", "ERROR:e", "ERROR:e2"}));
  EXPECT_FALSE(info.Enabled(LogLevel::kDebug));
  EXPECT_TRUE(Logger(LogFormat::kText, LogLevel::kDebug, &sink).Enabled(LogLevel::kDebug));
}

TEST(LoggerTest, ProblemLogsCodeAndErrorAndIgnoresOk) {
  CaptureSink sink;
  Logger log(LogFormat::kJson, LogLevel::kInfo, &sink);
  log.Problem(LogLevel::kWarn, "store_error", "job-1", "progress not recorded",
              absl::OkStatus());
  EXPECT_TRUE(sink.Lines().empty());
  log.Problem(LogLevel::kError, "store_error", "job-1", "progress not recorded",
              absl::ResourceExhaustedError("disk full at /d/trainyard.db"));
  const google::protobuf::Struct s = ParseJsonLine(sink.Lines().at(0));
  EXPECT_EQ(testing::Str(s, "level"), "error");
  EXPECT_EQ(testing::Str(s, "job"), "job-1");
  EXPECT_EQ(testing::Str(s, "what"), "progress not recorded");
  EXPECT_EQ(testing::Str(s, "code"), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(testing::Str(s, "error"), "disk full at /d/trainyard.db");
}

TEST(LoggerTest, ParseNamesTheChoicesAndOptionsNameTheFlag) {
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogLevel("loud").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLogFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);

  ServerOptions o;
  o.cores = 2;
  o.log_format = "xml";
  absl::Status s = o.Finalize();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--log-format must be text or json, got \"xml\"");
  o.log_format = "json";
  o.log_level = "loud";
  s = o.Finalize();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--log-level must be debug, info, warn or error, got \"loud\"");
  o.log_level = "debug";
  o.slow_call_ms = -1;
  s = o.Finalize();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--slow-call-ms"), std::string::npos) << s;
  o.slow_call_ms = 0;
  EXPECT_TRUE(o.Finalize().ok());
  EXPECT_EQ(o.MakeLogger().format(), LogFormat::kJson);
  EXPECT_EQ(o.MakeLogger().level(), LogLevel::kDebug);
}

TEST(LoggerTest, ConcurrentLinesThroughAPipeNeverInterleave) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  {
    FdLogSink sink(fds[1]);
    Logger log(LogFormat::kJson, LogLevel::kInfo, &sink);
    // Lines longer than PIPE_BUF (4096), where one write(2) alone is not
    // atomic: the sink's lock must keep them whole.
    const std::string long_value(6000, 'x');
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) log.Info("line", {{"t", t}, {"i", i}, {"v", long_value}});
      });
    }
    for (std::thread& w : writers) w.join();
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);
  std::vector<std::string> lines = absl::StrSplit(got, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 800u);
  for (const std::string& line : lines) {
    const google::protobuf::Struct s = ParseJsonLine(line + "\n");
    ASSERT_EQ(testing::Str(s, "v").size(), 6000u) << line.substr(0, 200);
  }
}

// ------------------------------------------------------------ rate limiter

TEST(LogRateLimiterTest, AdmitsNPerWindowAndReportsWhatItHeldBack) {
  ManualClock clock;
  LogRateLimiter limiter(3, absl::Seconds(1), &clock);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    const LogRateLimiter::Admission a = limiter.Admit("GetJob INVALID_ARGUMENT");
    if (a.admit) {
      ++admitted;
      EXPECT_EQ(a.suppressed, 0);
    }
  }
  EXPECT_EQ(admitted, 3);
  // Another key has its own budget.
  EXPECT_TRUE(limiter.Admit("SubmitJob NOT_FOUND").admit);
  // The window has not ended: nothing to hand out yet.
  EXPECT_TRUE(limiter.TakeSuppressed().empty());
  clock.Advance(absl::Milliseconds(999));
  EXPECT_FALSE(limiter.Admit("GetJob INVALID_ARGUMENT").admit);  // the 8th held back
  clock.Advance(absl::Milliseconds(1));
  // A new window: the first line carries the count held back.
  const LogRateLimiter::Admission next = limiter.Admit("GetJob INVALID_ARGUMENT");
  EXPECT_TRUE(next.admit);
  EXPECT_EQ(next.suppressed, 8);
  EXPECT_EQ(limiter.Admit("GetJob INVALID_ARGUMENT").suppressed, 0);
}

TEST(LogRateLimiterTest, TakeSuppressedReportsAFloodThatStopped) {
  ManualClock clock;
  LogRateLimiter limiter(2, absl::Seconds(1), &clock);
  for (int i = 0; i < 7; ++i) limiter.Admit("a");
  for (int i = 0; i < 3; ++i) limiter.Admit("b");
  EXPECT_EQ(limiter.TakeSuppressed(/*all=*/true),
            (std::vector<std::pair<std::string, int64_t>>{{"a", 5}, {"b", 1}}));
  EXPECT_TRUE(limiter.TakeSuppressed(true).empty());  // handed out once
  for (int i = 0; i < 4; ++i) limiter.Admit("a");      // same window: all 4 held back
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(limiter.TakeSuppressed(),
            (std::vector<std::pair<std::string, int64_t>>{{"a", 4}}));
  EXPECT_EQ(limiter.Admit("a").suppressed, 0);  // not counted twice
}

TEST(LogRateLimiterTest, KeysAreBounded) {
  ManualClock clock;
  LogRateLimiter limiter(1, absl::Seconds(1), &clock);
  for (size_t i = 0; i < LogRateLimiter::kMaxKeys; ++i) {
    EXPECT_TRUE(limiter.Admit(absl::StrCat("k", i)).admit);
  }
  // Past the bound, new keys share one budget.
  EXPECT_TRUE(limiter.Admit("new-1").admit);
  EXPECT_FALSE(limiter.Admit("new-2").admit);
  EXPECT_EQ(limiter.TakeSuppressed(true),
            (std::vector<std::pair<std::string, int64_t>>{{"(other)", 1}}));
}

// ------------------------------------------------------------ request log

TEST(RequestLogTest, RefusedFloodIsRateLimitedWithTheSuppressedCount) {
  CaptureSink sink;
  ManualClock clock;
  Logger logger(LogFormat::kJson, LogLevel::kInfo, &sink);
  RequestLog log(&logger, &clock, absl::Seconds(1));
  const grpc::Status bad(grpc::StatusCode::INVALID_ARGUMENT, "job_id \"x\" is not a job id");
  for (int i = 0; i < 40; ++i) log.OnFinished("/s/GetJob", CallTiming::kWhole, bad, {});
  auto refused = testing::Events(sink, "rpc_refused");
  ASSERT_EQ(refused.size(), static_cast<size_t>(RequestLog::kRefusedPerSecond));
  EXPECT_EQ(testing::Str(refused[0], "method"), "/s/GetJob");
  EXPECT_EQ(testing::Str(refused[0], "code"), "INVALID_ARGUMENT");
  EXPECT_EQ(testing::Str(refused[0], "error"), "job_id \"x\" is not a job id");
  EXPECT_EQ(testing::Str(refused[0], "level"), "info");
  clock.Advance(absl::Milliseconds(1500));
  log.OnFinished("/s/GetJob", CallTiming::kWhole, bad, {});
  refused = testing::Events(sink, "rpc_refused");
  ASSERT_EQ(refused.size(), static_cast<size_t>(RequestLog::kRefusedPerSecond) + 1);
  EXPECT_EQ(testing::Num(refused.back(), "suppressed"), 40 - RequestLog::kRefusedPerSecond);
  // Auth refusals are warn; a flood that stops is reported at shutdown.
  const grpc::Status unauth(grpc::StatusCode::UNAUTHENTICATED, "missing token");
  for (int i = 0; i < 7; ++i) log.OnFinished("/s/ListJobs", CallTiming::kWhole, unauth, {});
  EXPECT_EQ(testing::Str(testing::Events(sink, "rpc_refused").back(), "level"), "warn");
  log.FlushSuppressed();
  auto summary = testing::Events(sink, "rpc_suppressed");
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(testing::Str(summary[0], "method"), "/s/ListJobs");
  EXPECT_EQ(testing::Str(summary[0], "code"), "UNAUTHENTICATED");
  EXPECT_EQ(testing::Num(summary[0], "suppressed"), 7 - RequestLog::kRefusedPerSecond);
}

TEST(RequestLogTest, InternalErrorsAreAlwaysLoggedAtError) {
  CaptureSink sink;
  ManualClock clock;
  Logger logger(LogFormat::kJson, LogLevel::kError, &sink);
  RequestLog log(&logger, &clock, absl::Seconds(1));
  for (grpc::StatusCode code : {grpc::StatusCode::INTERNAL, grpc::StatusCode::DATA_LOSS,
                                grpc::StatusCode::UNKNOWN}) {
    for (int i = 0; i < 20; ++i) {
      log.OnFinished("/s/DownloadCheckpoint", CallTiming::kNone, grpc::Status(code, "bad"), {});
    }
  }
  auto failed = testing::Events(sink, "rpc_failed");
  ASSERT_EQ(failed.size(), 60u);
  EXPECT_EQ(testing::Str(failed[20], "code"), "DATA_LOSS");
  EXPECT_EQ(testing::Str(failed[20], "level"), "error");
  // Refusals are below --log-level error: not logged at all.
  log.OnFinished("/s/GetJob", CallTiming::kWhole,
                 grpc::Status(grpc::StatusCode::NOT_FOUND, "no"), {});
  EXPECT_TRUE(testing::Events(sink, "rpc_refused").empty());
}

TEST(RequestLogTest, SlowCallsAreWarnedUnlessStreamedOrOff) {
  CaptureSink sink;
  ManualClock clock;
  Logger logger(LogFormat::kJson, LogLevel::kDebug, &sink);
  RequestLog log(&logger, &clock, absl::Milliseconds(1000));
  log.OnFinished("/s/Predict", CallTiming::kWhole, grpc::Status::OK, absl::Milliseconds(1500));
  log.OnFinished("/s/GetJob", CallTiming::kWhole, grpc::Status::OK, absl::Milliseconds(1000));
  log.OnFinished("/s/WatchJob", CallTiming::kNone, grpc::Status::OK, absl::Hours(1));
  log.OnFinished("/s/UploadDataset", CallTiming::kAfterLastRead, grpc::Status::OK,
                 absl::Seconds(3));
  auto slow = testing::Events(sink, "rpc_slow");
  ASSERT_EQ(slow.size(), 2u);
  EXPECT_EQ(testing::Str(slow[0], "method"), "/s/Predict");
  EXPECT_EQ(testing::Num(slow[0], "ms"), 1500);
  EXPECT_EQ(testing::Num(slow[0], "slow_call_ms"), 1000);
  EXPECT_EQ(testing::Str(slow[0], "level"), "warn");
  EXPECT_EQ(testing::Str(slow[1], "method"), "/s/UploadDataset");
  // The others are debug lines.
  auto finished = testing::Events(sink, "rpc_finished");
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(testing::Str(finished[1], "method"), "/s/WatchJob");

  CaptureSink off_sink;
  Logger off_logger(LogFormat::kJson, LogLevel::kInfo, &off_sink);
  RequestLog off(&off_logger, &clock, absl::ZeroDuration());
  off.OnFinished("/s/Predict", CallTiming::kWhole, grpc::Status::OK, absl::Hours(1));
  EXPECT_TRUE(off_sink.Lines().empty());
}

}  // namespace
}  // namespace trainyard::server
