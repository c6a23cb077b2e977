#include "core/clock.h"

#include <chrono>

namespace trainyard {
namespace {

class SteadyClock final : public Clock {
 public:
  absl::Time Now() const override {
    return absl::UnixEpoch() +
           absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
};

}  // namespace

const Clock* Clock::Steady() {
  // Leaked on purpose: a function-local static with a non-trivial destructor
  // could be used by a trainer thread after it ran at exit.
  static const Clock* const clock = new SteadyClock;
  return clock;
}

}  // namespace trainyard
