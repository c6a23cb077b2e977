#include "core/training_plan.h"

#include <numeric>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "core/checkpoint.h"
#include "core/data/split.h"
#include "core/data_check.h"

namespace trainyard {
namespace {

absl::Status Prefixed(const absl::Status& s, absl::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

std::vector<int64_t> AllIndices(int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  return idx;
}

// "input_dim 784" or "input_shape 1x28x28": how the spec states its input.
std::string DescribeInput(const Shape& input) {
  return input.is_image() ? absl::StrCat("input_shape ", input.ToString())
                          : absl::StrCat("input_dim ", input.size());
}

// Same input shape, parameter count and outputs: what copying the weights
// of `from` into a model of `model` (Trainer::InitializeFrom) needs.
absl::Status CheckInitFits(const ModelShape& model, const v1::Checkpoint& from) {
  // Default limits, not the job's: the checkpoint passed them when it was
  // decoded, and a mismatch is reported below as a mismatch.
  absl::StatusOr<ModelShape> theirs = AnalyzeModel(from.model());
  if (!theirs.ok()) {
    return Prefixed(theirs.status(), "init_from_checkpoint_id: checkpoint: model.");
  }
  if (theirs->input == model.input && theirs->num_params == model.num_params &&
      theirs->output_dim() == model.output_dim()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "init_from_checkpoint_id: the checkpoint's model (", DescribeInput(theirs->input),
      ", ", theirs->num_params, " parameters, ", theirs->output_dim(),
      " outputs) does not match the submitted model (", DescribeInput(model.input), ", ",
      model.num_params, " parameters, ", model.output_dim(), " outputs)"));
}

}  // namespace

DatasetLoader GivenDataset(std::shared_ptr<const Dataset> data) {
  return [data = std::move(data)]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    return data;
  };
}

absl::StatusOr<TrainingPlan> BuildTrainingPlan(const TrainingPlanInputs& in) {
  TrainingPlan plan;
  plan.model_ = in.model;
  plan.training_ = in.training;
  const v1::TrainingConfig& config = plan.training_;

  // The spec and config, which need no data. When the run continues a
  // checkpoint's state, a bad spec or config is reported as the checkpoint's
  // (ValidateCheckpoint's messages, under the field that named it).
  const std::string resume_prefix =
      in.resume_from != nullptr ? absl::StrCat(in.resume_field, ": ") : std::string();
  const std::string checkpoint_prefix =
      in.resume_from != nullptr ? absl::StrCat(resume_prefix, "checkpoint: ") : std::string();
  absl::StatusOr<ModelShape> shape = AnalyzeModel(in.model, in.limits);
  if (!shape.ok()) return Prefixed(shape.status(), absl::StrCat(checkpoint_prefix, "model."));
  plan.shape_ = *shape;
  if (absl::Status s = ValidateTrainingConfig(config); !s.ok()) {
    return Prefixed(s, absl::StrCat(checkpoint_prefix, "training."));
  }
  if (in.resume_from != nullptr) {
    // The run continues the checkpoint's state with this spec and config, so
    // they must describe the same buffers.
    if (absl::Status s = ValidateCheckpointFor(*in.resume_from, plan.shape_, config);
        !s.ok()) {
      return Prefixed(s, resume_prefix);
    }
  }
  plan.log_every_steps_ = EffectiveLogEverySteps(config);

  // The data against the model and the loss.
  const int output_dim = plan.shape_.output_dim();
  if (in.train) {
    absl::StatusOr<std::shared_ptr<const Dataset>> train = in.train();
    if (!train.ok()) return train.status();
    plan.train_ = *std::move(train);
  }
  if (plan.train_ == nullptr) return absl::InvalidArgumentError("dataset must be set");
  if (absl::Status s = CheckDataFitsModel(*plan.train_, plan.shape_.input, output_dim,
                                          config.loss(), "dataset");
      !s.ok()) {
    return Prefixed(s, "dataset_id: ");
  }
  std::shared_ptr<const Dataset> validation;
  if (in.validation) {
    absl::StatusOr<std::shared_ptr<const Dataset>> loaded = in.validation();
    if (!loaded.ok()) return loaded.status();
    validation = *std::move(loaded);
  }
  if (validation != nullptr) {
    if (absl::Status s = CheckDataFitsModel(*validation, plan.shape_.input, output_dim,
                                            config.loss(), "validation dataset");
        !s.ok()) {
      return Prefixed(s, "validation_dataset_id: ");
    }
    plan.train_idx_ = AllIndices(plan.train_->num_samples());
    plan.val_idx_ = AllIndices(validation->num_samples());
    plan.validation_ = std::move(validation);
  } else {
    Split split = SplitIndices(plan.train_->num_samples(), config.validation_fraction(),
                               config.seed());
    plan.train_idx_ = std::move(split.train);
    plan.val_idx_ = std::move(split.validation);
    if (!plan.val_idx_.empty()) plan.validation_ = plan.train_;
  }
  if (plan.train_idx_.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "training.validation_fraction %g leaves no training samples out of %d",
        config.validation_fraction(), plan.train_->num_samples()));
  }
  if (config.early_stopping().patience() > 0 && plan.val_idx_.empty()) {
    return absl::InvalidArgumentError(
        "training.early_stopping.patience needs validation data: set "
        "training.validation_fraction or validation_dataset_id");
  }
  if (const v1::RetentionMetric metric = config.retention().metric();
      (metric == v1::RETAIN_MIN_VAL_LOSS || metric == v1::RETAIN_MAX_VAL_ACCURACY) &&
      plan.val_idx_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.retention.metric ", v1::RetentionMetric_Name(metric),
        " needs validation data: set training.validation_fraction or validation_dataset_id"));
  }

  if (in.init_from) {
    absl::StatusOr<v1::Checkpoint> from = in.init_from();
    if (!from.ok()) return from.status();
    if (absl::Status s = CheckInitFits(plan.shape_, *from); !s.ok()) return s;
  }

  const int64_t batch = config.batch_size();
  plan.steps_per_epoch_ = (plan.train_samples() + batch - 1) / batch;
  plan.total_steps_ = plan.steps_per_epoch_ * config.epochs();
  return plan;
}

}  // namespace trainyard
