// Fully connected layer: Y = W X + b. Takes any input shape as flat (fan_in =
// input_shape().size()) and outputs a flat shape of `units`.
#ifndef TRAINYARD_CORE_LAYERS_DENSE_H_
#define TRAINYARD_CORE_LAYERS_DENSE_H_

#include "core/layer.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kDenseLayerKind;

// Parameters, in buffer order: W (units, input_dim) column-major, then b (units)
// unless there is no bias.
class DenseLayer final : public Layer {
 public:
  // REQUIRES: init is resolved (not INITIALIZER_DEFAULT).
  DenseLayer(Shape input_shape, int units, bool has_bias, v1::Initializer init);
  DenseLayer(int input_dim, int units, bool has_bias, v1::Initializer init)
      : DenseLayer(Shape::Flat(input_dim), units, has_bias, init) {}

  std::string kind() const override { return "dense"; }
  int64_t num_params() const override;
  void Bind(Scalar* params, Scalar* grads, Scalar* state) override;
  void Initialize(Rng& rng) override;
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

  v1::Initializer initializer() const { return init_; }
  bool has_bias() const { return has_bias_; }

 private:
  bool has_bias_;
  v1::Initializer init_;
  Scalar* w_ = nullptr;   // (units, input_dim)
  Scalar* b_ = nullptr;   // (units) or null
  Scalar* dw_ = nullptr;
  Scalar* db_ = nullptr;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_DENSE_H_
