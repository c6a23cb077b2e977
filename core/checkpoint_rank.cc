#include "core/checkpoint_rank.h"

#include <cmath>

namespace trainyard {

std::optional<double> MetricScore(const v1::EpochSummary& summary, v1::RetentionMetric metric) {
  double value = 0;
  bool higher_is_better = false;
  switch (metric) {
    case v1::RETAIN_MIN_VAL_LOSS:
      value = summary.val_loss();
      break;
    case v1::RETAIN_MAX_VAL_ACCURACY:
      value = summary.val_accuracy();
      higher_is_better = true;
      break;
    case v1::RETAIN_MIN_TRAIN_LOSS:
      value = summary.train_loss();
      break;
    case v1::RETAIN_MAX_TRAIN_ACCURACY:
      value = summary.train_accuracy();
      higher_is_better = true;
      break;
    default:
      return std::nullopt;
  }
  // -1 is how EpochSummary says "not measured" for every field but train_loss
  // (losses and accuracies are otherwise >= 0).
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  return higher_is_better ? value : -value;
}

v1::RetentionMetric BestMetric(const v1::TrainingConfig& training, bool has_validation_dataset) {
  if (training.retention().metric() != v1::RETENTION_METRIC_UNSPECIFIED) {
    return training.retention().metric();
  }
  if (has_validation_dataset || training.validation_fraction() > 0) {
    return v1::RETAIN_MIN_VAL_LOSS;
  }
  return v1::RETAIN_MIN_TRAIN_LOSS;
}

}  // namespace trainyard
