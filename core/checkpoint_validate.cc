// ValidateCheckpoint: the structural checks that make a decoded checkpoint
// safe to hand to the trainer (every buffer the length the model implies,
// every counter in range), so that a corrupt or hand-edited file fails here
// with a message naming the field rather than deep inside a resume.
#include <cmath>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/sha256.h"
#include "core/validate.h"

namespace trainyard {
namespace {

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", message));
}

// First non-finite value of a float field, naming its index.
template <typename Repeated>
absl::Status CheckFinite(const Repeated& values, absl::string_view field) {
  for (int i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values.Get(i))) {
      return Invalid(absl::StrCat(field, "[", i, "] is ", values.Get(i),
                                  ", values must be finite"));
    }
  }
  return absl::OkStatus();
}

template <typename Repeated>
absl::Status CheckSize(const Repeated& values, absl::string_view field,
                       int64_t expected, absl::string_view needs) {
  if (values.size() != expected) {
    return Invalid(absl::StrCat(field, " has ", values.size(), " values, ",
                                needs, " ", expected));
  }
  return CheckFinite(values, field);
}

absl::Status ValidateOptimizerState(const v1::Checkpoint& c) {
  std::set<std::string> names;
  for (int i = 0; i < c.optimizer_state_size(); ++i) {
    const v1::OptimizerBuffer& buffer = c.optimizer_state(i);
    std::string field = absl::StrCat("optimizer_state[", i, "]");
    if (buffer.name().empty()) return Invalid(absl::StrCat(field, ".name is empty"));
    if (!names.insert(buffer.name()).second) {
      return Invalid(absl::StrCat(field, ".name \"", buffer.name(),
                                  "\" appears twice"));
    }
    absl::Status s = CheckSize(buffer.values(),
                               absl::StrCat(field, " (\"", buffer.name(), "\")"),
                               c.params_size(), "it needs one per parameter:");
    if (!s.ok()) return s;
  }
  if (c.optimizer_steps() < 0) {
    return Invalid(absl::StrCat("optimizer_steps is ", c.optimizer_steps(),
                                ", must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePosition(const v1::Checkpoint& c) {
  if (c.step() < 0) return Invalid(absl::StrCat("step is ", c.step(), ", must be >= 0"));
  if (c.completed_epochs() < 0) {
    return Invalid(absl::StrCat("completed_epochs is ", c.completed_epochs(),
                                ", must be >= 0"));
  }
  if (c.batches_in_epoch() < 0) {
    return Invalid(absl::StrCat("batches_in_epoch is ", c.batches_in_epoch(),
                                ", must be >= 0"));
  }
  if (c.epoch_samples() < 0) {
    return Invalid(absl::StrCat("epoch_samples is ", c.epoch_samples(),
                                ", must be >= 0"));
  }
  if (c.epoch_correct() < 0 || c.epoch_correct() > c.epoch_samples()) {
    return Invalid(absl::StrCat("epoch_correct is ", c.epoch_correct(),
                                ", must be in [0, epoch_samples = ",
                                c.epoch_samples(), "]"));
  }
  if (!std::isfinite(c.epoch_loss_sum())) {
    return Invalid(absl::StrCat("epoch_loss_sum is ", c.epoch_loss_sum(),
                                ", must be finite"));
  }
  if (c.rng_state_size() != 4) {
    return Invalid(absl::StrCat("rng_state has ", c.rng_state_size(),
                                " words, xoshiro256** needs 4"));
  }
  // xoshiro's all-zero state is a fixed point: every draw would be 0.
  if (c.rng_state(0) == 0 && c.rng_state(1) == 0 && c.rng_state(2) == 0 &&
      c.rng_state(3) == 0) {
    return Invalid("rng_state is all zero, which xoshiro256** cannot leave");
  }
  return absl::OkStatus();
}

absl::Status ValidatePreprocessor(const v1::Checkpoint& c) {
  const v1::PreprocessorState& p = c.preprocessor();
  if (!v1::Preprocessing_IsValid(p.kind())) {
    return Invalid(absl::StrCat("preprocessor.kind ", p.kind(),
                                " is not a known Preprocessing"));
  }
  if (p.kind() == v1::PREPROCESSING_NONE) {
    if (p.offset_size() != 0 || p.scale_size() != 0) {
      return Invalid("preprocessor.kind is PREPROCESSING_NONE but offset/scale "
                     "are set");
    }
    return absl::OkStatus();
  }
  absl::Status s = CheckSize(p.offset(), "preprocessor.offset", c.num_features(),
                             "num_features is");
  if (s.ok()) {
    s = CheckSize(p.scale(), "preprocessor.scale", c.num_features(),
                  "num_features is");
  }
  return s;
}

absl::Status ValidateEarlyStoppingAndHistory(const v1::Checkpoint& c) {
  const v1::EarlyStoppingState& e = c.early_stopping();
  if (e.best_params_size() != 0) {
    absl::Status s = CheckSize(e.best_params(), "early_stopping.best_params",
                               c.params_size(), "when set it needs one per parameter:");
    if (!s.ok()) return s;
  }
  if (e.best_state_size() != 0) {
    absl::Status s = CheckSize(e.best_state(), "early_stopping.best_state",
                               c.layer_state_size(), "when set it needs as many as layer_state:");
    if (!s.ok()) return s;
  }
  if (e.best_epoch() < 0 || e.best_epoch() > c.completed_epochs()) {
    return Invalid(absl::StrCat("early_stopping.best_epoch is ", e.best_epoch(),
                                ", must be in [0, completed_epochs = ",
                                c.completed_epochs(), "]"));
  }
  if (e.epochs_without_improvement() < 0) {
    return Invalid(absl::StrCat("early_stopping.epochs_without_improvement is ",
                                e.epochs_without_improvement(), ", must be >= 0"));
  }
  int previous = 0;
  for (int i = 0; i < c.history_size(); ++i) {
    int epoch = c.history(i).epoch();
    if (epoch <= previous || epoch > c.completed_epochs()) {
      return Invalid(absl::StrCat(
          "history[", i, "].epoch is ", epoch, ", epochs must increase and be in [1, "
          "completed_epochs = ", c.completed_epochs(), "]"));
    }
    previous = epoch;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCheckpoint(const v1::Checkpoint& c,
                                const ModelLimits& limits) {
  if (!c.has_model()) return Invalid("model is missing");
  absl::StatusOr<ModelShape> shape = AnalyzeModel(c.model(), limits);
  if (!shape.ok()) {
    return Invalid(absl::StrCat("model.", shape.status().message()));
  }
  // Reported after the model's own errors, as always.
  if (!c.has_training()) return Invalid("training is missing");
  if (absl::Status s = ValidateTrainingConfig(c.training()); !s.ok()) {
    return Invalid(absl::StrCat("training.", s.message()));
  }
  return ValidateCheckpointFor(c, *shape, c.training());
}

absl::Status ValidateCheckpointFor(const v1::Checkpoint& c, const ModelShape& shape,
                                   const v1::TrainingConfig& training) {
  if (c.num_features() != shape.input.size()) {
    if (shape.input.is_image()) {
      return Invalid(absl::StrCat("num_features is ", c.num_features(),
                                  ", the model's input_shape ", shape.input.ToString(),
                                  " has ", shape.input.size(), " values"));
    }
    return Invalid(absl::StrCat("num_features is ", c.num_features(),
                                ", the model's input_dim is ", shape.input.size()));
  }
  if (c.target_dim() < 1) {
    return Invalid(absl::StrCat("target_dim is ", c.target_dim(), ", must be >= 1"));
  }
  if (absl::Status s = ValidateLossForTargets(training.loss(), shape.output_dim(),
                                              c.target_dim());
      !s.ok()) {
    return Invalid(absl::StrCat("training.", s.message()));
  }

  absl::Status s = CheckSize(c.params(), "params", shape.num_params, "the model needs");
  if (!s.ok()) return s;
  s = CheckSize(c.layer_state(), "layer_state", shape.num_state,
                "the model's batch-norm layers need");
  if (!s.ok()) return s;
  if (s = ValidateOptimizerState(c); !s.ok()) return s;
  if (s = ValidatePosition(c); !s.ok()) return s;
  if (s = ValidatePreprocessor(c); !s.ok()) return s;
  if (s = ValidateEarlyStoppingAndHistory(c); !s.ok()) return s;
  if (!c.dataset_sha256().empty() && !IsSha256Hex(c.dataset_sha256())) {
    return Invalid("dataset_sha256 must be empty or 64 lowercase hex digits");
  }
  return absl::OkStatus();
}

}  // namespace trainyard
