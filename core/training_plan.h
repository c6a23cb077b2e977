// A TrainingPlan: everything about a training run that can be known before it
// starts, checked once. BuildTrainingPlan validates the model spec (shapes,
// output width, parameter and state counts), the training config, the fit of
// the data to the model and loss, the validation split, and the checkpoints a
// run resumes or starts from; it fills in the effective defaults. The service's
// SubmitJob and Trainer::Create both consume the plan, so a job is validated
// by one function with one set of messages.
//
// Messages name the fields of the service's SubmitJobRequest
// (proto/trainyard/v1/service.proto), so that SubmitJob can return them as
// they are:
//   "model.layers[2].dropout.rate must be in [0, 1), got 1.5"
//   "training.batch_size must be > 0, got 0"
//   "dataset_id: model.input_dim is 7 but the dataset has 5 features"
//   "validation_dataset_id: the validation dataset has class label 3 but ..."
//   "training.validation_fraction 0.5 leaves no training samples out of 0"
//   "training.early_stopping.patience needs validation data: set ..."
//   "resume_from_checkpoint_id: checkpoint: params has 10 values, ..."
//   "init_from_checkpoint_id: the checkpoint's model (input_dim 2, ...) does
//    not match the submitted model (...)"
// Every refusal is INVALID_ARGUMENT, except what a loader returns (e.g. the
// service's NOT_FOUND for an unknown dataset id), which is passed through.
#ifndef TRAINYARD_CORE_TRAINING_PLAN_H_
#define TRAINYARD_CORE_TRAINING_PLAN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "core/training_defaults.h"
#include "core/validate.h"
#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Loaders let the caller fetch the data (and the checkpoint to start from)
// only once the checks that need none have passed, so that a bad spec is
// reported before any storage is touched, and errors come in the order the
// inputs are listed below.
using DatasetLoader = std::function<absl::StatusOr<std::shared_ptr<const Dataset>>()>;
using CheckpointLoader = std::function<absl::StatusOr<v1::Checkpoint>()>;

// A loader that returns `data` (which may be null: no data).
DatasetLoader GivenDataset(std::shared_ptr<const Dataset> data);

struct TrainingPlanInputs {
  v1::ModelSpec model;
  v1::TrainingConfig training;
  ModelLimits limits;
  // Checked with the spec and config when set: the checkpoint the run
  // continues from, whose buffers must fit `model` and `training`
  // (ValidateCheckpointFor).
  const v1::Checkpoint* resume_from = nullptr;
  // The field that named `resume_from`, which its refusals start with: the
  // request's for a submitted resume, "latest_checkpoint_id" when the worker
  // resumes a job from its own newest checkpoint.
  std::string resume_field = "resume_from_checkpoint_id";
  // Required: the training data. A loader returning null is refused.
  DatasetLoader train;
  // Optional separate validation data (unset, or a loader returning null:
  // none, and training.validation_fraction may split some off `train`).
  DatasetLoader validation;
  // Optional, checked last: a checkpoint whose weights the run starts from,
  // which needs the same input shape, parameter count and outputs.
  CheckpointLoader init_from;
};

class TrainingPlan {
 public:
  // The spec and config as given.
  const v1::ModelSpec& model() const { return model_; }
  const v1::TrainingConfig& training() const { return training_; }
  // The config as a job records it, with the learning rate and
  // log_every_steps defaults filled in (WithRecordedDefaults).
  v1::TrainingConfig RecordedTraining() const { return WithRecordedDefaults(training_); }

  // Input and output shapes, parameter and state counts.
  const ModelShape& model_shape() const { return shape_; }
  int output_dim() const { return shape_.output_dim(); }

  // OnStep every this many steps: the config's, or the default. The trainer
  // logs by it. (The optimiser's effective learning rate and weight decay are
  // the optimiser's own, EffectiveLearningRate/EffectiveWeightDecay.)
  int log_every_steps() const { return log_every_steps_; }

  // The data. validation() is the separate validation set, or train() when
  // the split holds samples of it out, or null when there is no validation.
  const std::shared_ptr<const Dataset>& train() const { return train_; }
  const std::shared_ptr<const Dataset>& validation() const { return validation_; }
  // Sample indices into train() and validation(), each sorted ascending.
  const std::vector<int64_t>& train_indices() const { return train_idx_; }
  const std::vector<int64_t>& validation_indices() const { return val_idx_; }
  int64_t train_samples() const { return static_cast<int64_t>(train_idx_.size()); }
  int64_t validation_samples() const { return static_cast<int64_t>(val_idx_.size()); }

  // Mini-batches per epoch (the last one may be short) and over all epochs.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return total_steps_; }

 private:
  friend absl::StatusOr<TrainingPlan> BuildTrainingPlan(const TrainingPlanInputs&);
  TrainingPlan() = default;

  v1::ModelSpec model_;
  v1::TrainingConfig training_;
  ModelShape shape_;
  int log_every_steps_ = kDefaultLogEverySteps;
  std::shared_ptr<const Dataset> train_;
  std::shared_ptr<const Dataset> validation_;
  std::vector<int64_t> train_idx_;
  std::vector<int64_t> val_idx_;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
};

// Checks, in this order: the model spec, the training config, the resume
// checkpoint against them, the training data (loaded) against the model and loss, the
// validation data likewise, the split, early stopping's need for validation
// data, and the init checkpoint (loaded). See the messages above.
absl::StatusOr<TrainingPlan> BuildTrainingPlan(const TrainingPlanInputs& inputs);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINING_PLAN_H_
