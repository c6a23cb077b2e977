#include "core/layers/dense.h"

#include "core/init.h"
#include "core/layer_registry.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {
namespace {

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& /*in*/, LayerWalker& walker) {
  const v1::DenseLayer& dense = spec.dense();
  const int max_width = walker.limits().max_width;
  if (dense.units() <= 0) {
    return InvalidField(path + ".units", absl::StrCat("must be > 0, got ", dense.units()));
  }
  if (dense.units() > max_width) {
    return InvalidField(path + ".units",
                        absl::StrCat("must be <= ", max_width, ", got ", dense.units()));
  }
  if (!v1::Initializer_IsValid(dense.init())) {
    return InvalidField(path + ".init", absl::StrCat("has unknown value ", dense.init()));
  }
  return Shape::Flat(dense.units());
}

int64_t NumParams(const v1::LayerSpec& spec, const Shape& in) {
  const v1::DenseLayer& dense = spec.dense();
  const int64_t weights = SaturatingMul(dense.units(), in.size());
  return dense.no_bias() ? weights : SaturatingAdd(weights, dense.units());
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& ctx) {
  const v1::DenseLayer& dense = spec.dense();
  return std::make_unique<DenseLayer>(in, dense.units(), !dense.no_bias(),
                                      ResolveInitializer(dense.init(), ctx.next_activation));
}

}  // namespace

const LayerKind kDenseLayerKind = {
    .name = "dense",
    .kind_case = v1::LayerSpec::kDense,
    .validate = Validate,
    .num_params = NumParams,
    .num_state = NoScalars,
    .make = Make,
};

DenseLayer::DenseLayer(Shape input_shape, int units, bool has_bias,
                       v1::Initializer init)
    : Layer(input_shape, Shape::Flat(units)), has_bias_(has_bias), init_(init) {}

int64_t DenseLayer::num_params() const {
  const int64_t units = output_dim();
  return units * input_dim() + (has_bias_ ? units : 0);
}

void DenseLayer::Bind(Scalar* params, Scalar* grads, Scalar* /*state*/) {
  const int64_t weights = int64_t{output_dim()} * input_dim();
  w_ = params;
  dw_ = grads;
  b_ = has_bias_ ? params + weights : nullptr;
  db_ = has_bias_ ? grads + weights : nullptr;
}

void DenseLayer::Initialize(Rng& rng) {
  InitializeWeights(init_, input_dim(), rng, w_,
                    int64_t{output_dim()} * input_dim());
  if (has_bias_) VectorMap(b_, output_dim()).setZero();
}

// in: (input_dim, B) -> out: (units, B).
void DenseLayer::Forward(const Matrix& in, Matrix& out, const PassContext& ctx) {
  const ConstMatrixMap w(w_, output_dim(), input_dim());
  out.resize(output_dim(), in.cols());
  if (!has_bias_) {
    layers::ParallelProduct(ctx, out, w, in);
    return;
  }
  const ConstVectorMap b(b_, output_dim());
  layers::ParallelProduct(
      ctx, out, w, in,
      [&](int64_t row, int64_t rows, int64_t col, int64_t cols) {
        out.block(row, col, rows, cols).colwise() += b.segment(row, rows);
      });
}

// dout: (units, B). dW = dY X^T (units, in), db = rowsum dY, dX = W^T dY (in, B).
void DenseLayer::Backward(const Matrix& in, const Matrix& /*out*/,
                          const Matrix& dout, Matrix* din,
                          const PassContext& ctx) {
  const ConstMatrixMap w(w_, output_dim(), input_dim());
  MatrixMap dw(dw_, output_dim(), input_dim());
  layers::ParallelProduct(ctx, dw, dout, in.transpose());
  if (has_bias_) VectorMap(db_, output_dim()).noalias() = dout.rowwise().sum();
  if (din != nullptr) {
    din->resize(input_dim(), dout.cols());
    layers::ParallelProduct(ctx, *din, w.transpose(), dout);
  }
}

}  // namespace trainyard
