// The layer interface. A layer owns views into the model's contiguous
// parameter, gradient and state buffers; it does no I/O and no serialisation.
//
// Shapes: activations are (features, batch) column-major (core/tensor.h),
// features = input_shape().size() whatever the sample's shape (core/shape.h).
#ifndef TRAINYARD_CORE_LAYER_H_
#define TRAINYARD_CORE_LAYER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

enum class Mode {
  kTrain,       // batch statistics, dropout on, caches kept for Backward
  kEval,        // running statistics, dropout off (weight scaling)
  kMonteCarlo,  // like kEval, but dropout stays on (MC-dropout prediction)
};

// What a forward or backward pass needs besides the data.
struct PassContext {
  Mode mode = Mode::kEval;
  // Dropout masks are drawn from here. REQUIRES: non-null when mode is kTrain
  // or kMonteCarlo and the model has dropout.
  Rng* rng = nullptr;
  // The trainer's thread budget. REQUIRES: non-null.
  Parallel* parallel = nullptr;
};

class Sequential;

class Layer {
 public:
  virtual ~Layer() = default;

  // Short kind name for messages, e.g. "dense".
  virtual std::string kind() const = 0;
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  // Rows of the input and output matrices: the shapes' sizes.
  int input_dim() const { return input_dim_; }
  int output_dim() const { return output_dim_; }

  // Trainable scalars (weights, biases, gamma, beta).
  virtual int64_t num_params() const { return 0; }
  // Non-trainable scalars that a checkpoint must keep (batch-norm running
  // mean and variance).
  virtual int64_t num_state() const { return 0; }

  // Points the layer at its slices of the model's buffers. REQUIRES: each
  // pointer addresses num_params() / num_state() scalars and outlives the layer.
  virtual void Bind(Scalar* params, Scalar* grads, Scalar* state) {
    (void)params, (void)grads, (void)state;
  }

  // The layer list nested inside (a residual block's body), or null.
  virtual const Sequential* nested() const { return nullptr; }

  // Initialises parameters (and resets state, e.g. running variance to 1).
  virtual void Initialize(Rng& rng) { (void)rng; }

  // in: (input_dim, B) -> out: (output_dim, B); out is resized as needed
  // (no allocation when B is unchanged). In kTrain mode the layer keeps what
  // Backward needs (e.g. a dropout mask, batch statistics).
  virtual void Forward(const Matrix& in, Matrix& out,
                       const PassContext& ctx) = 0;

  // Given the `in` and `out` of the latest kTrain Forward and dout = dL/dout
  // (output_dim, B): WRITES (does not accumulate) this layer's parameter
  // gradients and, when din is non-null, din = dL/din (input_dim, B).
  virtual void Backward(const Matrix& in, const Matrix& out,
                        const Matrix& dout, Matrix* din,
                        const PassContext& ctx) = 0;

 protected:
  // REQUIRES: the shapes' sizes fit in an int (ValidateModelSpec's width limit).
  Layer(Shape input_shape, Shape output_shape)
      : input_shape_(input_shape),
        output_shape_(output_shape),
        input_dim_(static_cast<int>(input_shape.size())),
        output_dim_(static_cast<int>(output_shape.size())) {}
  Layer(int input_dim, int output_dim)
      : Layer(Shape::Flat(input_dim), Shape::Flat(output_dim)) {}

 private:
  Shape input_shape_;
  Shape output_shape_;
  int input_dim_;   // input_shape_.size()
  int output_dim_;  // output_shape_.size()
};

// Builds one layer of `spec` (through its entry in core/layer_registry.h)
// that takes samples of `input_shape`. `next_activation` is the activation
// that follows it (for the default initialiser), or ACTIVATION_UNSPECIFIED.
// REQUIRES: the spec passed ValidateModelSpec.
absl::StatusOr<std::unique_ptr<Layer>> MakeLayer(
    const v1::LayerSpec& spec, const Shape& input_shape,
    v1::ActivationKind next_activation);
// The same for a flat input of `input_dim` features.
absl::StatusOr<std::unique_ptr<Layer>> MakeLayer(
    const v1::LayerSpec& spec, int input_dim,
    v1::ActivationKind next_activation);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYER_H_
