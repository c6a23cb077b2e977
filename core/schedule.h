// Learning-rate schedules as pure functions of the step, so resuming from a
// checkpoint needs only the step count.
#ifndef TRAINYARD_CORE_SCHEDULE_H_
#define TRAINYARD_CORE_SCHEDULE_H_

#include <cstdint>

#include "trainyard/v1/training.pb.h"

namespace trainyard {

// The learning rate for optimiser step `step` (0-based) given the base rate.
// With PeriodUnit STEPS, t = step - warmup; with EPOCHS, t = floor(step /
// steps_per_epoch) - floor(warmup / steps_per_epoch), the epochs begun since
// the one warm-up ended in, so the rate after warm-up changes only at epoch
// boundaries. Warm-up itself ramps per step in both units. REQUIRES: steps_per_epoch > 0, validated spec.
double LearningRateAt(const v1::ScheduleSpec& spec, double base_lr,
                      int64_t step, int64_t steps_per_epoch);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_SCHEDULE_H_
