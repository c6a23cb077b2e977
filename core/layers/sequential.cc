#include "core/layers/sequential.h"

#include <utility>

namespace trainyard {

Sequential::Sequential(int input_dim, std::vector<std::unique_ptr<Layer>> layers)
    : Layer(input_dim, layers.empty() ? input_dim : layers.back()->output_dim()),
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
