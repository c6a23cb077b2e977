// Inverted dropout.
#ifndef TRAINYARD_CORE_LAYERS_DROPOUT_H_
#define TRAINYARD_CORE_LAYERS_DROPOUT_H_

#include "core/layer.h"

namespace trainyard {

struct LayerKind;
// The registry entry (core/layer_registry.h).
extern const LayerKind kDropoutLayerKind;

// Element-wise, so any input shape; the output has the same shape.
// kTrain and kMonteCarlo: each unit is kept with probability 1 - rate
// (rng.Uniform() < keep, drawn column by column from ctx.rng) and scaled by
// 1/(1 - rate), so the expected output equals the input; kEval: identity
// (weight scaling is implicit in the inverted form).
class DropoutLayer final : public Layer {
 public:
  // REQUIRES: 0 <= rate < 1.
  DropoutLayer(Shape shape, Scalar rate);
  DropoutLayer(int dim, Scalar rate) : DropoutLayer(Shape::Flat(dim), rate) {}

  std::string kind() const override { return "dropout"; }
  Scalar rate() const { return rate_; }
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

 private:
  Scalar rate_;
  bool masked_ = false;  // whether the latest Forward applied mask_
  Matrix mask_;          // (dim, B): 0 or 1/(1 - rate)
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_DROPOUT_H_
