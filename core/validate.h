// Validation of user-written specs. Every failure is INVALID_ARGUMENT with a
// message that starts with the field path, e.g.
//   "layers[2].dropout.rate must be in [0, 1), got 1.5".
#ifndef TRAINYARD_CORE_VALIDATE_H_
#define TRAINYARD_CORE_VALIDATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/shape.h"
#include "core/training_defaults.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Limits that a service may tighten; the defaults suit a library user.
struct ModelLimits {
  int64_t max_params = 500'000'000;  // trainable scalars in the whole model
  int max_layers = 1024;             // layers, counting nested ones
  int max_width = 1 << 20;           // values per input sample, dense units
};

// What one analysis of a valid ModelSpec finds (AnalyzeModel).
struct ModelShape {
  Shape input;             // from input_dim or input_shape
  Shape output;            // of the last layer
  int64_t num_params = 0;  // trainable scalars (Model::num_params)
  int64_t num_state = 0;   // layer-state scalars (Model::num_state)

  // The model's output width: the rows of its output matrix.
  int output_dim() const { return static_cast<int>(output.size()); }
};

// Checks the spec's structure and values, walking its layers once through the
// layer registry (core/layer_registry.h), and returns what it found. The
// input is input_dim, input_shape or both (model.proto says how they combine).
absl::StatusOr<ModelShape> AnalyzeModel(const v1::ModelSpec& spec,
                                        const ModelLimits& limits = {});

// The spec's input shape, checked (the input_dim/input_shape rules and the
// width limit) but without looking at the layers.
absl::StatusOr<Shape> InputShape(const v1::ModelSpec& spec,
                                 const ModelLimits& limits = {});

// AnalyzeModel's output width.
absl::StatusOr<int> ValidateModelSpec(const v1::ModelSpec& spec,
                                      const ModelLimits& limits = {});

// Checks every field of the training config.
absl::Status ValidateTrainingConfig(const v1::TrainingConfig& config);

// Checks the optimiser part of a training config (part of
// ValidateTrainingConfig; Optimizer::Create calls it too). Messages start with
// "optimizer.", e.g. "optimizer.sgd.momentum must be in [0, 1), got 1".
absl::Status ValidateOptimizerSpec(const v1::OptimizerSpec& spec);

// Checks that the loss fits a model with `output_dim` outputs trained on
// targets with `target_dim` values per sample (1 for class labels):
// SOFTMAX_CROSS_ENTROPY needs output_dim >= 2 and one label; BCE_WITH_LOGITS,
// MSE and HUBER need target_dim == output_dim; PERCEPTRON and HINGE need one
// output and one label. The message names `loss.kind`.
absl::Status ValidateLossForTargets(const v1::LossSpec& loss, int output_dim,
                                    int target_dim);

// Number of trainable scalars the spec would have (AnalyzeModel's count, with
// no limits; saturated at INT64_MAX). REQUIRES: valid spec.
int64_t CountParams(const v1::ModelSpec& spec);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_VALIDATE_H_
