// Transfer progress: the text of a progress bar (pure, tested) and a small
// reporter that redraws it in place on a terminal and stays silent otherwise.
#ifndef TRAINYARD_CLIENT_PROGRESS_H_
#define TRAINYARD_CLIENT_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace trainyard::client {

// "999 B", "1.5 KiB", "12.0 MiB", "2.0 GiB" (binary units, one decimal).
std::string FormatBytes(int64_t bytes);

// "0:07", "12:34", "1:02:03"; "--:--" for a negative or non-finite value.
std::string FormatDuration(double seconds);

// One line, e.g. with bar_width 20:
//   "[##########..........]  50%  5.0 MiB/10.0 MiB  2.5 MiB/s  ETA 0:02"
// total <= 0 (unknown) drops the bar, percentage and ETA:
//   "5.0 MiB  2.5 MiB/s"
// A rate <= 0 shows "--" for the rate and "--:--" for the ETA.
std::string FormatProgressBar(int64_t done, int64_t total,
                              double bytes_per_second, int bar_width = 24);

// Feeds a ProgressFn into a stream. On a terminal the bar is redrawn in place
// ("\r...\x1b[K") at most every 100 ms and on completion; otherwise nothing
// is drawn, so piped output stays clean. The rate is the average since the
// first update (so a resumed download counts only this session's bytes).
class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, bool is_tty, std::string label,
                   std::function<absl::Time()> now = absl::Now);
  void Update(int64_t done, int64_t total);
  // Ends the line on a terminal (call once, after the transfer).
  void Finish();

 private:
  std::ostream& out_;
  bool is_tty_;
  std::string label_;
  std::function<absl::Time()> now_;
  bool started_ = false;
  bool drawn_ = false;
  absl::Time start_;
  int64_t start_bytes_ = 0;
  absl::Time last_draw_ = absl::InfinitePast();
};

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_PROGRESS_H_
