// Pure text of the CLI: progress bar, byte and duration formats, the loss
// chart, tables and JSON output.
#include <gtest/gtest.h>

#include <cmath>
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

TEST(Chart, TwoPointLineGivesExactBrailleCellAndAxes) {
  // One cell holds 2x4 dots: (0,0) is the bottom-left dot, (1,1) the
  // top-right; the line between them sets dots (0,3) (0,2) (1,1) (1,0)
  // counted from the top: bits 0x40|0x04|0x10|0x08 = U+285C.
  const std::vector<std::string> rows = RenderLineChart({{{0, 1}, {0, 1}, ""}}, 1, 1);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], "        1 ┤⡜");
  EXPECT_EQ(rows[1], "          └─");
  EXPECT_EQ(rows[2], "           0 1");
}

TEST(Chart, MarkersSitInTheirCellsAndLabelsSpanAllSeries) {
  // A rising line over x 0..10 and two markers; the y range is the union.
  const std::vector<ChartSeries> series = {{{0, 10}, {0, 4}, ""}, {{0, 10}, {2, 2}, "●"}};
  const std::vector<std::string> rows = RenderLineChart(series, 6, 3);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_TRUE(rows[0].starts_with("        4 ┤"));
  EXPECT_TRUE(rows[1].starts_with("        2 ┤●"));  // the midpoint row
  EXPECT_TRUE(rows[1].ends_with("●")) << rows[1];
  // The line starts in the bottom-left cell.
  const std::string bottom_label = "        0 ┤";
  ASSERT_TRUE(rows[2].starts_with(bottom_label)) << rows[2];
  EXPECT_NE(rows[2].substr(bottom_label.size(), 1), " ") << rows[2];
  EXPECT_EQ(rows[4], "           0    10");
}

TEST(Chart, PointsInOneDotColumnAreAveraged) {
  // Each of the two dot columns gets 0, 4, 2: mean 2, so one flat line at
  // dot row round(2/4 * 3) = 2 in both columns (bits 0x04|0x20 = U+2824),
  // not strokes through 0 and 4.
  const std::vector<std::string> rows =
      RenderLineChart({{{0, 0, 0, 1, 1, 1}, {0, 4, 2, 0, 4, 2}, ""}}, 1, 1);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], "        4 ┤⠤");
}

TEST(Chart, NonFinitePointsAreSkippedAndNothingFiniteGivesNoRows) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // The infinite loss of a diverged step does not squash the axis.
  const std::vector<std::string> rows = RenderLineChart({{{1, 2, 3}, {1, inf, 3}, ""}}, 4, 2);
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(rows[0].starts_with("        3 ┤")) << rows[0];
  EXPECT_TRUE(RenderLineChart({{{1}, {nan}, ""}}, 4, 2).empty());
  EXPECT_TRUE(RenderLineChart({}, 4, 2).empty());
  EXPECT_TRUE(RenderLineChart({{{1}, {1}, ""}}, 0, 2).empty());
}

TEST(Chart, SmoothIsADebiasedMovingAverage) {
  EXPECT_EQ(Smooth({1, 1, 1}, 0.6), (std::vector<double>{1, 1, 1}));
  const std::vector<double> s = Smooth({0, 10}, 0.5);
  EXPECT_DOUBLE_EQ(s[0], 0);
  EXPECT_DOUBLE_EQ(s[1], 5 / 0.75);
  EXPECT_EQ(Smooth({3, 7}, 0), (std::vector<double>{3, 7}));
  const std::vector<double> gap = Smooth({1, std::numeric_limits<double>::quiet_NaN(), 3}, 0.5);
  EXPECT_TRUE(std::isnan(gap[1]));
  EXPECT_DOUBLE_EQ(gap[2], 1.75 / 0.75);  // the NaN did not enter the average
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
