// The time source of the training core, injected (TrainerOptions::clock) so
// that tests can make time advance exactly as they need.
#ifndef TRAINYARD_CORE_CLOCK_H_
#define TRAINYARD_CORE_CLOCK_H_

#include "absl/time/time.h"

namespace trainyard {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current time. Only the difference between two calls has a meaning:
  // the steady clock below is monotonic, not wall time. Must be safe to call
  // from several threads (several trainers may share one clock).
  virtual absl::Time Now() const = 0;

  // The process's monotonic clock (std::chrono::steady_clock), so that an NTP
  // step cannot make an epoch take negative time. Never null; never destroyed.
  static const Clock* Steady();
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_CLOCK_H_
