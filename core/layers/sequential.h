// A chain of layers that owns the activations between them.
#ifndef TRAINYARD_CORE_LAYERS_SEQUENTIAL_H_
#define TRAINYARD_CORE_LAYERS_SEQUENTIAL_H_

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

// Layers applied in order. The output of every layer and the gradient with
// respect to it live in matrices owned here, resized only when the batch size
// changes, so a steady training loop allocates nothing. Children are bound to
// consecutive slices of the parameter, gradient and state buffers, in order.
class Sequential final : public Layer {
 public:
  // REQUIRES: layers chain (each input shape is the previous output shape,
  // the first is input_shape).
  Sequential(Shape input_shape, std::vector<std::unique_ptr<Layer>> layers);
  Sequential(int input_dim, std::vector<std::unique_ptr<Layer>> layers)
      : Sequential(Shape::Flat(input_dim), std::move(layers)) {}

  std::string kind() const override { return "sequential"; }
  int64_t num_params() const override { return num_params_; }
  int64_t num_state() const override { return num_state_; }
  void Bind(Scalar* params, Scalar* grads, Scalar* state) override;
  // Layer i draws from rng.Fork(i), so its initial values do not depend on
  // the other layers.
  void Initialize(Rng& rng) override;

  // in: (input_dim, B). Returns the last layer's output (output_dim, B),
  // owned here and valid until the next Forward. With no layers, returns in.
  const Matrix& Forward(const Matrix& in, const PassContext& ctx);
  // Backpropagates dout (output_dim, B) through the latest kTrain Forward of
  // `in`. When din is null, layers below the first one with parameters are
  // skipped and that one computes no input gradient.
  void Backward(const Matrix& in, const Matrix& dout, Matrix* din,
                const PassContext& ctx);

  // The Layer interface (copies the result into out).
  void Forward(const Matrix& in, Matrix& out, const PassContext& ctx) override;
  void Backward(const Matrix& in, const Matrix& out, const Matrix& dout,
                Matrix* din, const PassContext& ctx) override;

  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i]; }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  // Layer i's output of the latest Forward (empty before the first). The
  // matrix stays at this address for the Sequential's lifetime.
  const Matrix& output(size_t i) const { return outputs_[i]; }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Matrix> outputs_;   // outputs_[i]: output of layer i
  std::vector<Matrix> dinputs_;   // dinputs_[i]: dL/d(input of layer i + 1)
  size_t first_trainable_;        // first layer with parameters, or size()
  int64_t num_params_ = 0;
  int64_t num_state_ = 0;
};

// Builds the layers of `specs` through the layer registry, taking samples of
// `input_shape`. A dense layer's default initialiser follows the first
// activation after it in the same list, looking past the kinds the registry
// marks transparent_for_init (batch norm, layer norm, dropout).
// REQUIRES: the specs passed ValidateModelSpec.
absl::StatusOr<std::unique_ptr<Sequential>> MakeSequential(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
    const Shape& input_shape);
// The same for a flat input of `input_dim` features.
absl::StatusOr<std::unique_ptr<Sequential>> MakeSequential(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
    int input_dim);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_SEQUENTIAL_H_
