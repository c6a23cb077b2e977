// Batch normalisation per feature (Ioffe & Szegedy), PyTorch's conventions.
// Flat inputs only: the registry refuses it on an image, where PyTorch's
// BatchNorm2d normalises per channel (that comes with convolutions).
#ifndef TRAINYARD_CORE_LAYERS_BATCH_NORM_H_
#define TRAINYARD_CORE_LAYERS_BATCH_NORM_H_

#include "core/layer.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kBatchNormLayerKind;

// Parameters: gamma (F), beta (F). State: running mean (F), running var (F).
// kTrain normalises with the batch mean and biased batch variance and moves
// the running statistics towards the batch mean and UNBIASED batch variance
// (as PyTorch does); kEval and kMonteCarlo use the running statistics.
class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(int features, Scalar momentum, Scalar epsilon);

  std::string kind() const override { return "batch_norm"; }
  int64_t num_params() const override { return 2 * int64_t{input_dim()}; }
  int64_t num_state() const override { return 2 * int64_t{input_dim()}; }
  void Bind(Scalar* params, Scalar* grads, Scalar* state) override;
  void Initialize(Rng& rng) override;
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

 private:
  void ForwardTrain(const Matrix& in, Matrix& out, const PassContext& ctx);

  Scalar momentum_;
  Scalar epsilon_;
  Scalar* gamma_ = nullptr;
  Scalar* beta_ = nullptr;
  Scalar* dgamma_ = nullptr;
  Scalar* dbeta_ = nullptr;
  Scalar* running_mean_ = nullptr;
  Scalar* running_var_ = nullptr;
  // Per-feature scratch (F), sized once: batch mean, then 1/sqrt(var + eps);
  // in Backward and evaluation, two per-feature coefficients.
  Vector mean_, inv_std_, coef_a_, coef_b_;
  Matrix xhat_;  // (F, B) normalised input of the latest kTrain Forward
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_BATCH_NORM_H_
