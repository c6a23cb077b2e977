#include "core/model.h"

#include <utility>

#include "core/layers/sequential.h"
#include "core/validate.h"

namespace trainyard {

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const v1::ModelSpec& spec) {
  absl::StatusOr<ModelShape> shape = AnalyzeModel(spec);
  if (!shape.ok()) return shape.status();
  return Create(spec, *shape);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const v1::ModelSpec& spec,
                                                     const ModelShape& shape) {
  absl::StatusOr<std::unique_ptr<Sequential>> net =
      MakeSequential(spec.layers(), shape.input);
  if (!net.ok()) return net.status();
  return std::unique_ptr<Model>(new Model(spec, *std::move(net)));
}

Model::Model(v1::ModelSpec spec, std::unique_ptr<Sequential> net)
    : spec_(std::move(spec)),
      net_(std::move(net)),
      params_(net_->num_params()),
      grads_(net_->num_params()),
      state_(net_->num_state()) {
  net_->Bind(params_.data(), grads_.data(), state_.data());
}

Model::~Model() = default;

const Sequential& Model::net() const { return *net_; }

const Shape& Model::input_shape() const { return net_->input_shape(); }
const Shape& Model::output_shape() const { return net_->output_shape(); }
int Model::input_dim() const { return net_->input_dim(); }
int Model::output_dim() const { return net_->output_dim(); }

void Model::Initialize(Rng& rng) {
  net_->Initialize(rng);
  // Consume one draw so that a second Initialize from the same generator
  // (a restart) gives fresh weights, and later draws by the caller (e.g.
  // shuffling) start from a state no layer stream was forked from.
  rng.NextU64();
}

const Matrix& Model::Forward(const Matrix& x, const PassContext& ctx) {
  last_input_ = &x;
  return net_->Forward(x, ctx);
}

void Model::Backward(const Matrix& dout, const PassContext& ctx) {
  net_->Backward(*last_input_, dout, /*din=*/nullptr, ctx);
}

}  // namespace trainyard
