#include "core/layers/dropout.h"

#include <cassert>

#include "core/layer_registry.h"

namespace trainyard {
namespace {

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& in, LayerWalker& /*walker*/) {
  const float rate = spec.dropout().rate();
  if (!(rate >= 0 && rate < 1)) {
    return InvalidField(path + ".rate", absl::StrCat("must be in [0, 1), got ", rate));
  }
  return in;
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& /*ctx*/) {
  return std::make_unique<DropoutLayer>(in, static_cast<Scalar>(spec.dropout().rate()));
}

}  // namespace

const LayerKind kDropoutLayerKind = {
    .name = "dropout",
    .kind_case = v1::LayerSpec::kDropout,
    .validate = Validate,
    .num_params = NoScalars,
    .num_state = NoScalars,
    .make = Make,
    .transparent_for_init = true,
    .diagnose_output = true,
};

DropoutLayer::DropoutLayer(Shape shape, Scalar rate)
    : Layer(shape, shape), rate_(rate) {}

// in, out: (dim, B).
void DropoutLayer::Forward(const Matrix& in, Matrix& out,
                           const PassContext& ctx) {
  masked_ = ctx.mode != Mode::kEval && rate_ > Scalar(0);
  if (!masked_) {
    out = in;
    return;
  }
  assert(ctx.rng != nullptr);
  // The mask is drawn serially from the one stream so that it depends only on
  // the RNG state, not on the thread count.
  const double keep = 1.0 - static_cast<double>(rate_);
  const Scalar scale = Scalar(1) / static_cast<Scalar>(keep);
  mask_.resize(in.rows(), in.cols());
  Scalar* m = mask_.data();
  const int64_t size = mask_.size();
  Rng& rng = *ctx.rng;
  for (int64_t i = 0; i < size; ++i) {
    m[i] = rng.Uniform() < keep ? scale : Scalar(0);
  }
  out.resize(in.rows(), in.cols());
  out.array() = in.array() * mask_.array();
}

void DropoutLayer::Backward(const Matrix& /*in*/, const Matrix& /*out*/,
                            const Matrix& dout, Matrix* din,
                            const PassContext& /*ctx*/) {
  if (din == nullptr) return;
  din->resize(dout.rows(), dout.cols());
  if (masked_) {
    din->array() = dout.array() * mask_.array();
  } else {
    *din = dout;
  }
}

}  // namespace trainyard
