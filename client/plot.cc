#include "client/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/chart.h"
#include "client/errors.h"
#include "client/metrics_export.h"

extern char** environ;

namespace trainyard::client {
namespace {

constexpr int kWidth = 1000;
constexpr int kPanelHeight = 360;

bool HasPoints(const PlotSeries& s) {
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) return true;
  }
  return false;
}

std::string Prefix(const std::vector<PlotJob>& jobs, const PlotJob& job) {
  return jobs.size() > 1 ? absl::StrCat(job.label, ": ") : "";
}

// Per-epoch series of one job: train/val loss and accuracy (-1: absent).
struct EpochSeries {
  PlotSeries train_loss, val_loss, train_acc, val_acc;
};

void AddEpoch(const v1::EpochSummary& e, EpochSeries* s) {
  const double x = static_cast<double>(e.step());
  auto add = [x](PlotSeries& series, double v) {
    if (v == -1) return;
    series.x.push_back(x);
    series.y.push_back(v);
  };
  add(s->train_loss, e.train_loss());
  add(s->val_loss, e.val_loss());
  add(s->train_acc, e.train_accuracy());
  add(s->val_acc, e.val_accuracy());
}

// A file that is removed when this goes out of scope.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

absl::StatusOr<std::string> WriteScriptFile(const std::string& script) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                  "/trainyard-plot-XXXXXX");
  const int fd = mkstemp(path.data());
  if (fd < 0) return absl::InternalError(absl::StrCat("creating ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < script.size()) {
    const ssize_t n = ::write(fd, script.data() + done, script.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      std::remove(path.c_str());
      return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(error)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int error = errno;
    std::remove(path.c_str());
    return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(error)));
  }
  return path;
}

}  // namespace

std::string GnuplotQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    // A newline would end the command; titles are one line.
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out + "'";
}

std::vector<PlotPanel> CurvePanels(const std::vector<PlotJob>& jobs, const CurveOptions& options) {
  PlotPanel loss{"loss", "loss", false, {}};
  PlotPanel accuracy{"accuracy", "accuracy", false, {}};
  PlotPanel grads{"gradient L2 norm per layer", "grad norm", true, {}};
  int color = 0;
  for (const PlotJob& job : jobs) {
    ++color;
    const std::string prefix = Prefix(jobs, job);
    PlotSeries steps{absl::StrCat(prefix, "train loss"), {}, {}, color, /*dash=*/1, false};
    EpochSeries epochs;
    std::map<std::string, PlotSeries> layer_grads;  // by layer path, in path order
    std::vector<double> raw_losses;
    for (const v1::JobEvent& event : job.events) {
      if (event.has_step_metrics()) {
        for (const v1::StepPoint& p : event.step_metrics().points()) {
          steps.x.push_back(static_cast<double>(p.step()));
          raw_losses.push_back(p.loss());
        }
      } else if (event.has_epoch_metrics()) {
        AddEpoch(event.epoch_metrics(), &epochs);
      } else if (event.has_diagnostics() && options.grad_norms) {
        for (const v1::DiagnosticsSnapshot& snap : event.diagnostics().snapshots()) {
          for (const v1::LayerDiagnostics& layer : snap.layers()) {
            if (!layer.has_parameters()) continue;
            PlotSeries& s = layer_grads[layer.path()];
            s.x.push_back(static_cast<double>(snap.step()));
            s.y.push_back(layer.parameters().grad_norm());
          }
        }
      }
    }
    steps.y = Smooth(raw_losses, options.smoothing);
    if (options.smoothing > 0) absl::StrAppendFormat(&steps.title, " (EMA %.2g)", options.smoothing);
    epochs.train_loss.title = absl::StrCat(prefix, "train loss per epoch");
    epochs.val_loss.title = absl::StrCat(prefix, "validation loss");
    epochs.train_acc.title = absl::StrCat(prefix, "train accuracy");
    epochs.val_acc.title = absl::StrCat(prefix, "validation accuracy");
    for (PlotSeries* s : {&epochs.train_loss, &epochs.val_loss, &epochs.train_acc, &epochs.val_acc}) {
      s->color = color;
      s->dashed_with_points = true;
    }
    epochs.train_acc.dashed_with_points = false;
    loss.series.push_back(HasPoints(steps) ? std::move(steps) : std::move(epochs.train_loss));
    loss.series.push_back(std::move(epochs.val_loss));
    accuracy.series.push_back(std::move(epochs.train_acc));
    accuracy.series.push_back(std::move(epochs.val_acc));
    int layer = 0;
    for (auto& [path, s] : layer_grads) {
      s.title = absl::StrCat(prefix, path);
      // One job: a colour per layer. Several: the job's colour, a dash
      // pattern per layer (the same layer has the same pattern in each job).
      ++layer;
      s.color = jobs.size() > 1 ? color : layer;
      s.dash = jobs.size() > 1 ? 1 + (layer - 1) % 5 : 1;
      grads.series.push_back(std::move(s));
    }
  }
  std::vector<PlotPanel> panels;
  for (PlotPanel* panel : {&loss, &accuracy, &grads}) {
    std::vector<PlotSeries> kept;
    for (PlotSeries& s : panel->series) {
      if (HasPoints(s)) kept.push_back(std::move(s));
    }
    panel->series = std::move(kept);
    if (!panel->series.empty()) panels.push_back(std::move(*panel));
  }
  return panels;
}

absl::StatusOr<std::string> TerminalFor(const std::string& output_path) {
  const std::string size = absl::StrCat(" size ", kWidth, ",");
  if (absl::EndsWithIgnoreCase(output_path, ".png")) {
    return absl::StrCat("pngcairo noenhanced", size);
  }
  if (absl::EndsWithIgnoreCase(output_path, ".svg")) {
    return absl::StrCat("svg noenhanced dynamic background rgb 'white'", size);
  }
  return UsageError(absl::StrCat("-o: '", output_path,
                                 "' must end in .png or .svg (the picture's format)"));
}

absl::StatusOr<std::string> GnuplotScript(const std::vector<PlotPanel>& panels,
                                          const std::string& output_path) {
  absl::StatusOr<std::string> terminal = TerminalFor(output_path);
  if (!terminal.ok()) return terminal.status();
  if (panels.empty()) {
    return absl::FailedPreconditionError("nothing to plot: the jobs have no metrics yet");
  }
  std::string script = absl::StrCat(
      "set terminal ", *terminal, kPanelHeight * static_cast<int>(panels.size()), "\n",
      "set output ", GnuplotQuote(output_path), "\n",
      "set encoding utf8\nset grid\nset key outside right top\nset xlabel 'step'\n");
  double x_lo = INFINITY, x_hi = -INFINITY;
  for (const PlotPanel& panel : panels) {
    for (const PlotSeries& s : panel.series) {
      for (double x : s.x) {
        if (!std::isfinite(x)) continue;
        x_lo = std::min(x_lo, x);
        x_hi = std::max(x_hi, x);
      }
    }
  }
  if (x_lo < x_hi) {
    absl::StrAppend(&script, "set xrange [", ExactNumber(x_lo), ":", ExactNumber(x_hi), "]\n");
  }
  int block = 0;
  std::string plots;
  for (const PlotPanel& panel : panels) {
    std::string command = absl::StrCat(
        "set title ", GnuplotQuote(panel.title), "\nset ylabel ", GnuplotQuote(panel.y_label),
        "\n", panel.log_y ? "set logscale y\n" : "unset logscale y\n", "plot ");
    for (size_t i = 0; i < panel.series.size(); ++i) {
      const PlotSeries& s = panel.series[i];
      const std::string name = absl::StrCat("$d", block++);
      absl::StrAppend(&script, name, " << EOD\n");
      for (size_t k = 0; k < std::min(s.x.size(), s.y.size()); ++k) {
        if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;
        if (panel.log_y && s.y[k] <= 0) continue;  // no place on a log axis
        absl::StrAppend(&script, ExactNumber(s.x[k]), " ", ExactNumber(s.y[k]), "\n");
      }
      absl::StrAppend(&script, "EOD\n");
      absl::StrAppend(&command, i == 0 ? "" : ", ", name, " using 1:2 with ",
                      s.dashed_with_points ? "linespoints dashtype 2 pointtype 7 pointsize 0.6"
                                           : absl::StrCat("lines dashtype ", s.dash),
                      " linewidth 1.5 linecolor ", s.color, " title ", GnuplotQuote(s.title));
    }
    absl::StrAppend(&plots, command, "\n");
  }
  absl::StrAppend(&script, "set multiplot layout ", panels.size(), ",1\n", plots,
                  "unset multiplot\nset output\n");
  return script;
}

absl::Status RunGnuplot(const std::string& script, const std::string& output_path) {
  // gnuplot writes a temporary file next to the output, renamed over it
  // only on success: a failed plot leaves an existing picture as it was.
  const std::string partial = absl::StrCat(output_path, ".part");
  std::string with_partial = script;
  const std::string set_output = absl::StrCat("set output ", GnuplotQuote(output_path), "\n");
  const size_t at = with_partial.find(set_output);
  if (at == std::string::npos) return absl::InternalError("plot script has no output line");
  with_partial.replace(at, set_output.size(),
                       absl::StrCat("set output ", GnuplotQuote(partial), "\n"));
  absl::StatusOr<std::string> script_path = WriteScriptFile(with_partial);
  if (!script_path.ok()) return script_path.status();
  TempFile script_file(*script_path);
  TempFile partial_file(partial);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  std::string program = "gnuplot";
  std::string file_arg = script_file.path();
  char* argv[] = {program.data(), file_arg.data(), nullptr};
  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawn_error != 0) {
    ::close(pipe_fds[0]);
    if (spawn_error == ENOENT) {
      return absl::FailedPreconditionError(
          "jobs plot needs gnuplot, which is not on PATH (Debian: apt-get install gnuplot-nox)");
    }
    return absl::InternalError(absl::StrCat("starting gnuplot: ", std::strerror(spawn_error)));
  }
  std::string output;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::InternalError(absl::StrCat("gnuplot failed: ", output.empty() ? "no output" : output));
  }
  struct stat st;
  if (::stat(partial.c_str(), &st) != 0 || st.st_size == 0) {
    return absl::InternalError(absl::StrCat("gnuplot wrote no picture to ", partial,
                                            output.empty() ? "" : ": ", output));
  }
  if (std::rename(partial.c_str(), output_path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("renaming ", partial, " to ", output_path, ": ", std::strerror(errno)));
  }
  partial_file.Release();
  return absl::OkStatus();
}

}  // namespace trainyard::client
