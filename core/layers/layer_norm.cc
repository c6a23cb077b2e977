#include "core/layers/layer_norm.h"

#include "core/layer_registry.h"
#include "core/layers/norm_defaults.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {
namespace {

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& in, LayerWalker& /*walker*/) {
  const v1::LayerNormLayer& ln = spec.layer_norm();
  if (ln.has_epsilon() && !FinitePositive(ln.epsilon())) {
    return InvalidField(path + ".epsilon",
                        absl::StrCat("must be > 0 and finite, got ", ln.epsilon()));
  }
  return in;
}

int64_t NumParams(const v1::LayerSpec& /*spec*/, const Shape& in) {
  return SaturatingMul(2, in.size());  // gain, bias
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& /*ctx*/) {
  const v1::LayerNormLayer& ln = spec.layer_norm();
  return std::make_unique<LayerNormLayer>(
      in, static_cast<Scalar>(ln.has_epsilon() ? ln.epsilon() : kDefaultNormEpsilon));
}

}  // namespace

const LayerKind kLayerNormLayerKind = {
    .name = "layer_norm",
    .kind_case = v1::LayerSpec::kLayerNorm,
    .validate = Validate,
    .num_params = NumParams,
    .num_state = NoScalars,
    .make = Make,
    .transparent_for_init = true,
};

LayerNormLayer::LayerNormLayer(Shape shape, Scalar epsilon)
    : Layer(shape, shape), epsilon_(epsilon) {}

void LayerNormLayer::Bind(Scalar* params, Scalar* grads, Scalar* /*state*/) {
  gain_ = params;
  bias_ = params + input_dim();
  dgain_ = grads;
  dbias_ = grads + input_dim();
}

void LayerNormLayer::Initialize(Rng& /*rng*/) {
  VectorMap(gain_, input_dim()).setOnes();
  VectorMap(bias_, input_dim()).setZero();
}

// in, out: (F, B); statistics per column (sample), biased variance.
void LayerNormLayer::Forward(const Matrix& in, Matrix& out,
                             const PassContext& ctx) {
  const int64_t batch = in.cols();
  out.resize(in.rows(), batch);
  xhat_.resize(in.rows(), batch);
  inv_std_.resize(batch);
  col_a_.resize(batch);
  col_b_.resize(batch);
  const ConstVectorMap gain(gain_, input_dim());
  const ConstVectorMap bias(bias_, input_dim());
  layers::ForColumns(ctx, in.rows(), batch, 6, [&](int64_t col, int64_t cols) {
    auto x = in.middleCols(col, cols);
    auto xhat = xhat_.middleCols(col, cols).array();
    auto mean = col_a_.segment(col, cols);
    auto inv_std = inv_std_.segment(col, cols);
    mean = x.colwise().mean();
    xhat = (x.rowwise() - mean).array();
    inv_std =
        (xhat.square().colwise().mean() + epsilon_).rsqrt().matrix();
    xhat = xhat.rowwise() * inv_std.array();
    out.middleCols(col, cols).array() =
        (xhat.colwise() * gain.array()).colwise() + bias.array();
  });
}

// dout, din: (F, B). dgain = rowsum(dout .* xhat), dbias = rowsum(dout);
// per sample, with d = dout .* gain and F features:
//   din = inv_std * (d - mean(d) - xhat .* mean(d .* xhat)).
void LayerNormLayer::Backward(const Matrix& /*in*/, const Matrix& /*out*/,
                              const Matrix& dout, Matrix* din,
                              const PassContext& ctx) {
  const int64_t batch = dout.cols();
  // Parameter gradients reduce over samples: split by feature rows so that
  // no sum crosses threads.
  layers::ForRows(ctx, dout.rows(), batch, 2, [&](int64_t row, int64_t rows) {
    auto g = dout.middleRows(row, rows).array();
    VectorMap(dbias_ + row, rows) = g.rowwise().sum().matrix();
    VectorMap(dgain_ + row, rows) =
        (g * xhat_.middleRows(row, rows).array()).rowwise().sum().matrix();
  });
  if (din == nullptr) return;
  din->resize(dout.rows(), batch);
  const ConstVectorMap gain(gain_, input_dim());
  layers::ForColumns(ctx, dout.rows(), batch, 6, [&](int64_t col, int64_t cols) {
    auto d = din->middleCols(col, cols).array();
    auto xhat = xhat_.middleCols(col, cols).array();
    auto mean_d = col_a_.segment(col, cols);
    auto mean_dx = col_b_.segment(col, cols);
    d = dout.middleCols(col, cols).array().colwise() * gain.array();
    mean_d = d.colwise().mean().matrix();
    mean_dx = (d * xhat).colwise().mean().matrix();
    d = ((d - xhat.rowwise() * mean_dx.array()).rowwise() - mean_d.array())
            .rowwise() *
        inv_std_.segment(col, cols).array();
  });
}

}  // namespace trainyard
