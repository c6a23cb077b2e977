#include "core/layers/sequential.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/layer_registry.h"

namespace trainyard {
namespace {

// The activation that a dense layer at `index` feeds: the first activation
// after it, looking past the kinds that are transparent for the initialiser;
// any other kind ends the search.
v1::ActivationKind NextActivation(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs, int index) {
  for (int j = index + 1; j < specs.size(); ++j) {
    const LayerKind* kind = FindLayerKind(specs[j].kind_case());
    if (kind == nullptr) break;
    if (kind->activation != nullptr) return kind->activation(specs[j]);
    if (!kind->transparent_for_init) break;
  }
  return v1::ACTIVATION_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sequential>> MakeSequential(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
    const Shape& input_shape) {
  std::vector<std::unique_ptr<Layer>> layers;
  layers.reserve(specs.size());
  Shape shape = input_shape;
  for (int i = 0; i < specs.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Layer>> layer =
        MakeLayer(specs[i], shape, NextActivation(specs, i));
    if (!layer.ok()) {
      return absl::Status(layer.status().code(),
                          absl::StrCat("layers[", i, "]: ", layer.status().message()));
    }
    shape = (*layer)->output_shape();
    layers.push_back(*std::move(layer));
  }
  return std::make_unique<Sequential>(input_shape, std::move(layers));
}

absl::StatusOr<std::unique_ptr<Sequential>> MakeSequential(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs, int input_dim) {
  return MakeSequential(specs, Shape::Flat(input_dim));
}

Sequential::Sequential(Shape input_shape, std::vector<std::unique_ptr<Layer>> layers)
    : Layer(input_shape, layers.empty() ? input_shape : layers.back()->output_shape()),
      layers_(std::move(layers)),
      outputs_(layers_.size()),
      dinputs_(layers_.size()),
      first_trainable_(layers_.size()) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    num_params_ += layers_[i]->num_params();
    num_state_ += layers_[i]->num_state();
    if (first_trainable_ == layers_.size() && layers_[i]->num_params() > 0) {
      first_trainable_ = i;
    }
  }
}

void Sequential::Bind(Scalar* params, Scalar* grads, Scalar* state) {
  for (auto& layer : layers_) {
    layer->Bind(params, grads, state);
    params += layer->num_params();
    grads += layer->num_params();
    state += layer->num_state();
  }
}

void Sequential::Initialize(Rng& rng) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    Rng stream = rng.Fork(i);
    layers_[i]->Initialize(stream);
  }
}

const Matrix& Sequential::Forward(const Matrix& in, const PassContext& ctx) {
  const Matrix* x = &in;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->Forward(*x, outputs_[i], ctx);
    x = &outputs_[i];
  }
  return *x;
}

void Sequential::Backward(const Matrix& in, const Matrix& dout, Matrix* din,
                          const PassContext& ctx) {
  const size_t n = layers_.size();
  if (n == 0) {
    if (din != nullptr) *din = dout;
    return;
  }
  // Nothing below the first trainable layer needs a gradient unless the
  // caller wants dL/din.
  const size_t lowest = din != nullptr ? 0 : first_trainable_;
  const Matrix* g = &dout;
  for (size_t i = n; i-- > lowest;) {
    const Matrix& layer_in = i == 0 ? in : outputs_[i - 1];
    Matrix* layer_din = nullptr;
    if (i > lowest) {
      layer_din = &dinputs_[i - 1];
    } else if (i == 0) {
      layer_din = din;
    }
    layers_[i]->Backward(layer_in, outputs_[i], *g, layer_din, ctx);
    g = layer_din;
  }
}

void Sequential::Forward(const Matrix& in, Matrix& out, const PassContext& ctx) {
  out = Forward(in, ctx);
}

void Sequential::Backward(const Matrix& in, const Matrix& /*out*/,
                          const Matrix& dout, Matrix* din,
                          const PassContext& ctx) {
  Backward(in, dout, din, ctx);
}

}  // namespace trainyard
