// Element-wise non-linearities: sigmoid, tanh, ReLU, LeakyReLU(alpha), identity.
#ifndef TRAINYARD_CORE_LAYERS_ACTIVATION_H_
#define TRAINYARD_CORE_LAYERS_ACTIVATION_H_

#include "core/layer.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kActivationLayerKind;

// Element-wise, so any input shape; the output has the same shape.
class ActivationLayer final : public Layer {
 public:
  // REQUIRES: kind != ACTIVATION_UNSPECIFIED. alpha is LeakyReLU's slope.
  ActivationLayer(Shape shape, v1::ActivationKind kind, Scalar alpha);
  ActivationLayer(int dim, v1::ActivationKind kind, Scalar alpha)
      : ActivationLayer(Shape::Flat(dim), kind, alpha) {}

  std::string kind() const override;
  v1::ActivationKind activation() const { return kind_; }
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  // Uses the saved `out` for sigmoid (s(1-s)), tanh (1-t^2) and ReLU (out>0),
  // so no extra cache is kept; LeakyReLU looks at the sign of `in`.
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

 private:
  v1::ActivationKind kind_;
  Scalar alpha_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_ACTIVATION_H_
