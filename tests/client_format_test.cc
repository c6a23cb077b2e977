// Pure text of the CLI: progress bar, byte and duration formats, the loss
// chart, tables and JSON output.
#include <gtest/gtest.h>

#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "client/chart.h"
#include "client/output.h"
#include "client/progress.h"

namespace trainyard::client {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(FormatBytes, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(12 * kMiB), "12.0 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3.0 GiB");
}

TEST(FormatDuration, MinutesSecondsAndHours) {
  EXPECT_EQ(FormatDuration(7), "0:07");
  EXPECT_EQ(FormatDuration(754), "12:34");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "--:--");
}

TEST(ProgressBar, HalfDoneShowsBytesRateAndTimeLeft) {
  EXPECT_EQ(FormatProgressBar(5 * kMiB, 10 * kMiB, 2.5 * kMiB, 20),
            "[##########..........]  50%  5.0 MiB/10.0 MiB  2.5 MiB/s  ETA 0:02");
}

TEST(ProgressBar, CompleteAndStartingStates) {
  EXPECT_EQ(FormatProgressBar(10 * kMiB, 10 * kMiB, kMiB, 10),
            "[##########] 100%  10.0 MiB/10.0 MiB  1.0 MiB/s  ETA 0:00");
  // No rate yet: no time left either.
  EXPECT_EQ(FormatProgressBar(0, 4096, 0, 4), "[....]   0%  0 B/4.0 KiB  --  ETA --:--");
}

TEST(ProgressBar, UnknownTotalDropsBarAndEta) {
  EXPECT_EQ(FormatProgressBar(3 * kMiB, 0, kMiB), "3.0 MiB  1.0 MiB/s");
}

TEST(ProgressReporter, DrawsInPlaceOnTerminalOnly) {
  absl::Time now = absl::UnixEpoch();
  auto clock = [&] { return now; };
  std::ostringstream tty, pipe;
  ProgressReporter on_tty(tty, true, "up", clock);
  ProgressReporter on_pipe(pipe, false, "up", clock);
  for (ProgressReporter* r : {&on_tty, &on_pipe}) {
    r->Update(0, 2 * kMiB);
  }
  now += absl::Seconds(1);
  for (ProgressReporter* r : {&on_tty, &on_pipe}) {
    r->Update(2 * kMiB, 2 * kMiB);
    r->Finish();
  }
  EXPECT_EQ(pipe.str(), "");
  const std::string text = tty.str();
  EXPECT_NE(text.find("\rup [#"), std::string::npos) << text;
  // 2 MiB in the one second since the first update.
  EXPECT_NE(text.find("100%  2.0 MiB/2.0 MiB  2.0 MiB/s  ETA 0:00\x1b[K\n"), std::string::npos)
      << text;
}

TEST(Chart, KnownSeriesGivesExactRows) {
  // Levels 1 + round(v / 3 * 15) = 1, 6, 11, 16 of 16 (two rows of eight).
  const std::vector<std::string> rows = RenderChart({0, 1, 2, 3}, 10, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], "        3 │  ▃█");
  EXPECT_EQ(rows[1], "        0 │▁▆██");
}

TEST(Chart, LongSeriesIsAveragedIntoWidthBuckets) {
  // Pairs average to 3, 3, 1, 1.
  const std::vector<std::string> rows = RenderChart({4, 2, 3, 3, 1, 1, 0, 2}, 4, 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], "        3 │██▁▁");
}

TEST(Chart, ConstantSeriesAtHalfHeightAndNonFiniteSkipped) {
  const std::vector<std::string> rows =
      RenderChart({5, std::numeric_limits<double>::quiet_NaN(), 5, 5}, 10, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], "        5 │   ");
  EXPECT_EQ(rows[1], "        5 │███");
  EXPECT_TRUE(RenderChart({}, 10, 3).empty());
}

TEST(Table, PadsColumnsToWidestCell) {
  EXPECT_EQ(FormatTable({{"ID", "NAME"}, {"ds-1", "x"}, {"d", "longer"}}),
            "ID    NAME\n"
            "ds-1  x\n"
            "d     longer\n");
}

TEST(Json, OneDocumentWithDefaultsAndEnumNames) {
  v1::ListJobsResponse response;
  v1::Job* job = response.add_jobs();
  job->set_id("job-1");
  job->set_state(v1::RUNNING);
  const std::string json = ToJson(response);
  EXPECT_NE(json.find("\"id\": \"job-1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"state\": \"RUNNING\""), std::string::npos) << json;
  // Defaults are printed so scripts can rely on the key.
  EXPECT_NE(json.find("\"priority\": 0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"nextPageToken\": \"\""), std::string::npos) << json;
  EXPECT_EQ(json.back(), '\n');
  const std::string line = ToJsonLine(*job);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(JobStates, ParseAnyCaseAndRejectUnknown) {
  EXPECT_EQ(*ParseJobState("running"), v1::RUNNING);
  EXPECT_EQ(*ParseJobState("CANCELLED"), v1::CANCELLED);
  EXPECT_FALSE(ParseJobState("done").ok());
  EXPECT_FALSE(ParseJobState("job_state_unspecified").ok());
  EXPECT_EQ(JobStateName(v1::JOB_STATE_UNSPECIFIED), "UNKNOWN");
}

TEST(Timestamp, UtcOrDashWhenUnset) {
  google::protobuf::Timestamp t;
  EXPECT_EQ(FormatTimestamp(t), "-");
  t.set_seconds(1714566896);  // 2024-05-01 12:34:56 UTC
  EXPECT_EQ(FormatTimestamp(t), "2024-05-01 12:34:56Z");
  EXPECT_EQ(FormatMetric(-1), "-");
  EXPECT_EQ(FormatMetric(0.91234), "0.9123");
}

}  // namespace
}  // namespace trainyard::client
