// Optimisers as flat loops over the model's contiguous parameter buffer.
// Update rules follow PyTorch's torch.optim documentation (same defaults, same
// epsilon placement), so that given the same gradients each step matches
// PyTorch to float precision. State is indexed by position in the buffer, never
// by address, so it can be checkpointed.
#ifndef TRAINYARD_CORE_OPTIMIZER_H_
#define TRAINYARD_CORE_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

class Optimizer {
 public:
  // Validates `spec` and sizes the state for `num_params` scalars.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      const v1::OptimizerSpec& spec, int64_t num_params);
  virtual ~Optimizer() = default;

  // The base learning rate (the spec's, or the default for this optimiser).
  double base_learning_rate() const { return base_lr_; }
  double weight_decay() const { return weight_decay_; }

  // One update of params from grads with learning rate `lr` (the schedule's
  // value for this step). Allocates nothing.
  virtual void Step(Scalar* params, const Scalar* grads, double lr) = 0;

  // Steps taken so far (Adam's bias correction uses it).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

  // Named state buffers, each num_params long, in a fixed order; a checkpoint
  // saves and restores them by name.
  virtual std::vector<std::pair<std::string, std::vector<Scalar>*>> StateBuffers() = 0;

 protected:
  Optimizer(double base_lr, double weight_decay)
      : base_lr_(base_lr), weight_decay_(weight_decay) {}
  int64_t steps_ = 0;

 private:
  double base_lr_;
  double weight_decay_;
};

// Scales grads in place so that their global L2 norm is at most max_norm
// (torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6) when
// below 1). Returns the norm before clipping. max_norm <= 0 only measures.
double ClipGradNorm(Scalar* grads, int64_t n, double max_norm);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_OPTIMIZER_H_
