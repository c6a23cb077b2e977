// Losses over a batch of model outputs. Each returns the mean loss and its
// gradient with respect to the outputs, computed in one fused, numerically
// stable pass (log-sum-exp for softmax, softplus for BCE).
#ifndef TRAINYARD_CORE_LOSS_H_
#define TRAINYARD_CORE_LOSS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// What the targets of a loss are, which decides how a dataset's labels are
// checked and whether accuracy is defined.
enum class TargetKind {
  kClassIndex,  // one row: integer class in [0, outputs); accuracy = argmax
  kBinary,      // one row per output: 0 or 1; accuracy = (score > 0) == label
  kSign,        // one row: -1 or +1; accuracy = sign(score) == label
  kRegression,  // one row per output: any finite value; no accuracy
};

class Loss {
 public:
  // REQUIRES: spec.kind() != LOSS_UNSPECIFIED (validated).
  static absl::StatusOr<std::unique_ptr<Loss>> Create(const v1::LossSpec& spec);
  virtual ~Loss() = default;

  virtual TargetKind target_kind() const = 0;

  // outputs: (K, B). targets: (1, B) for kClassIndex and kSign, (K, B)
  // otherwise. Returns the mean loss (MSE, Huber and BCE average over batch and
  // outputs, like PyTorch's reduction='mean'; the others over the batch). When
  // grad is non-null, writes d(mean loss)/d(outputs), (K, B).
  virtual double Compute(const Matrix& outputs, const Matrix& targets,
                         Matrix* grad) const = 0;

  // Number of samples in the batch whose prediction is correct. REQUIRES:
  // target_kind() != kRegression.
  int64_t CountCorrect(const Matrix& outputs, const Matrix& targets) const;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LOSS_H_
