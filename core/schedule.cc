// LearningRateAt: closed forms of the schedules in training.proto, so the rate
// depends on the step count alone (resume needs nothing else) and there is no
// drift from multiplying a running rate step after step.
#include "core/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/training_defaults.h"

namespace trainyard {

double LearningRateAt(const v1::ScheduleSpec& spec, double base_lr, int64_t step,
                      int64_t steps_per_epoch) {
  // Out-of-contract values (the spec is validated before training) fall back
  // to something finite rather than dividing by zero.
  step = std::max<int64_t>(step, 0);
  steps_per_epoch = std::max<int64_t>(steps_per_epoch, 1);

  const int64_t warmup = std::max<int64_t>(spec.warmup().steps(), 0);
  if (step < warmup) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  }
  // With EPOCHS the schedule moves only at epoch boundaries, so t counts the
  // epochs begun since the one warm-up ended in: the rest of that epoch is
  // t = 0 (a warm-up that is not a whole number of epochs shortens the first
  // period rather than shifting every later change into mid-epoch).
  const int64_t t = spec.unit() == v1::EPOCHS
                        ? step / steps_per_epoch - warmup / steps_per_epoch
                        : step - warmup;
  const double td = static_cast<double>(t);

  switch (spec.kind_case()) {
    case v1::ScheduleSpec::kStepDecay: {
      const auto& s = spec.step_decay();
      if (s.step_size() <= 0) return base_lr;
      return base_lr * std::pow(HyperParameter(s.gamma()),
                                static_cast<double>(t / s.step_size()));
    }
    case v1::ScheduleSpec::kExponential:
      return base_lr * std::pow(HyperParameter(spec.exponential().gamma()), td);
    case v1::ScheduleSpec::kCosine: {
      const auto& c = spec.cosine();
      if (c.t_max() <= 0) return base_lr;
      const double t_max = static_cast<double>(c.t_max());
      // Periodic is PyTorch's closed form; the default holds at eta_min.
      const double progress = c.periodic() ? td / t_max : std::min(td, t_max) / t_max;
      return c.eta_min() +
             (base_lr - c.eta_min()) * (1 + std::cos(std::numbers::pi * progress)) / 2;
    }
    case v1::ScheduleSpec::kConstant:
    case v1::ScheduleSpec::KIND_NOT_SET:
      break;
  }
  return base_lr;
}

}  // namespace trainyard
