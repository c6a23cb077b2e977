#include "core/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/layer_registry.h"
#include "core/layers/sequential.h"

namespace trainyard {
namespace {

// Walks a spec's layer list beside the layers built from it, in the order
// Sequential::Bind hands out the buffers, so each entry's offsets are its
// layer's slices. `path` names the list ("layers", "layers[4].residual.layers").
void Collect(const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
             const Sequential& net, const std::string& path, int64_t& param_offset,
             int64_t& state_offset, std::vector<DiagnosticsRecorder::Entry>& out) {
  for (int i = 0; i < specs.size(); ++i) {
    const LayerKind* kind = FindLayerKind(specs[i].kind_case());
    const Layer& layer = net.layer(static_cast<size_t>(i));
    const std::string layer_path = absl::StrCat(path, "[", i, "].", kind->name);
    if (kind->nests) {
      // The block's parameters and state are those of its layers, which
      // advance the offsets as they are visited.
      Collect(kind->nested_layers(specs[i]), *layer.nested(), layer_path + ".layers",
              param_offset, state_offset, out);
      continue;
    }
    DiagnosticsRecorder::Entry e;
    e.path = layer_path;
    if (layer.num_params() > 0) {
      e.param_offset = param_offset;
      e.param_count = layer.num_params();
    }
    if (kind->diagnose_output) e.output = &net.output(static_cast<size_t>(i));
    if (!kind->state_parts.empty() && layer.num_state() > 0) {
      e.state_offset = state_offset;
      e.state_part_size = layer.num_state() / static_cast<int64_t>(kind->state_parts.size());
      e.state_parts = kind->state_parts;
    }
    param_offset += layer.num_params();
    state_offset += layer.num_state();
    if (e.param_count > 0 || e.output != nullptr || !e.state_parts.empty()) {
      out.push_back(std::move(e));
    }
  }
}

double SumOfSquares(const Scalar* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

double SquaredDistance(const Scalar* a, const Scalar* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

void Summarize(const Scalar* x, int64_t n, v1::ValueSummary* out) {
  double sum = 0;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    sum += x[i];
    lo = std::min<double>(lo, x[i]);
    hi = std::max<double>(hi, x[i]);
  }
  out->set_mean(n > 0 ? sum / static_cast<double>(n) : 0);
  out->set_min(n > 0 ? lo : 0);
  out->set_max(n > 0 ? hi : 0);
}

}  // namespace

DiagnosticsRecorder::DiagnosticsRecorder(const Model& model,
                                         const v1::DiagnosticsConfig& config)
    : every_steps_(config.every_steps()),
      histograms_(config.histograms()),
      before_(static_cast<size_t>(model.num_params())) {
  int64_t param_offset = 0, state_offset = 0;
  Collect(model.spec().layers(), model.net(), "layers", param_offset, state_offset,
          entries_);
}

void DiagnosticsRecorder::BeforeUpdate(const Model& model) {
  std::copy(model.params(), model.params() + model.num_params(), before_.begin());
}

void DiagnosticsRecorder::Measure(const Model& model, int64_t step, int epoch,
                                  v1::DiagnosticsSnapshot* out) const {
  out->Clear();
  out->set_step(step);
  out->set_epoch(epoch);
  for (const Entry& e : entries_) {
    v1::LayerDiagnostics* layer = out->add_layers();
    layer->set_path(e.path);
    if (e.param_count > 0) {
      const Scalar* w = model.params() + e.param_offset;
      const Scalar* w0 = before_.data() + e.param_offset;
      const double weight_norm = std::sqrt(SumOfSquares(w0, e.param_count));
      const double update_norm = std::sqrt(SquaredDistance(w, w0, e.param_count));
      v1::ParameterDiagnostics* p = layer->mutable_parameters();
      p->set_grad_norm(std::sqrt(SumOfSquares(model.grads() + e.param_offset, e.param_count)));
      p->set_weight_norm(weight_norm);
      p->set_update_ratio(weight_norm > 0    ? update_norm / weight_norm
                          : update_norm == 0 ? 0
                                             : std::numeric_limits<double>::infinity());
    }
    if (e.output != nullptr) {
      v1::ActivationDiagnostics* a = layer->mutable_activation();
      SummarizeActivation(*e.output, a, histograms_ ? a->mutable_histogram() : nullptr);
    }
    for (size_t k = 0; k < e.state_parts.size(); ++k) {
      v1::StateDiagnostics* s = layer->add_state();
      s->set_name(e.state_parts[k]);
      Summarize(model.state() + e.state_offset + static_cast<int64_t>(k) * e.state_part_size,
                e.state_part_size, s->mutable_summary());
    }
  }
}

void SummarizeActivation(const Matrix& values, v1::ActivationDiagnostics* out,
                         v1::Histogram* histogram) {
  const Scalar* x = values.data();
  const int64_t n = values.size();
  double sum = 0;
  int64_t zeros = 0;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    sum += v;
    zeros += v == 0;
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0;
  // Two passes (mean, then squared deviations): exact enough for
  // activations whose mean is large next to their spread.
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    sq += d * d;
  }
  out->set_mean(mean);
  out->set_std(n > 0 ? std::sqrt(sq / static_cast<double>(n)) : 0);
  out->set_zero_fraction(n > 0 ? static_cast<double>(zeros) / static_cast<double>(n) : 0);
  if (histogram == nullptr) return;
  histogram->Clear();
  constexpr int kBins = kDiagnosticsHistogramBins;
  histogram->mutable_counts()->Resize(kBins, 0);
  int64_t* counts = histogram->mutable_counts()->mutable_data();
  if (lo > hi) return;  // no finite value: all bins empty, min = max = 0
  histogram->set_min(lo);
  histogram->set_max(hi);
  const double width = (hi - lo) / kBins;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (!std::isfinite(v)) continue;
    int bin = width > 0 ? static_cast<int>((v - lo) / width) : 0;
    counts[std::min(bin, kBins - 1)] += 1;
  }
}

}  // namespace trainyard
