// Layer normalisation (Ba et al.): each sample normalised over its features,
// then a learnable gain and bias per feature. On an image the features are
// all C*H*W values of a sample (PyTorch's LayerNorm([C, H, W])).
#ifndef TRAINYARD_CORE_LAYERS_LAYER_NORM_H_
#define TRAINYARD_CORE_LAYERS_LAYER_NORM_H_

#include "core/layer.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kLayerNormLayerKind;

// Parameters: gain (F, starts at 1), bias (F, starts at 0). Same in all modes.
class LayerNormLayer final : public Layer {
 public:
  LayerNormLayer(Shape shape, Scalar epsilon);
  LayerNormLayer(int features, Scalar epsilon)
      : LayerNormLayer(Shape::Flat(features), epsilon) {}

  std::string kind() const override { return "layer_norm"; }
  int64_t num_params() const override { return 2 * int64_t{input_dim()}; }
  void Bind(Scalar* params, Scalar* grads, Scalar* state) override;
  void Initialize(Rng& rng) override;
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

 private:
  using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  Scalar epsilon_;
  Scalar* gain_ = nullptr;
  Scalar* bias_ = nullptr;
  Scalar* dgain_ = nullptr;
  Scalar* dbias_ = nullptr;
  Matrix xhat_;          // (F, B) normalised input of the latest Forward
  RowVector inv_std_;    // (1, B) 1/sqrt(var + eps) per sample
  RowVector col_a_, col_b_;  // (1, B) scratch: per-sample mean, then sums
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_LAYER_NORM_H_
