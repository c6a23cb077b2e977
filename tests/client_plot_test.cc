// jobs plot: the curves built from events, the gnuplot script (quoting, one
// datablock per series), and real gnuplot writing real PNG and SVG files.
#include "client/plot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "client/errors.h"

namespace trainyard::client {
namespace {

std::vector<v1::JobEvent> Events(double first_loss, bool diagnostics) {
  std::vector<v1::JobEvent> events;
  v1::JobEvent steps;
  for (int s = 1; s <= 4; ++s) {
    v1::StepPoint* p = steps.mutable_step_metrics()->add_points();
    p->set_step(s);
    p->set_epoch(s <= 2 ? 1 : 2);
    p->set_loss(first_loss / s);
  }
  events.push_back(steps);
  for (int e = 1; e <= 2; ++e) {
    v1::JobEvent epoch;
    v1::EpochSummary* m = epoch.mutable_epoch_metrics();
    m->set_epoch(e);
    m->set_step(2 * e);
    m->set_train_loss(first_loss / (2 * e));
    m->set_train_accuracy(0.5 + 0.1 * e);
    m->set_val_loss(first_loss / (2 * e) + 0.05);
    m->set_val_accuracy(0.45 + 0.1 * e);
    events.push_back(epoch);
  }
  if (diagnostics) {
    v1::JobEvent d;
    v1::DiagnosticsSnapshot* snap = d.mutable_diagnostics()->add_snapshots();
    snap->set_step(2);
    v1::LayerDiagnostics* layer = snap->add_layers();
    layer->set_path("layers[0].dense");
    layer->mutable_parameters()->set_grad_norm(0.01);
    events.push_back(d);
  }
  return events;
}

std::string TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                    "/trainyard-plot-test-XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CurvePanels, LossAndAccuracyPanelsPerJobAndGradNormsOnRequest) {
  const std::vector<PlotJob> jobs = {{"sgd", Events(1.0, true)}, {"adam", Events(2.0, false)}};
  std::vector<PlotPanel> panels = CurvePanels(jobs, {.smoothing = 0, .grad_norms = false});
  ASSERT_EQ(panels.size(), 2u);
  EXPECT_EQ(panels[0].title, "loss");
  ASSERT_EQ(panels[0].series.size(), 4u);  // train + validation, per job
  EXPECT_EQ(panels[0].series[0].title, "sgd: train loss");
  EXPECT_EQ(panels[0].series[0].dash, 1);  // solid
  EXPECT_EQ(panels[0].series[0].x, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(panels[0].series[0].y, (std::vector<double>{1, 0.5, 1.0 / 3, 0.25}));  // raw
  EXPECT_EQ(panels[0].series[1].title, "sgd: validation loss");
  EXPECT_EQ(panels[0].series[1].x, (std::vector<double>{2, 4}));  // at each epoch's last step
  EXPECT_EQ(panels[0].series[2].color, 2);                       // the second job's colour
  EXPECT_EQ(panels[1].title, "accuracy");

  panels = CurvePanels(jobs, {.smoothing = 0.6, .grad_norms = true});
  ASSERT_EQ(panels.size(), 3u);
  EXPECT_EQ(panels[0].series[0].title, "sgd: train loss (EMA 0.6)");
  EXPECT_NE(panels[0].series[0].y[1], 0.5);  // smoothed
  EXPECT_TRUE(panels[2].log_y);
  ASSERT_EQ(panels[2].series.size(), 1u);  // only the diagnosed job has a layer
  EXPECT_EQ(panels[2].series[0].title, "sgd: layers[0].dense");
  EXPECT_EQ(panels[2].series[0].color, 1);  // the job's colour
}

TEST(GnuplotScript, QuotesUserTextAndRefusesUnknownFormats) {
  EXPECT_EQ(GnuplotQuote("it's a_b"), "'it''s a_b'");
  EXPECT_EQ(GnuplotQuote("two\nlines"), "'two lines'");
  PlotPanel panel{"loss", "loss", false, {{"it's", {1, 2}, {0.5, 0.25}, 1, 1, false}}};
  absl::StatusOr<std::string> script = GnuplotScript({panel}, "/tmp/o'ut.svg");
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_NE(script->find("set output '/tmp/o''ut.svg'"), std::string::npos) << *script;
  EXPECT_NE(script->find("noenhanced"), std::string::npos);  // "a_b" is not a subscript
  EXPECT_NE(script->find("$d0 << EOD\n1 0.5\n2 0.25\nEOD\n"), std::string::npos) << *script;
  EXPECT_NE(script->find("title 'it''s'"), std::string::npos);
  EXPECT_NE(script->find("set xrange [1:2]\n"), std::string::npos);  // shared by every panel
  EXPECT_NE(script->find("with lines dashtype 1 "), std::string::npos) << *script;  // solid

  absl::StatusOr<std::string> bad = GnuplotScript({panel}, "curves.jpg");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsUsageError(bad.status()));
  EXPECT_NE(bad.status().message().find("-o"), std::string::npos);
  EXPECT_EQ(GnuplotScript({}, "x.png").status().code(), absl::StatusCode::kFailedPrecondition);
}

// Real gnuplot (installed by scripts/lib/deps.sh): the pictures exist, are
// the format asked for, and the SVG names every series.
TEST(RunGnuplot, WritesRealPngAndSvg) {
  const std::string dir = TempDir();
  const std::vector<PlotJob> jobs = {{"run_a", Events(1.0, true)}, {"run b", Events(2.0, false)}};
  const std::vector<PlotPanel> panels = CurvePanels(jobs, {.smoothing = 0.6, .grad_norms = true});

  const std::string svg = dir + "/curves.svg";
  absl::StatusOr<std::string> script = GnuplotScript(panels, svg);
  ASSERT_TRUE(script.ok());
  ASSERT_TRUE(RunGnuplot(*script, svg).ok());
  const std::string svg_text = ReadAll(svg);
  EXPECT_NE(svg_text.find("<svg"), std::string::npos);
  for (const char* title : {"run_a: train loss (EMA 0.6)", "run b: validation loss",
                            "run_a: validation accuracy", "run_a: layers[0].dense"}) {
    EXPECT_NE(svg_text.find(title), std::string::npos) << title;
  }
  struct stat st;
  EXPECT_NE(stat((svg + ".part").c_str(), &st), 0);  // no temporary left behind

  const std::string png = dir + "/curves.png";
  script = GnuplotScript(panels, png);
  ASSERT_TRUE(script.ok());
  ASSERT_TRUE(RunGnuplot(*script, png).ok());
  EXPECT_EQ(ReadAll(png).substr(0, 8), "\x89PNG\r\n\x1a\n");
  std::remove(svg.c_str());
  std::remove(png.c_str());
  rmdir(dir.c_str());
}

TEST(RunGnuplot, AFailedPlotLeavesTheExistingPictureAndSaysWhy) {
  const std::string dir = TempDir();
  const std::string out = dir + "/curves.svg";
  { std::ofstream(out) << "old picture"; }
  PlotPanel panel{"loss", "loss", false, {{"x", {1, 2}, {1, 2}, 1, 1, false}}};
  absl::StatusOr<std::string> script = GnuplotScript({panel}, out);
  ASSERT_TRUE(script.ok());
  // A script error: gnuplot stops with its message.
  const absl::Status status = RunGnuplot(*script + "plot nosuchfunction(x)\n", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("gnuplot"), std::string::npos) << status;
  EXPECT_EQ(ReadAll(out), "old picture");
  struct stat st;
  EXPECT_NE(stat((out + ".part").c_str(), &st), 0);

  // gnuplot not on PATH: a precondition naming the package.
  const char* path = std::getenv("PATH");
  const std::string saved = path != nullptr ? path : "";
  setenv("PATH", dir.c_str(), 1);
  const absl::Status missing = RunGnuplot(*script, out);
  setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  EXPECT_NE(missing.message().find("gnuplot-nox"), std::string::npos);
  std::remove(out.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace trainyard::client
