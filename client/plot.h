// `trainyard jobs plot`: training curves as a PNG or SVG picture, drawn by
// gnuplot (Debian's gnuplot-nox; docs/decisions.md "Plots: gnuplot"). The
// curves are built here from the jobs' events; gnuplot gets one
// self-contained script (the data inline as datablocks) and draws it.
#ifndef TRAINYARD_CLIENT_PLOT_H_
#define TRAINYARD_CLIENT_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

struct PlotSeries {
  std::string title;
  std::vector<double> x, y;  // same length; non-finite points are dropped
  int color = 1;             // gnuplot line colour index, one per job
  int dash = 1;              // gnuplot dashtype of a line (1: solid)
  bool dashed_with_points = false;  // sparse series (per epoch)
};

struct PlotPanel {
  std::string title;
  std::string y_label;
  bool log_y = false;
  std::vector<PlotSeries> series;
};

// A job to plot: its label in the legend and its stored events.
struct PlotJob {
  std::string label;
  std::vector<v1::JobEvent> events;
};

struct CurveOptions {
  // Smoothing weight of the step losses (Smooth in client/chart.h).
  double smoothing = 0.6;
  // Adds a panel of each diagnosed layer's gradient norm (log scale).
  bool grad_norms = false;
};

// Panels, top to bottom: loss (smoothed step loss, per-epoch validation
// loss), accuracy (per-epoch train and validation accuracy; only when some
// job has one), and with grad_norms the per-layer gradient norms. The x axis
// is the optimiser step throughout (an epoch's point sits at its last step).
// A job with no step points shows its per-epoch train loss instead.
std::vector<PlotPanel> CurvePanels(const std::vector<PlotJob>& jobs, const CurveOptions& options);

// gnuplot's terminal for `output_path`'s extension: .png (cairo), .svg.
// Another extension: a usage error naming -o.
absl::StatusOr<std::string> TerminalFor(const std::string& output_path);

// The whole script: terminal, output, multiplot, each panel's datablocks and
// plot command; every panel spans the same steps (the x range of all of
// them), so they line up one above the other. Every user-supplied string (titles, the path) is quoted for
// gnuplot, and enhanced-text markup is off, so a job named "a_b" or "it's"
// appears as typed.
absl::StatusOr<std::string> GnuplotScript(const std::vector<PlotPanel>& panels,
                                          const std::string& output_path);

// Runs `gnuplot` (found on PATH) on `script` and checks that it wrote
// `output_path`. gnuplot missing: FAILED_PRECONDITION naming the package;
// gnuplot failing: INTERNAL with its error output.
absl::Status RunGnuplot(const std::string& script, const std::string& output_path);

// 'text' quoted for gnuplot (single quotes; a quote doubled).
std::string GnuplotQuote(const std::string& text);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_PLOT_H_
