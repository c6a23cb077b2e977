#include "core/memory_estimate.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/layer_registry.h"
#include "core/tensor.h"

namespace trainyard {
namespace {

constexpr int64_t kScalar = static_cast<int64_t>(sizeof(Scalar));
// Matrices of a layer's output width a training step keeps per layer: its
// output, the gradient with respect to it, one cached intermediate.
constexpr int64_t kTrainBuffersPerLayer = 3;
// Parameters: values, gradients, two optimiser slots (Adam's m and v).
constexpr int64_t kParamCopies = 4;
// A checkpoint save snapshots the parameters and the two slots as float.
constexpr int64_t kCheckpointBytesPerParam = 3 * static_cast<int64_t>(sizeof(float));

int64_t Add(int64_t a, int64_t b) { return SaturatingAdd(a, b); }
int64_t Mul(int64_t a, int64_t b) { return SaturatingMul(a, b); }

// What the walk over the layers finds: the sum of the output widths of every
// layer (nested ones included) and the widest one.
struct Widths {
  int64_t sum = 0;
  int64_t dropout_sum = 0;  // output widths of dropout layers (their masks)
  int64_t largest = 0;
  std::string largest_path;
};

// Walks `layers` from shape `in` (already validated: errors cannot happen,
// and a layer whose shape cannot be found only ends the walk early).
Shape WalkWidths(const google::protobuf::RepeatedPtrField<v1::LayerSpec>& layers,
                 const std::string& path, const Shape& in, Widths& w) {
  // Generous limits: the spec passed the real ones when it was submitted.
  ModelLimits limits;
  limits.max_params = std::numeric_limits<int64_t>::max();
  limits.max_layers = std::numeric_limits<int>::max();
  limits.max_width = std::numeric_limits<int>::max();
  Shape shape = in;
  for (int i = 0; i < layers.size(); ++i) {
    const v1::LayerSpec& layer = layers[i];
    const LayerKind* kind = FindLayerKind(layer.kind_case());
    if (kind == nullptr) break;
    const std::string kind_path = absl::StrCat(path, "[", i, "].", kind->name);
    LayerWalker walker(limits);
    absl::StatusOr<Shape> out = kind->validate(layer, kind_path, shape, walker);
    if (!out.ok()) break;
    if (layer.has_residual()) {
      WalkWidths(layer.residual().layers(), kind_path + ".layers", shape, w);
    }
    const int64_t width = out->size();
    w.sum = Add(w.sum, width);
    if (layer.has_dropout()) w.dropout_sum = Add(w.dropout_sum, width);
    if (width > w.largest) {
      w.largest = width;
      w.largest_path = kind_path;
    }
    shape = *out;
  }
  return shape;
}

struct ModelFacts {
  Widths widths;
  int64_t input = 0;
  int64_t output = 0;
  int64_t params = 0;
  int64_t state = 0;
};

ModelFacts Facts(const v1::ModelSpec& spec) {
  ModelFacts f;
  absl::StatusOr<ModelShape> shape = AnalyzeModel(spec, ModelLimits{
      std::numeric_limits<int64_t>::max(), std::numeric_limits<int>::max(),
      std::numeric_limits<int>::max()});
  if (!shape.ok()) return f;
  f.input = shape->input.size();
  f.output = shape->output.size();
  f.params = shape->num_params;
  f.state = shape->num_state;
  WalkWidths(spec.layers(), "model.layers", shape->input, f.widths);
  if (f.widths.largest < f.input) {
    f.widths.largest = f.input;
    f.widths.largest_path = "model.input";
  }
  return f;
}

}  // namespace

int64_t MemoryEstimate::total() const {
  return Add(Add(parameter_bytes, activation_bytes), workspace_bytes);
}

MemoryEstimate EstimateTrainingMemory(const v1::ModelSpec& spec, int64_t batch) {
  const ModelFacts f = Facts(spec);
  MemoryEstimate e;
  e.batch = batch;
  e.parameter_bytes = Add(Mul(f.params, Add(Mul(kParamCopies, kScalar), kCheckpointBytesPerParam)),
                          Mul(f.state, kScalar));
  e.activation_bytes = Mul(Mul(Mul(f.widths.sum, kTrainBuffersPerLayer), kScalar), batch);
  e.workspace_bytes = Mul(Mul(Add(Mul(2, f.input), f.output), kScalar), batch);
  e.largest_layer = f.widths.largest_path;
  e.largest_width = f.widths.largest;
  return e;
}

MemoryEstimate EstimateTrainingMemory(const TrainingPlan& plan) {
  const int64_t step = std::min<int64_t>(plan.training().batch_size(), plan.train_samples());
  const int64_t eval = std::min<int64_t>(kEvalBatch, plan.validation_samples());
  MemoryEstimate e = EstimateTrainingMemory(plan.model(), std::max(step, eval));
  // Diagnostics keep a copy of the parameters (the weights before the step
  // they measure, core/diagnostics.h).
  if (plan.training().has_diagnostics()) {
    e.parameter_bytes = Add(e.parameter_bytes, Mul(plan.model_shape().num_params, kScalar));
  }
  return e;
}

MemoryEstimate EstimateInferenceMemory(const v1::ModelSpec& spec, int64_t rows, bool mc) {
  const ModelFacts f = Facts(spec);
  MemoryEstimate e;
  e.batch = rows;
  e.parameter_bytes = Mul(Add(f.params, f.state), kScalar);
  // Each layer's output buffer; Monte-Carlo passes add the dropout masks.
  e.activation_bytes =
      Mul(Mul(Add(f.widths.sum, mc ? f.widths.dropout_sum : 0), kScalar), rows);
  // The raw and preprocessed features; Monte-Carlo: the double mean, M2 and
  // the pass's output in double.
  e.workspace_bytes = Mul(Add(Mul(Mul(2, f.input), kScalar), mc ? Mul(3 * 8, f.output) : 0), rows);
  e.largest_layer = f.widths.largest_path;
  e.largest_width = f.widths.largest;
  return e;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.1f GiB", bytes / 1073741824.0);
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.1f MiB", bytes / 1048576.0);
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " bytes");
}

absl::Status CheckMemoryBudget(const MemoryEstimate& estimate, int64_t budget_bytes,
                               absl::string_view what, absl::string_view batch_field,
                               absl::string_view flag) {
  if (estimate.total() <= budget_bytes) return absl::OkStatus();
  const bool exact = estimate.total() != std::numeric_limits<int64_t>::max();
  return absl::ResourceExhaustedError(absl::StrCat(
      what, exact ? " about " : " more than ", FormatBytes(estimate.total()), " for ",
      estimate.batch, " samples at once (", batch_field, "; the largest activation is ",
      estimate.largest_layer, "'s ", estimate.largest_width, " outputs per sample) but ", flag,
      " is ", FormatBytes(budget_bytes), ": use a smaller batch or narrower layers"));
}

}  // namespace trainyard
