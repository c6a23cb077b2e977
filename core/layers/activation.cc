#include "core/layers/activation.h"

#include "core/layer_registry.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {
namespace {

constexpr float kDefaultLeakyAlpha = 0.01f;  // PyTorch's default

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& in, LayerWalker& /*walker*/) {
  const v1::ActivationLayer& act = spec.activation();
  if (act.kind() == v1::ACTIVATION_UNSPECIFIED) {
    return InvalidField(path + ".kind",
                        "must be set (one of SIGMOID, TANH, RELU, LEAKY_RELU, "
                        "IDENTITY)");
  }
  if (!v1::ActivationKind_IsValid(act.kind())) {
    return InvalidField(path + ".kind", absl::StrCat("has unknown value ", act.kind()));
  }
  // Checked whatever the kind: a bad value is a mistake even where unused.
  if (act.has_alpha() && !FiniteNonNegative(act.alpha())) {
    return InvalidField(path + ".alpha",
                        absl::StrCat("must be finite and >= 0, got ", act.alpha()));
  }
  return in;
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& /*ctx*/) {
  const v1::ActivationLayer& act = spec.activation();
  if (act.kind() == v1::ACTIVATION_UNSPECIFIED) {
    return absl::InvalidArgumentError("activation.kind must be set");
  }
  const float alpha = act.has_alpha() ? act.alpha() : kDefaultLeakyAlpha;
  return std::make_unique<ActivationLayer>(in, act.kind(), static_cast<Scalar>(alpha));
}

v1::ActivationKind Applied(const v1::LayerSpec& spec) { return spec.activation().kind(); }

// Rough cost of one element relative to an add, for the parallel threshold:
// exp/tanh are a few dozen flops, the rest are a compare or a copy.
int64_t ElementCost(v1::ActivationKind kind) {
  return kind == v1::SIGMOID || kind == v1::TANH ? 16 : 1;
}

}  // namespace

const LayerKind kActivationLayerKind = {
    .name = "activation",
    .kind_case = v1::LayerSpec::kActivation,
    .validate = Validate,
    .num_params = NoScalars,
    .num_state = NoScalars,
    .make = Make,
    .activation = Applied,
    .diagnose_output = true,
};

ActivationLayer::ActivationLayer(Shape shape, v1::ActivationKind kind, Scalar alpha)
    : Layer(shape, shape), kind_(kind), alpha_(alpha) {}

std::string ActivationLayer::kind() const {
  switch (kind_) {
    case v1::SIGMOID: return "sigmoid";
    case v1::TANH: return "tanh";
    case v1::RELU: return "relu";
    case v1::LEAKY_RELU: return "leaky_relu";
    case v1::IDENTITY: return "identity";
    default: return "activation";
  }
}

// in, out: (dim, B).
void ActivationLayer::Forward(const Matrix& in, Matrix& out,
                              const PassContext& ctx) {
  out.resize(in.rows(), in.cols());
  const Scalar alpha = alpha_;
  layers::ForColumns(
      ctx, in.rows(), in.cols(), ElementCost(kind_),
      [&](int64_t col, int64_t cols) {
        auto x = in.middleCols(col, cols).array();
        auto y = out.middleCols(col, cols).array();
        switch (kind_) {
          case v1::SIGMOID: y = x.logistic(); break;
          case v1::TANH: y = x.tanh(); break;
          case v1::RELU: y = x.max(Scalar(0)); break;
          case v1::LEAKY_RELU: y = (x > Scalar(0)).select(x, alpha * x); break;
          default: y = x; break;  // IDENTITY
        }
      });
}

// dout, din: (dim, B).
void ActivationLayer::Backward(const Matrix& in, const Matrix& out,
                               const Matrix& dout, Matrix* din,
                               const PassContext& ctx) {
  if (din == nullptr) return;
  din->resize(dout.rows(), dout.cols());
  const Scalar alpha = alpha_;
  layers::ForColumns(
      ctx, dout.rows(), dout.cols(), 2, [&](int64_t col, int64_t cols) {
        auto g = dout.middleCols(col, cols).array();
        auto y = out.middleCols(col, cols).array();
        auto dx = din->middleCols(col, cols).array();
        switch (kind_) {
          case v1::SIGMOID: dx = g * y * (Scalar(1) - y); break;
          case v1::TANH: dx = g * (Scalar(1) - y.square()); break;
          case v1::RELU: dx = (y > Scalar(0)).select(g, Scalar(0)); break;
          case v1::LEAKY_RELU:
            dx = (in.middleCols(col, cols).array() > Scalar(0))
                     .select(g, alpha * g);
            break;
          default: dx = g; break;  // IDENTITY
        }
      });
}

}  // namespace trainyard
