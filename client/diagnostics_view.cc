#include "client/diagnostics_view.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trainyard::client {
namespace {

// Wide enough for "layers[12].residual.layers[3].batch_norm".
constexpr int kPathWidth = 34;

}  // namespace

std::string HistogramBar(const v1::Histogram& histogram) {
  static const char* const kLevels[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  int64_t most = 0;
  for (int64_t c : histogram.counts()) most = std::max(most, c);
  std::string bar;
  for (int64_t c : histogram.counts()) {
    if (c == 0 || most == 0) {
      bar += " ";
      continue;
    }
    // 1..8 levels: any non-empty bin shows at least the lowest block.
    const int64_t level = std::max<int64_t>(1, (c * 8 + most - 1) / most);
    bar += kLevels[level - 1];
  }
  return bar;
}

std::vector<std::string> RenderDiagnostics(const v1::DiagnosticsSnapshot& snapshot,
                                           size_t max_layers) {
  std::vector<std::string> lines;
  lines.push_back(absl::StrFormat("diagnostics at step %d (epoch %d)", snapshot.step(),
                                  snapshot.epoch()));
  lines.push_back(absl::StrFormat("  %-*s %9s %9s %9s %9s %9s %6s", kPathWidth, "layer",
                                  "|grad|", "|w|", "|dw|/|w|", "mean", "std", "zeros"));
  const size_t shown = std::min<size_t>(max_layers, snapshot.layers_size());
  for (size_t i = 0; i < shown; ++i) {
    const v1::LayerDiagnostics& layer = snapshot.layers(static_cast<int>(i));
    std::string line = absl::StrFormat("  %-*s", kPathWidth, layer.path());
    if (layer.has_parameters()) {
      const v1::ParameterDiagnostics& p = layer.parameters();
      absl::StrAppendFormat(&line, " %9.3g %9.3g %9.3g", p.grad_norm(), p.weight_norm(),
                            p.update_ratio());
    } else {
      absl::StrAppendFormat(&line, " %9s %9s %9s", "", "", "");
    }
    if (layer.has_activation()) {
      const v1::ActivationDiagnostics& a = layer.activation();
      absl::StrAppendFormat(&line, " %9.3g %9.3g %5.1f%%", a.mean(), a.std(),
                            100 * a.zero_fraction());
      if (a.has_histogram()) {
        absl::StrAppendFormat(&line, "  [%.3g %s %.3g]", a.histogram().min(),
                              HistogramBar(a.histogram()), a.histogram().max());
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back(std::move(line));
    for (const v1::StateDiagnostics& s : layer.state()) {
      lines.push_back(absl::StrFormat("  %-*s %s %.4g [%.4g, %.4g]", kPathWidth, "",
                                      s.name(), s.summary().mean(), s.summary().min(),
                                      s.summary().max()));
    }
  }
  if (static_cast<size_t>(snapshot.layers_size()) > shown) {
    lines.push_back(absl::StrCat("  ... ", snapshot.layers_size() - shown, " more layers"));
  }
  return lines;
}

}  // namespace trainyard::client
