// Validation of user-written specs. Every failure is INVALID_ARGUMENT with a
// message that starts with the field path, e.g.
//   "layers[2].dropout.rate must be in [0, 1), got 1.5".
#ifndef TRAINYARD_CORE_VALIDATE_H_
#define TRAINYARD_CORE_VALIDATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Limits that a service may tighten; the defaults suit a library user.
struct ModelLimits {
  int64_t max_params = 500'000'000;  // trainable scalars in the whole model
  int max_layers = 1024;             // layers, counting nested ones
  int max_width = 1 << 20;           // input_dim and dense units
};

// Checks the spec's structure and values. Returns the output width.
absl::StatusOr<int> ValidateModelSpec(const v1::ModelSpec& spec,
                                      const ModelLimits& limits = {});

// Checks every field of the training config.
absl::Status ValidateTrainingConfig(const v1::TrainingConfig& config);

// Checks that the loss fits a model with `output_dim` outputs trained on
// targets with `target_dim` values per sample (1 for class labels):
// SOFTMAX_CROSS_ENTROPY needs output_dim >= 2 and one label; BCE_WITH_LOGITS,
// MSE and HUBER need target_dim == output_dim; PERCEPTRON and HINGE need one
// output and one label. The message names `loss.kind`.
absl::Status ValidateLossForTargets(const v1::LossSpec& loss, int output_dim,
                                    int target_dim);

// Number of trainable scalars the spec would have. REQUIRES: valid spec.
int64_t CountParams(const v1::ModelSpec& spec);

// The learning rate an optimiser uses when the spec leaves it unset: 0.01 for
// SGD, AdaGrad and RMSprop (and an unset kind), 0.001 for Adam and AdamW.
double DefaultLearningRate(const v1::OptimizerSpec& spec);
// The spec's learning rate if set, else DefaultLearningRate(spec).
double EffectiveLearningRate(const v1::OptimizerSpec& spec);
// The spec's weight decay if set, else 0.01 for AdamW and 0 for the others.
double EffectiveWeightDecay(const v1::OptimizerSpec& spec);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_VALIDATE_H_
