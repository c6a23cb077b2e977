// Rate limit for log lines a client can cause (refused requests): at most
// `per_window` lines per key (e.g. method + status code) in each window of
// the injected clock. What is held back is counted, never dropped silently:
// the next admitted line of the key carries the count, and TakeSuppressed
// hands out the counts of windows that ended with lines held back (the
// caller logs them as a summary), so a flood that stops is reported too.
//
// Thread-safe; mu_ guards the windows. Memory is bounded: past kMaxKeys
// distinct keys, new ones share the key "(other)".
#ifndef TRAINYARD_SERVER_LOG_RATE_LIMITER_H_
#define TRAINYARD_SERVER_LOG_RATE_LIMITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace trainyard::server {

class LogRateLimiter {
 public:
  static constexpr size_t kMaxKeys = 256;

  // `clock` must outlive the limiter (Clock::Steady() in production).
  LogRateLimiter(int per_window, absl::Duration window, const Clock* clock)
      : per_window_(per_window), window_(window), clock_(clock) {}

  struct Admission {
    bool admit = false;
    // When admitted: lines of this key held back since its last admitted
    // line (and not yet handed out by TakeSuppressed).
    int64_t suppressed = 0;
  };
  // Counts one line of `key` now.
  Admission Admit(std::string_view key);

  // The keys whose window has ended (every key with `all`, e.g. at
  // shutdown) with lines held back, and how many; those counts restart.
  std::vector<std::pair<std::string, int64_t>> TakeSuppressed(bool all = false);

 private:
  struct Window {
    absl::Time start;
    int admitted = 0;
    int64_t suppressed = 0;
  };
  const int per_window_;
  const absl::Duration window_;
  const Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Window, std::less<>> windows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_LOG_RATE_LIMITER_H_
