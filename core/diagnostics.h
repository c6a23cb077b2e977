// Per-layer training diagnostics (TrainingConfig.diagnostics): every
// `every_steps` optimiser steps, a DiagnosticsSnapshot (diagnostics.proto) of
// every parameterised layer (gradient norm, weight norm, update/weight
// ratio), every activation and dropout layer (mean, std, fraction of zeros,
// optionally a histogram of its output) and batch norm's running statistics.
//
// The trainer owns one recorder per diagnosed job and drives it around the
// optimiser step it measures:
//
//   if (recorder && (step + 1) % recorder->every_steps() == 0) {
//     recorder->BeforeUpdate(model);          // remembers w (for ||dw||)
//     optimizer->Step(...);
//     recorder->Measure(model, step + 1, epoch, &snapshot);
//   }
//
// It only reads the model: no RNG draw, no write to a parameter, gradient or
// activation, so a diagnosed run trains bit-identically to an undiagnosed one.
// The copy of the parameters is allocated once, when the recorder is built,
// and the caller's snapshot is reused (protobuf keeps cleared repeated
// elements); an undiagnosed job has no recorder at all.
#ifndef TRAINYARD_CORE_DIAGNOSTICS_H_
#define TRAINYARD_CORE_DIAGNOSTICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/model.h"
#include "core/tensor.h"
#include "trainyard/v1/diagnostics.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Bins of an activation histogram (docs/decisions.md, "Diagnostics
// histograms"): the range is each snapshot's own [min, max].
inline constexpr int kDiagnosticsHistogramBins = 20;

class DiagnosticsRecorder {
 public:
  // Lists the diagnosed layers of `model`, named by their paths in its spec.
  // REQUIRES: config.every_steps() >= 1 (validated by the training plan);
  // `model` outlives the recorder (it keeps pointers to the layer outputs).
  DiagnosticsRecorder(const Model& model, const v1::DiagnosticsConfig& config);

  int every_steps() const { return every_steps_; }

  // Copies the model's parameters as they are before the optimiser step.
  void BeforeUpdate(const Model& model);

  // Fills `out` (cleared first) from the model after the step: the outputs
  // of its latest kTrain Forward, its gradient, the parameters now and as
  // BeforeUpdate saw them, and its layer state.
  // REQUIRES: BeforeUpdate was called before this step's update.
  void Measure(const Model& model, int64_t step, int epoch,
               v1::DiagnosticsSnapshot* out) const;

  // One diagnosed layer: slices of the model's buffers it is bound to.
  struct Entry {
    std::string path;              // "layers[4].residual.layers[0].dense"
    int64_t param_offset = 0;      // into params()/grads()
    int64_t param_count = 0;       // 0: no parameter diagnostics
    const Matrix* output = nullptr;  // non-null: activation diagnostics
    int64_t state_offset = 0;      // into state()
    int64_t state_part_size = 0;   // scalars per named part
    absl::Span<const char* const> state_parts;  // empty: no state diagnostics
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  int every_steps_;
  bool histograms_;
  std::vector<Entry> entries_;
  std::vector<Scalar> before_;  // parameters before the measured step
};

// The statistics of one activation matrix, as the recorder reports them
// (exposed for tests): mean, population std, fraction of exact zeros, and,
// when `histogram` is non-null, kDiagnosticsHistogramBins bins over the
// values' [min, max] (non-finite values are left out of the histogram).
void SummarizeActivation(const Matrix& values, v1::ActivationDiagnostics* out,
                         v1::Histogram* histogram);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DIAGNOSTICS_H_
