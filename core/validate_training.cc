// ValidateTrainingConfig: every field of training.proto against the range its
// comment documents. Messages start with the snake_case field path.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/validate.h"

namespace trainyard {
namespace {

// Generous bounds that catch typos (an extra zero or three) long before they
// turn into an allocation failure or a job that never ends.
constexpr int kMaxBatchSize = 1 << 20;
constexpr int kMaxEpochs = 1'000'000;

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, " ", what));
}

// The range checks are written so that NaN fails them.
absl::Status InUnitInterval(double x, absl::string_view path) {  // [0, 1)
  if (x >= 0 && x < 1) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must be in [0, 1), got ", x));
}
absl::Status InDecayRange(double x, absl::string_view path) {  // (0, 1]
  if (x > 0 && x <= 1) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must be in (0, 1], got ", x));
}
absl::Status Positive(double x, absl::string_view path) {
  if (std::isfinite(x) && x > 0) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must be > 0 and finite, got ", x));
}
absl::Status NonNegative(double x, absl::string_view path) {
  if (std::isfinite(x) && x >= 0) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must be >= 0 and finite, got ", x));
}

#define TY_RETURN_IF_ERROR(expr)            \
  do {                                      \
    absl::Status _status = (expr);          \
    if (!_status.ok()) return _status;      \
  } while (0)

absl::Status CheckLoss(const v1::LossSpec& loss) {
  if (loss.kind() == v1::LOSS_UNSPECIFIED || !v1::LossKind_IsValid(loss.kind())) {
    return Invalid("loss.kind",
                   "must be set (one of MSE, SOFTMAX_CROSS_ENTROPY, "
                   "BCE_WITH_LOGITS, HUBER, PERCEPTRON, HINGE)");
  }
  // Checked for any kind (only HUBER uses it): a bad value is a mistake either way.
  if (loss.has_huber_delta()) {
    TY_RETURN_IF_ERROR(Positive(loss.huber_delta(), "loss.huber_delta"));
  }
  return absl::OkStatus();
}

absl::Status CheckAdam(const v1::AdamOptimizer& adam, const std::string& path) {
  if (adam.has_beta1()) TY_RETURN_IF_ERROR(InUnitInterval(adam.beta1(), path + ".beta1"));
  if (adam.has_beta2()) TY_RETURN_IF_ERROR(InUnitInterval(adam.beta2(), path + ".beta2"));
  if (adam.has_epsilon()) TY_RETURN_IF_ERROR(Positive(adam.epsilon(), path + ".epsilon"));
  return absl::OkStatus();
}

}  // namespace

// The one copy of the optimiser checks: ValidateTrainingConfig and
// Optimizer::Create both call it.
absl::Status ValidateOptimizerSpec(const v1::OptimizerSpec& opt) {
  if (opt.has_learning_rate()) {
    TY_RETURN_IF_ERROR(Positive(opt.learning_rate(), "optimizer.learning_rate"));
  }
  if (opt.has_weight_decay()) {
    TY_RETURN_IF_ERROR(NonNegative(opt.weight_decay(), "optimizer.weight_decay"));
  }
  switch (opt.kind_case()) {
    case v1::OptimizerSpec::kSgd: {
      const auto& sgd = opt.sgd();
      TY_RETURN_IF_ERROR(InUnitInterval(sgd.momentum(), "optimizer.sgd.momentum"));
      TY_RETURN_IF_ERROR(InUnitInterval(sgd.dampening(), "optimizer.sgd.dampening"));
      // PyTorch refuses the same combinations: Nesterov's look-ahead is
      // defined for undamped momentum only.
      if (sgd.nesterov() && (sgd.momentum() <= 0 || sgd.dampening() != 0)) {
        return Invalid("optimizer.sgd.nesterov",
                       absl::StrCat("needs momentum > 0 and dampening 0, got "
                                    "momentum ",
                                    sgd.momentum(), " and dampening ",
                                    sgd.dampening()));
      }
      return absl::OkStatus();
    }
    case v1::OptimizerSpec::kAdagrad: {
      const auto& ada = opt.adagrad();
      if (ada.has_epsilon()) {
        TY_RETURN_IF_ERROR(Positive(ada.epsilon(), "optimizer.adagrad.epsilon"));
      }
      return NonNegative(ada.initial_accumulator_value(),
                         "optimizer.adagrad.initial_accumulator_value");
    }
    case v1::OptimizerSpec::kRmsprop: {
      const auto& rms = opt.rmsprop();
      if (rms.has_alpha()) {
        TY_RETURN_IF_ERROR(InUnitInterval(rms.alpha(), "optimizer.rmsprop.alpha"));
      }
      if (rms.has_epsilon()) {
        TY_RETURN_IF_ERROR(Positive(rms.epsilon(), "optimizer.rmsprop.epsilon"));
      }
      return InUnitInterval(rms.momentum(), "optimizer.rmsprop.momentum");
    }
    case v1::OptimizerSpec::kAdam:
      return CheckAdam(opt.adam(), "optimizer.adam");
    case v1::OptimizerSpec::kAdamw:
      return CheckAdam(opt.adamw(), "optimizer.adamw");
    case v1::OptimizerSpec::KIND_NOT_SET:
      break;
  }
  return Invalid("optimizer.kind",
                 "must be set (one of sgd, adagrad, rmsprop, adam, adamw)");
}

namespace {

absl::Status CheckSchedule(const v1::ScheduleSpec& schedule, double base_lr) {
  if (!v1::PeriodUnit_IsValid(schedule.unit())) {
    return Invalid("schedule.unit", absl::StrCat("has unknown value ", schedule.unit()));
  }
  switch (schedule.kind_case()) {
    case v1::ScheduleSpec::kStepDecay: {
      const auto& step = schedule.step_decay();
      if (step.step_size() <= 0) {
        return Invalid("schedule.step_decay.step_size",
                       absl::StrCat("must be > 0, got ", step.step_size()));
      }
      TY_RETURN_IF_ERROR(InDecayRange(step.gamma(), "schedule.step_decay.gamma"));
      break;
    }
    case v1::ScheduleSpec::kExponential:
      TY_RETURN_IF_ERROR(
          InDecayRange(schedule.exponential().gamma(), "schedule.exponential.gamma"));
      break;
    case v1::ScheduleSpec::kCosine: {
      const auto& cos = schedule.cosine();
      if (cos.t_max() <= 0) {
        return Invalid("schedule.cosine.t_max",
                       absl::StrCat("must be > 0, got ", cos.t_max()));
      }
      TY_RETURN_IF_ERROR(NonNegative(cos.eta_min(), "schedule.cosine.eta_min"));
      if (cos.eta_min() > base_lr) {
        return Invalid("schedule.cosine.eta_min",
                       absl::StrCat("must be <= the base learning rate ", base_lr,
                                    ", got ", cos.eta_min()));
      }
      break;
    }
    case v1::ScheduleSpec::kConstant:
    case v1::ScheduleSpec::KIND_NOT_SET:
      break;
  }
  if (schedule.warmup().steps() < 0) {
    return Invalid("schedule.warmup.steps",
                   absl::StrCat("must be >= 0, got ", schedule.warmup().steps()));
  }
  return absl::OkStatus();
}

// Retention only decides which saved checkpoints stay; a policy that keeps
// nothing but the final one is written keep_last: 1, so "both zero" is taken
// for a mistake (a retention message set by accident) rather than a policy.
absl::Status CheckRetention(const v1::TrainingConfig& config) {
  if (!config.has_retention()) return absl::OkStatus();
  const v1::CheckpointRetention& r = config.retention();
  if (r.keep_last() < 0) {
    return Invalid("retention.keep_last", absl::StrCat("must be >= 0, got ", r.keep_last()));
  }
  if (r.keep_best() < 0) {
    return Invalid("retention.keep_best", absl::StrCat("must be >= 0, got ", r.keep_best()));
  }
  if (!v1::RetentionMetric_IsValid(r.metric())) {
    return Invalid("retention.metric", absl::StrCat(r.metric(), " is not a retention metric"));
  }
  if (r.keep_last() == 0 && r.keep_best() == 0) {
    return Invalid("retention",
                   "keeps nothing: set retention.keep_last or retention.keep_best > 0, or "
                   "leave retention unset to keep every checkpoint");
  }
  const bool has_metric = r.metric() != v1::RETENTION_METRIC_UNSPECIFIED;
  if (r.keep_best() > 0 && !has_metric) {
    return Invalid("retention.metric",
                   "must be set when retention.keep_best > 0 (RETAIN_MIN_VAL_LOSS, "
                   "RETAIN_MAX_VAL_ACCURACY, RETAIN_MIN_TRAIN_LOSS or RETAIN_MAX_TRAIN_ACCURACY)");
  }
  if (r.keep_best() == 0 && has_metric) {
    return Invalid("retention.metric",
                   absl::StrCat("is ", v1::RetentionMetric_Name(r.metric()),
                                " but retention.keep_best is 0; set keep_best or drop the metric"));
  }
  const bool accuracy = r.metric() == v1::RETAIN_MAX_VAL_ACCURACY ||
                        r.metric() == v1::RETAIN_MAX_TRAIN_ACCURACY;
  const v1::LossKind loss = config.loss().kind();
  if (accuracy && (loss == v1::MSE || loss == v1::HUBER)) {
    return Invalid("retention.metric",
                   absl::StrCat(v1::RetentionMetric_Name(r.metric()), " needs accuracy, which loss ",
                                v1::LossKind_Name(loss), " does not define"));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(int value, int max, absl::string_view path) {
  if (value <= 0) return Invalid(path, absl::StrCat("must be > 0, got ", value));
  if (value > max) {
    return Invalid(path, absl::StrCat("must be <= ", max, ", got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTrainingConfig(const v1::TrainingConfig& config) {
  TY_RETURN_IF_ERROR(CheckLoss(config.loss()));
  TY_RETURN_IF_ERROR(ValidateOptimizerSpec(config.optimizer()));
  TY_RETURN_IF_ERROR(
      CheckSchedule(config.schedule(), EffectiveLearningRate(config.optimizer())));
  TY_RETURN_IF_ERROR(CheckCount(config.batch_size(), kMaxBatchSize, "batch_size"));
  TY_RETURN_IF_ERROR(CheckCount(config.epochs(), kMaxEpochs, "epochs"));
  TY_RETURN_IF_ERROR(NonNegative(config.clip_grad_norm(), "clip_grad_norm"));
  TY_RETURN_IF_ERROR(
      InUnitInterval(config.validation_fraction(), "validation_fraction"));
  // patience 0 turns early stopping off; whether there is validation data to
  // watch is the trainer's check, as it depends on the dataset.
  const auto& early = config.early_stopping();
  if (early.patience() < 0) {
    return Invalid("early_stopping.patience",
                   absl::StrCat("must be >= 0 (0 turns early stopping off), got ",
                                early.patience()));
  }
  TY_RETURN_IF_ERROR(NonNegative(early.min_delta(), "early_stopping.min_delta"));
  if (config.checkpoint_every_epochs() < 0) {
    return Invalid("checkpoint_every_epochs",
                   absl::StrCat("must be >= 0, got ", config.checkpoint_every_epochs()));
  }
  if (config.has_log_every_steps() && config.log_every_steps() <= 0) {
    return Invalid("log_every_steps",
                   absl::StrCat("must be > 0, got ", config.log_every_steps()));
  }
  // Set means on: a period of 0 is a mistake, not a way to turn them off.
  if (config.has_diagnostics() && config.diagnostics().every_steps() < 1) {
    return Invalid("diagnostics.every_steps",
                   absl::StrCat("must be >= 1 (leave diagnostics unset for none), got ",
                                config.diagnostics().every_steps()));
  }
  return CheckRetention(config);
}

}  // namespace trainyard
