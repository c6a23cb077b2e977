// A feed-forward network built from a ModelSpec. Parameters, gradients and
// layer state (batch-norm running statistics) each live in one contiguous
// buffer; layers hold views into them (llm.c's layout), so an optimiser step is
// a flat loop over params()/grads() and a checkpoint is a plain copy.
#ifndef TRAINYARD_CORE_MODEL_H_
#define TRAINYARD_CORE_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "core/validate.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

class Sequential;

class Model {
 public:
  // Validates `spec` (AnalyzeModel) and builds the layers. Parameters are
  // zero until Initialize.
  static absl::StatusOr<std::unique_ptr<Model>> Create(const v1::ModelSpec& spec);
  // Builds the layers of a spec analysed already (a TrainingPlan's), without
  // validating it again. REQUIRES: shape is AnalyzeModel(spec)'s result.
  static absl::StatusOr<std::unique_ptr<Model>> Create(const v1::ModelSpec& spec,
                                                       const ModelShape& shape);
  ~Model();

  const v1::ModelSpec& spec() const { return spec_; }
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  // The rows of the input and output matrices (the shapes' sizes).
  int input_dim() const;
  int output_dim() const;

  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }
  int64_t num_state() const { return static_cast<int64_t>(state_.size()); }
  Scalar* params() { return params_.data(); }
  const Scalar* params() const { return params_.data(); }
  Scalar* grads() { return grads_.data(); }
  const Scalar* grads() const { return grads_.data(); }
  Scalar* state() { return state_.data(); }
  const Scalar* state() const { return state_.data(); }

  // The top-level layer list (its layers are bound in spec order).
  const Sequential& net() const;

  // Draws initial weights from `rng` (per the spec's initialisers) and resets
  // layer state.
  void Initialize(Rng& rng);

  // x: (input_dim, B) -> (output_dim, B). The result lives until the next
  // Forward. In kTrain mode, intermediate activations are kept for Backward.
  const Matrix& Forward(const Matrix& x, const PassContext& ctx);

  // dout: dL/d(output) of the latest kTrain Forward, (output_dim, B). Writes
  // grads(). Does not compute dL/dx of the input.
  void Backward(const Matrix& dout, const PassContext& ctx);

 private:
  Model(v1::ModelSpec spec, std::unique_ptr<Sequential> net);

  v1::ModelSpec spec_;
  std::unique_ptr<Sequential> net_;
  // SIMD-aligned (Eigen::aligned_allocator), so that each layer's slice has
  // the same alignment in every process: Eigen peels unaligned heads off its
  // vectorised reductions, and a heap-dependent alignment would change the
  // summation order and break bit-exact reproducibility (and resume).
  using Buffer = std::vector<Scalar, Eigen::aligned_allocator<Scalar>>;
  Buffer params_;
  Buffer grads_;
  Buffer state_;
  const Matrix* last_input_ = nullptr;  // the x of the latest Forward
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_MODEL_H_
