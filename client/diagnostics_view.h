// How `trainyard jobs watch` shows a per-layer diagnostics snapshot
// (TrainingConfig.diagnostics): a small table, one row per diagnosed layer,
// used for the plain output and below the chart of the live frame.
#ifndef TRAINYARD_CLIENT_DIAGNOSTICS_VIEW_H_
#define TRAINYARD_CLIENT_DIAGNOSTICS_VIEW_H_

#include <cstddef>
#include <string>
#include <vector>

#include "trainyard/v1/diagnostics.pb.h"

namespace trainyard::client {

// A title line ("diagnostics at step 50 (epoch 1)"), a header, then per layer
// its path and, where measured, |grad|, |w| and |dw|/|w| (parameters), the
// mean, std and zero percentage of its output plus the histogram as a row of
// block characters (activations), and a line per running statistic (batch
// norm: mean [min, max] over features). At most `max_layers` layers are shown;
// a last line counts the rest.
std::vector<std::string> RenderDiagnostics(const v1::DiagnosticsSnapshot& snapshot,
                                           size_t max_layers);

// The histogram as one block character per bin (▁..█ scaled to the fullest
// bin, a space for an empty one).
std::string HistogramBar(const v1::Histogram& histogram);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_DIAGNOSTICS_VIEW_H_
