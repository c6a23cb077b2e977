// What a training step and an inference batch of a model need in memory,
// estimated from the spec alone, so that the server can refuse a job (or a
// Predict) that would make an allocation fail and take the process down.
//
// The estimate counts the big buffers, per sample of the batch, from how the
// layers allocate (core/layers/*.cc): each layer's output, the gradient
// passed back through it and one cached intermediate (dropout mask, batch- or
// layer-norm x-hat) — three matrices of the layer's output width; the
// gathered input batch and its gradient (two of the input width); the loss
// gradient. Parameters count four times (values, gradients and up to two
// optimiser slots, as Adam's) plus the checkpoint snapshot a save makes.
// It is an estimate, not a bound: small vectors and Eigen temporaries are
// not counted, but nothing that grows with batch x width is missed.
#ifndef TRAINYARD_CORE_MEMORY_ESTIMATE_H_
#define TRAINYARD_CORE_MEMORY_ESTIMATE_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "core/training_plan.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

struct MemoryEstimate {
  int64_t batch = 0;             // samples per step (or rows per inference chunk)
  int64_t parameter_bytes = 0;   // parameters, gradients, optimiser state, layer state
  int64_t activation_bytes = 0;  // per step: outputs, backward gradients, caches
  int64_t workspace_bytes = 0;   // the input batch, its gradient, the loss gradient
  // The layer with the widest output (the biggest activation), e.g.
  // "model.layers[0].dense", and that width.
  std::string largest_layer;
  int64_t largest_width = 0;

  // Saturates at INT64_MAX, as every field above.
  int64_t total() const;
};

// A training step of `batch` samples. REQUIRES: AnalyzeModel accepted `spec`.
MemoryEstimate EstimateTrainingMemory(const v1::ModelSpec& spec, int64_t batch);

// A training step of the plan's mini-batch (batch_size, or all the training
// samples when there are fewer), or its validation pass in batches of
// kEvalBatch rows, whichever is bigger; with diagnostics, one more copy of
// the parameters.
MemoryEstimate EstimateTrainingMemory(const TrainingPlan& plan);

// Evaluation or prediction of `rows` rows at once (Monte-Carlo: `mc` true,
// which adds the running mean and variance). REQUIRES: a valid spec.
MemoryEstimate EstimateInferenceMemory(const v1::ModelSpec& spec, int64_t rows, bool mc);

// Rows that core/evaluate.cc's EvaluateModel puts in one batch.
inline constexpr int64_t kEvalBatch = 1024;

// RESOURCE_EXHAUSTED when `estimate` exceeds `budget_bytes`, naming the batch,
// the largest layer and `flag`:
//   "the job needs about 400.0 GiB for a training step of 100000 samples
//    (training.batch_size; the largest activation is model.layers[0].dense's
//    1048576 outputs per sample) but --max-job-memory is 8.0 GiB: use a
//    smaller batch or narrower layers"
// `what` says whose estimate it is ("the job needs", "this Predict needs").
absl::Status CheckMemoryBudget(const MemoryEstimate& estimate, int64_t budget_bytes,
                               absl::string_view what, absl::string_view batch_field,
                               absl::string_view flag);

// "1.5 GiB", "300.0 MiB", "512 bytes".
std::string FormatBytes(int64_t bytes);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_MEMORY_ESTIMATE_H_
