#include "client/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trainyard::client {

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 3) {
    value /= 1024.0;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t total = static_cast<int64_t>(std::llround(seconds));
  const int64_t h = total / 3600, m = (total / 60) % 60, s = total % 60;
  if (h > 0) return absl::StrFormat("%d:%02d:%02d", h, m, s);
  return absl::StrFormat("%d:%02d", m, s);
}

std::string FormatProgressBar(int64_t done, int64_t total,
                              double bytes_per_second, int bar_width) {
  const bool have_rate = bytes_per_second > 0 && std::isfinite(bytes_per_second);
  const std::string rate =
      have_rate ? absl::StrCat(FormatBytes(static_cast<int64_t>(bytes_per_second)), "/s")
                : "--";
  if (total <= 0) return absl::StrCat(FormatBytes(done), "  ", rate);
  const double fraction =
      std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const int filled = static_cast<int>(std::floor(fraction * bar_width));
  const std::string bar = absl::StrCat(
      "[", std::string(filled, '#'), std::string(bar_width - filled, '.'), "]");
  const double eta =
      have_rate ? static_cast<double>(std::max<int64_t>(total - done, 0)) / bytes_per_second
                : -1;
  return absl::StrFormat("%s %3d%%  %s/%s  %s  ETA %s", bar,
                         static_cast<int>(std::floor(fraction * 100)),
                         FormatBytes(done), FormatBytes(total), rate,
                         FormatDuration(eta));
}

ProgressReporter::ProgressReporter(std::ostream& out, bool is_tty,
                                   std::string label,
                                   std::function<absl::Time()> now)
    : out_(out), is_tty_(is_tty), label_(std::move(label)), now_(std::move(now)) {}

void ProgressReporter::Update(int64_t done, int64_t total) {
  const absl::Time now = now_();
  if (!started_) {
    started_ = true;
    start_ = now;
    start_bytes_ = done;
  }
  if (!is_tty_) return;
  const bool complete = total > 0 && done >= total;
  if (!complete && now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  const double seconds = absl::ToDoubleSeconds(now - start_);
  const double rate =
      seconds > 0 ? static_cast<double>(done - start_bytes_) / seconds : 0;
  out_ << "\r" << label_ << " " << FormatProgressBar(done, total, rate) << "\x1b[K"
       << std::flush;
  drawn_ = true;
}

void ProgressReporter::Finish() {
  if (is_tty_ && drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace trainyard::client
