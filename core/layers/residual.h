// Residual block H(x) = F(x) + scale * x (He et al.; scale is the lecture's
// lambda, 1 by default).
#ifndef TRAINYARD_CORE_LAYERS_RESIDUAL_H_
#define TRAINYARD_CORE_LAYERS_RESIDUAL_H_

#include <memory>
#include <utility>

#include "core/layer.h"
#include "core/layers/sequential.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kResidualLayerKind;

// Any input shape; F must map it to the same shape.
// Parameters and state are those of F, in F's order.
class ResidualLayer final : public Layer {
 public:
  // REQUIRES: body maps `shape` to `shape`.
  ResidualLayer(Shape shape, std::unique_ptr<Sequential> body, Scalar scale);
  ResidualLayer(int dim, std::unique_ptr<Sequential> body, Scalar scale)
      : ResidualLayer(Shape::Flat(dim), std::move(body), scale) {}

  std::string kind() const override { return "residual"; }
  Scalar scale() const { return scale_; }
  const Sequential& body() const { return *body_; }
  const Sequential* nested() const override { return body_.get(); }
  int64_t num_params() const override { return body_->num_params(); }
  int64_t num_state() const override { return body_->num_state(); }
  void Bind(Scalar* params, Scalar* grads, Scalar* state) override;
  void Initialize(Rng& rng) override;
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  // din = dF/din^T dout + scale * dout.
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

 private:
  std::unique_ptr<Sequential> body_;  // F; keeps F(x) for Backward
  Scalar scale_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_RESIDUAL_H_
