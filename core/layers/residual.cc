#include "core/layers/residual.h"

#include <utility>

#include "core/layer_registry.h"
#include "core/layers/parallel_ops.h"

namespace trainyard {
namespace {

constexpr float kDefaultScale = 1.0f;

absl::StatusOr<Shape> Validate(const v1::LayerSpec& spec, const std::string& path,
                               const Shape& in, LayerWalker& walker) {
  const v1::ResidualBlock& block = spec.residual();
  if (block.has_scale() && !std::isfinite(block.scale())) {
    return InvalidField(path + ".scale", absl::StrCat("must be finite, got ", block.scale()));
  }
  absl::StatusOr<Shape> out = walker.Walk(block.layers(), path + ".layers", in);
  if (!out.ok()) return out.status();
  if (*out != in) {
    if (!out->is_image() && !in.is_image()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": output width ", out->size(), " differs from input width ",
                       in.size(), " (F(x) + scale * x needs equal widths)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": output shape ", out->ToString(), " differs from input shape ",
                     in.ToString(), " (F(x) + scale * x needs equal shapes)"));
  }
  return in;
}

absl::StatusOr<std::unique_ptr<Layer>> Make(const v1::LayerSpec& spec, const Shape& in,
                                            const LayerMakeContext& /*ctx*/) {
  const v1::ResidualBlock& block = spec.residual();
  absl::StatusOr<std::unique_ptr<Sequential>> body = MakeSequential(block.layers(), in);
  if (!body.ok()) return body.status();
  if ((*body)->output_shape() != in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "residual block maps ", in.ToString(), " to ", (*body)->output_shape().ToString(),
        "; it must keep the shape"));
  }
  return std::make_unique<ResidualLayer>(
      in, *std::move(body),
      static_cast<Scalar>(block.has_scale() ? block.scale() : kDefaultScale));
}

const google::protobuf::RepeatedPtrField<v1::LayerSpec>& NestedLayers(
    const v1::LayerSpec& spec) {
  return spec.residual().layers();
}

}  // namespace

// Its own parameters and state are none: F's are counted as the walker walks
// F's layers.
const LayerKind kResidualLayerKind = {
    .name = "residual",
    .kind_case = v1::LayerSpec::kResidual,
    .validate = Validate,
    .num_params = NoScalars,
    .num_state = NoScalars,
    .make = Make,
    .nests = true,
    .nested_layers = NestedLayers,
};

ResidualLayer::ResidualLayer(Shape shape, std::unique_ptr<Sequential> body,
                             Scalar scale)
    : Layer(shape, shape), body_(std::move(body)), scale_(scale) {}

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
