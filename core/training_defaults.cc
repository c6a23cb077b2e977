#include "core/training_defaults.h"

#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

namespace trainyard {

double DefaultLearningRate(const v1::OptimizerSpec& spec) {
  switch (spec.kind_case()) {
    case v1::OptimizerSpec::kAdam:
    case v1::OptimizerSpec::kAdamw:
      return 1e-3;
    default:
      return 0.01;
  }
}

double EffectiveLearningRate(const v1::OptimizerSpec& spec) {
  return spec.has_learning_rate() ? spec.learning_rate() : DefaultLearningRate(spec);
}

double EffectiveWeightDecay(const v1::OptimizerSpec& spec) {
  if (spec.has_weight_decay()) return spec.weight_decay();
  return spec.kind_case() == v1::OptimizerSpec::kAdamw ? 0.01 : 0.0;
}

double HyperParameter(float value) {
  if (!std::isfinite(value)) return static_cast<double>(value);
  // Shortest digits that parse back to `value` (std::to_chars without a
  // precision), then the nearest double to those digits.
  char buf[64];
  const std::to_chars_result w = std::to_chars(buf, buf + sizeof(buf), value);
  if (w.ec != std::errc()) return static_cast<double>(value);
  double out = 0;
  const std::from_chars_result r = std::from_chars(buf, w.ptr, out);
  if (r.ec != std::errc()) return static_cast<double>(value);
  return out;
}

int EffectiveLogEverySteps(const v1::TrainingConfig& config) {
  return config.has_log_every_steps() ? config.log_every_steps() : kDefaultLogEverySteps;
}

v1::TrainingConfig WithRecordedDefaults(v1::TrainingConfig config) {
  config.set_log_every_steps(EffectiveLogEverySteps(config));
  config.mutable_optimizer()->set_learning_rate(EffectiveLearningRate(config.optimizer()));
  return config;
}

}  // namespace trainyard
