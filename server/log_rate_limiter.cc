#include "server/log_rate_limiter.h"

namespace trainyard::server {

LogRateLimiter::Admission LogRateLimiter::Admit(std::string_view key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    if (windows_.size() >= kMaxKeys) key = "(other)";
    it = windows_.try_emplace(std::string(key), Window{now, 0, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= window_) {
    // A new window; what the old one held back goes out with this line.
    w.start = now;
    w.admitted = 0;
  }
  if (w.admitted >= per_window_) {
    ++w.suppressed;
    return {false, 0};
  }
  ++w.admitted;
  Admission admission{true, w.suppressed};
  w.suppressed = 0;
  return admission;
}

std::vector<std::pair<std::string, int64_t>> LogRateLimiter::TakeSuppressed(bool all) {
  const absl::Time now = clock_->Now();
  std::vector<std::pair<std::string, int64_t>> out;
  absl::MutexLock lock(&mu_);
  for (auto& [key, w] : windows_) {
    if (w.suppressed == 0 || (!all && now - w.start < window_)) continue;
    out.emplace_back(key, w.suppressed);
    w.suppressed = 0;
  }
  return out;
}

}  // namespace trainyard::server
