#include "core/layers/batch_norm.h"

#include "core/layer_registry.h"
#include "core/layers/norm_defaults.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {
namespace {

constexpr float kDefaultMomentum = 0.1f;

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& in, LayerWalker& /*walker*/) {
  const v1::BatchNormLayer& bn = spec.batch_norm();
  if (bn.has_momentum() && !(bn.momentum() >= 0 && bn.momentum() <= 1)) {
    return InvalidField(path + ".momentum",
                        absl::StrCat("must be in [0, 1], got ", bn.momentum()));
  }
  if (bn.has_epsilon() && !FinitePositive(bn.epsilon())) {
    return InvalidField(path + ".epsilon",
                        absl::StrCat("must be > 0 and finite, got ", bn.epsilon()));
  }
  // Accepting an image now and normalising each of its values would change
  // meaning when per-channel batch norm (BatchNorm2d) arrives.
  if (in.is_image()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the input is an image of shape ", in.ToString(),
        ", but batch_norm normalises flat features only (put a dense layer "
        "before it)"));
  }
  return in;
}

int64_t TwoPerFeature(const v1::LayerSpec& /*spec*/, const Shape& in) {
  return SaturatingMul(2, in.size());  // gamma, beta; or running mean, variance
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& /*ctx*/) {
  if (in.is_image()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch_norm takes flat features, not an image of shape ", in.ToString()));
  }
  const v1::BatchNormLayer& bn = spec.batch_norm();
  return std::make_unique<BatchNormLayer>(
      static_cast<int>(in.size()),
      static_cast<Scalar>(bn.has_momentum() ? bn.momentum() : kDefaultMomentum),
      static_cast<Scalar>(bn.has_epsilon() ? bn.epsilon() : kDefaultNormEpsilon));
}

// The state's layout (batch_norm.h): running mean, then running variance.
constexpr const char* kStateParts[] = {"running_mean", "running_var"};

}  // namespace

const LayerKind kBatchNormLayerKind = {
    .name = "batch_norm",
    .kind_case = v1::LayerSpec::kBatchNorm,
    .validate = Validate,
    .num_params = TwoPerFeature,
    .num_state = TwoPerFeature,
    .make = Make,
    .transparent_for_init = true,
    .state_parts = kStateParts,
};

BatchNormLayer::BatchNormLayer(int features, Scalar momentum, Scalar epsilon)
    : Layer(features, features),
      momentum_(momentum),
      epsilon_(epsilon),
      mean_(features),
      inv_std_(features),
      coef_a_(features),
      coef_b_(features) {}

void BatchNormLayer::Bind(Scalar* params, Scalar* grads, Scalar* state) {
  const int f = input_dim();
  gamma_ = params;
  beta_ = params + f;
  dgamma_ = grads;
  dbeta_ = grads + f;
  running_mean_ = state;
  running_var_ = state + f;
}

void BatchNormLayer::Initialize(Rng& /*rng*/) {
  const int f = input_dim();
  VectorMap(gamma_, f).setOnes();
  VectorMap(beta_, f).setZero();
  VectorMap(running_mean_, f).setZero();
  VectorMap(running_var_, f).setOnes();
}

// in, out: (F, B).
void BatchNormLayer::Forward(const Matrix& in, Matrix& out,
                             const PassContext& ctx) {
  out.resize(in.rows(), in.cols());
  if (ctx.mode == Mode::kTrain) {
    ForwardTrain(in, out, ctx);
    return;
  }
  // y = x * a + b with a = gamma / sqrt(running_var + eps),
  // b = beta - running_mean * a.
  const int f = input_dim();
  coef_a_ = ConstVectorMap(gamma_, f).array() /
            (ConstVectorMap(running_var_, f).array() + epsilon_).sqrt();
  coef_b_ = ConstVectorMap(beta_, f).array() -
            ConstVectorMap(running_mean_, f).array() * coef_a_.array();
  layers::ForColumns(ctx, in.rows(), in.cols(), 2, [&](int64_t col, int64_t cols) {
    out.middleCols(col, cols).array() =
        (in.middleCols(col, cols).array().colwise() * coef_a_.array())
            .colwise() +
        coef_b_.array();
  });
}

void BatchNormLayer::ForwardTrain(const Matrix& in, Matrix& out,
                                  const PassContext& ctx) {
  const int64_t batch = in.cols();
  xhat_.resize(in.rows(), batch);
  // Unbiased variance needs two samples; with one, keep the biased (zero)
  // variance rather than divide by zero (PyTorch refuses such a batch).
  const Scalar unbias =
      batch > 1 ? Scalar(batch) / Scalar(batch - 1) : Scalar(1);
  const Scalar m = momentum_;
  layers::ForRows(ctx, in.rows(), batch, 6, [&](int64_t row, int64_t rows) {
    auto x = in.middleRows(row, rows);
    auto xhat = xhat_.middleRows(row, rows).array();
    auto mean = mean_.segment(row, rows);
    auto inv_std = inv_std_.segment(row, rows);
    mean = x.rowwise().mean();
    xhat = (x.colwise() - mean).array();
    // inv_std holds the biased variance for a moment.
    inv_std = xhat.square().rowwise().mean().matrix();
    VectorMap running_mean(running_mean_ + row, rows);
    VectorMap running_var(running_var_ + row, rows);
    running_mean = (Scalar(1) - m) * running_mean + m * mean;
    running_var = (Scalar(1) - m) * running_var + (m * unbias) * inv_std;
    inv_std = (inv_std.array() + epsilon_).rsqrt().matrix();
    xhat = xhat.colwise() * inv_std.array();
    out.middleRows(row, rows).array() =
        (xhat.colwise() * ConstVectorMap(gamma_ + row, rows).array()).colwise() +
        ConstVectorMap(beta_ + row, rows).array();
  });
}

// dout, din: (F, B). With xhat the normalised input and N = B:
//   dbeta = rowsum(dout), dgamma = rowsum(dout .* xhat),
//   din = gamma * inv_std * (dout - dbeta/N - xhat .* dgamma/N).
void BatchNormLayer::Backward(const Matrix& /*in*/, const Matrix& /*out*/,
                              const Matrix& dout, Matrix* din,
                              const PassContext& ctx) {
  const int64_t batch = dout.cols();
  const Scalar inv_n = Scalar(1) / Scalar(batch);
  if (din != nullptr) din->resize(dout.rows(), batch);
  layers::ForRows(ctx, dout.rows(), batch, 6, [&](int64_t row, int64_t rows) {
    auto g = dout.middleRows(row, rows).array();
    auto xhat = xhat_.middleRows(row, rows).array();
    VectorMap dbeta(dbeta_ + row, rows);
    VectorMap dgamma(dgamma_ + row, rows);
    dbeta = g.rowwise().sum().matrix();
    dgamma = (g * xhat).rowwise().sum().matrix();
    if (din == nullptr) return;
    auto a = coef_a_.segment(row, rows);  // dgamma / N
    auto b = coef_b_.segment(row, rows);  // dbeta / N
    a = dgamma * inv_n;
    b = dbeta * inv_n;
    auto s = mean_.segment(row, rows);  // the batch mean is no longer needed
    s = (ConstVectorMap(gamma_ + row, rows).array() *
         inv_std_.segment(row, rows).array())
            .matrix();
    din->middleRows(row, rows).array() =
        ((g - xhat.colwise() * a.array()).colwise() - b.array()).colwise() *
        s.array();
  });
}

}  // namespace trainyard
