// The seam between backward and the optimiser: where a data-parallel run
// combines the gradients of its ranks (an MPI all-reduce) before anything
// looks at them. Injected through TrainerOptions::gradient_reducer; without
// one the trainer uses its own gradient as it is (a single process).
#ifndef TRAINYARD_CORE_GRADIENT_REDUCER_H_
#define TRAINYARD_CORE_GRADIENT_REDUCER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "core/tensor.h"

namespace trainyard {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  // Called exactly once per training step, on the training thread, after
  // backward and before gradient-norm clipping, the learning-rate schedule and
  // the optimiser step, so that clipping sees the combined gradient's norm.
  //
  // grads: the model's n gradient values (Model::grads(), parameter order),
  // d(mean loss over this process's mini-batch)/d(params), for a mini-batch of
  // batch_samples samples. Replace them in place with the gradient the
  // optimiser is to apply; for data parallelism the sample-weighted mean over
  // the ranks, sum_r batch_samples_r * g_r / sum_r batch_samples_r.
  //
  // A non-OK status fails the step: Trainer::Step, RunEpoch and Run return it
  // unchanged, and the trainer must not be stepped again.
  virtual absl::Status Reduce(Scalar* grads, int64_t n, int64_t batch_samples) = 0;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_GRADIENT_REDUCER_H_
