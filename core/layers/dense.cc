#include "core/layers/dense.h"

#include "core/init.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {

DenseLayer::DenseLayer(int input_dim, int units, bool has_bias,
                       v1::Initializer init)
    : Layer(input_dim, units), has_bias_(has_bias), init_(init) {}

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
