#include "core/layers/residual.h"

#include <utility>

#include "core/layers/parallel_ops.h"

namespace trainyard {

ResidualLayer::ResidualLayer(int dim, std::unique_ptr<Sequential> body,
                             Scalar scale)
    : Layer(dim, dim), body_(std::move(body)), scale_(scale) {}

void ResidualLayer::Bind(Scalar* params, Scalar* grads, Scalar* state) {
  body_->Bind(params, grads, state);
}

void ResidualLayer::Initialize(Rng& rng) { body_->Initialize(rng); }

// in, out: (dim, B).
void ResidualLayer::Forward(const Matrix& in, Matrix& out,
                            const PassContext& ctx) {
  const Matrix& fx = body_->Forward(in, ctx);
  out.resize(in.rows(), in.cols());
  const Scalar scale = scale_;
  layers::ForColumns(ctx, in.rows(), in.cols(), 1, [&](int64_t col, int64_t cols) {
    out.middleCols(col, cols).noalias() =
        fx.middleCols(col, cols) + scale * in.middleCols(col, cols);
  });
}

void ResidualLayer::Backward(const Matrix& in, const Matrix& /*out*/,
                             const Matrix& dout, Matrix* din,
                             const PassContext& ctx) {
  body_->Backward(in, dout, din, ctx);
  if (din == nullptr) return;
  const Scalar scale = scale_;
  layers::ForColumns(ctx, dout.rows(), dout.cols(), 1,
                     [&](int64_t col, int64_t cols) {
                       din->middleCols(col, cols) +=
                           scale * dout.middleCols(col, cols);
                     });
}

}  // namespace trainyard
