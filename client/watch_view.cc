#include "client/watch_view.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/chart.h"
#include "client/diagnostics_view.h"
#include "client/output.h"
#include "client/progress.h"

namespace trainyard::client {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kChartHeight = 6;
constexpr int kChartMaxWidth = 60;
// TensorBoard's default: enough to see the trend through mini-batch noise.
constexpr double kChartSmoothing = 0.6;

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}
bool IsSet(const google::protobuf::Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}
bool IsTerminal(v1::JobState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED;
}
std::string Epochs(int done, int total) {
  return total > 0 ? absl::StrCat(done, "/", total) : absl::StrCat(done);
}
std::string ErrorText(const v1::ErrorInfo& error) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(error.code())),
                      ": ", error.message());
}

// The first `width` code points of UTF-8 `line` (every character the frame
// draws is one column wide): a wrapped row would break the in-place redraw.
std::string FitColumns(std::string line, int width) {
  int columns = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // continuation
    if (++columns > width) {
      line.resize(i);
      break;
    }
  }
  return line;
}

}  // namespace

WatchState::WatchState() : last_loss_(kNaN), last_lr_(kNaN) {}

bool WatchState::terminal() const { return IsTerminal(state_); }

void WatchState::SetJob(const v1::Job& job) {
  job_id_ = job.id();
  state_ = job.state();
  epochs_total_ = job.progress().epochs();
  epochs_done_ = job.progress().epoch();
  step_ = job.progress().step();
  total_steps_ = job.progress().total_steps();
  if (IsSet(job.start_time())) start_time_ = ToTime(job.start_time());
  if (IsSet(job.end_time())) end_time_ = ToTime(job.end_time());
  if (job.has_error()) error_ = job.error();
}

void WatchState::AddLoss(int64_t step, double loss) {
  pending_sum_ += loss;
  if (++pending_count_ < loss_stride_) return;
  losses_.push_back(pending_sum_ / static_cast<double>(pending_count_));
  loss_steps_.push_back(static_cast<double>(step));
  pending_sum_ = 0;
  pending_count_ = 0;
  if (losses_.size() < kMaxLossPoints) return;
  // Halve: each point now stands for twice as many steps (and sits at the
  // last of them).
  for (size_t i = 0; i < losses_.size() / 2; ++i) {
    losses_[i] = 0.5 * (losses_[2 * i] + losses_[2 * i + 1]);
    loss_steps_[i] = loss_steps_[2 * i + 1];
  }
  losses_.resize(losses_.size() / 2);
  loss_steps_.resize(losses_.size());
  loss_stride_ *= 2;
}

void WatchState::Apply(const v1::JobEvent& event) {
  if (job_id_.empty()) job_id_ = event.job_id();
  switch (event.kind_case()) {
    case v1::JobEvent::kStateChange: {
      const v1::StateChange& change = event.state_change();
      state_ = change.to();
      last_reason_ = change.reason();
      if (change.to() == v1::RUNNING && start_time_ == absl::InfinitePast()) {
        start_time_ = ToTime(event.time());
      }
      if (IsTerminal(change.to())) end_time_ = ToTime(event.time());
      if (change.has_error()) error_ = change.error();
      break;
    }
    case v1::JobEvent::kStepMetrics:
      for (const v1::StepPoint& point : event.step_metrics().points()) {
        step_ = std::max(step_, point.step());
        last_loss_ = point.loss();
        last_lr_ = point.learning_rate();
        AddLoss(point.step(), point.loss());
      }
      break;
    case v1::JobEvent::kEpochMetrics: {
      const v1::EpochSummary& epoch = event.epoch_metrics();
      last_epoch_ = epoch;
      epochs_done_ = std::max(epochs_done_, epoch.epoch());
      step_ = std::max(step_, epoch.step());
      epoch_losses_.x.push_back(static_cast<double>(epoch.step()));
      epoch_losses_.y.push_back(epoch.train_loss());
      if (epoch.val_loss() >= 0) {
        val_losses_.x.push_back(static_cast<double>(epoch.step()));
        val_losses_.y.push_back(epoch.val_loss());
      }
      if (epoch.val_accuracy() >= 0 && epoch.val_accuracy() > best_val_accuracy_) {
        best_val_accuracy_ = epoch.val_accuracy();
        best_val_epoch_ = epoch.epoch();
      }
      break;
    }
    case v1::JobEvent::kDiagnostics: {
      const v1::DiagnosticsBatch& batch = event.diagnostics();
      if (batch.snapshots_size() > 0) {
        last_diagnostics_ = batch.snapshots(batch.snapshots_size() - 1);
        step_ = std::max(step_, last_diagnostics_->step());
      }
      break;
    }
    default:
      break;
  }
}

LossCurve WatchState::TrainLoss() const {
  return losses_.size() >= 2 ? LossCurve{loss_steps_, losses_} : epoch_losses_;
}

double WatchState::ElapsedSeconds(absl::Time now) const {
  if (start_time_ == absl::InfinitePast()) return -1;
  const absl::Time end = end_time_ == absl::InfinitePast() ? now : end_time_;
  return std::max(0.0, absl::ToDoubleSeconds(end - start_time_));
}

std::optional<std::string> PlainEventLine(const WatchState& state,
                                          const v1::JobEvent& event) {
  switch (event.kind_case()) {
    case v1::JobEvent::kStateChange: {
      const v1::StateChange& change = event.state_change();
      std::string line =
          change.from() == v1::JOB_STATE_UNSPECIFIED
              ? absl::StrCat("state ", JobStateName(change.to()))
              : absl::StrCat("state ", JobStateName(change.from()), " -> ",
                             JobStateName(change.to()));
      if (!change.reason().empty()) absl::StrAppend(&line, " (", change.reason(), ")");
      if (change.has_error()) absl::StrAppend(&line, ": ", ErrorText(change.error()));
      return line;
    }
    case v1::JobEvent::kEpochMetrics: {
      const v1::EpochSummary& e = event.epoch_metrics();
      std::string line = absl::StrFormat("epoch %s  step %d  train_loss %.4f",
                                         Epochs(e.epoch(), state.epochs_total()),
                                         e.step(), e.train_loss());
      if (e.train_accuracy() >= 0) {
        absl::StrAppendFormat(&line, "  train_acc %.4f", e.train_accuracy());
      }
      if (e.val_loss() >= 0) absl::StrAppendFormat(&line, "  val_loss %.4f", e.val_loss());
      if (e.val_accuracy() >= 0) {
        absl::StrAppendFormat(&line, "  val_acc %.4f", e.val_accuracy());
      }
      absl::StrAppendFormat(&line, "  %.1fs", e.epoch_seconds());
      return line;
    }
    case v1::JobEvent::kCheckpointSaved: {
      const v1::CheckpointSaved& c = event.checkpoint_saved();
      return absl::StrFormat("checkpoint %s (%s, epoch %d, step %d)", c.checkpoint_id(),
                             v1::CheckpointReason_Name(c.reason()), c.epoch(), c.step());
    }
    case v1::JobEvent::kDiagnostics: {
      const v1::DiagnosticsBatch& batch = event.diagnostics();
      if (batch.snapshots_size() == 0) return std::nullopt;
      const std::vector<std::string> rows =
          RenderDiagnostics(batch.snapshots(batch.snapshots_size() - 1), SIZE_MAX);
      return absl::StrJoin(rows, "\n");
    }
    case v1::JobEvent::kLog: {
      std::string level = v1::LogLevel_Name(event.log().level());
      if (level.rfind("LOG_", 0) == 0) level = level.substr(4);
      return absl::StrCat("log ", level, ": ", event.log().text());
    }
    default:
      return std::nullopt;
  }
}

std::vector<std::string> RenderLiveFrame(const WatchState& state, int width,
                                         absl::Time now) {
  std::vector<std::string> lines;
  std::string status = absl::StrCat(state.job_id(), "  ", JobStateName(state.state()),
                                    "  epoch ", Epochs(state.epochs_done(), state.epochs_total()));
  if (state.total_steps() > 0) {
    const double fraction = std::clamp(
        static_cast<double>(state.step()) / static_cast<double>(state.total_steps()), 0.0, 1.0);
    const int bar = 20, filled = static_cast<int>(fraction * bar);
    absl::StrAppendFormat(&status, "  step %d/%d  [%s%s] %3d%%", state.step(),
                          state.total_steps(), std::string(filled, '#'),
                          std::string(bar - filled, '.'), static_cast<int>(fraction * 100));
  } else {
    absl::StrAppend(&status, "  step ", state.step());
  }
  const double elapsed = state.ElapsedSeconds(now);
  if (elapsed >= 0) absl::StrAppend(&status, "  ", FormatDuration(elapsed));
  lines.push_back(status);

  std::string metrics;
  if (std::isfinite(state.last_loss())) {
    absl::StrAppendFormat(&metrics, "loss %.4f  lr %.3g  ", state.last_loss(),
                          state.last_learning_rate());
  }
  if (state.last_epoch().has_value()) {
    const v1::EpochSummary& e = *state.last_epoch();
    absl::StrAppendFormat(&metrics, "epoch %d: train_loss %.4f", e.epoch(), e.train_loss());
    if (e.train_accuracy() >= 0) absl::StrAppendFormat(&metrics, "  acc %.4f", e.train_accuracy());
    if (e.val_loss() >= 0) absl::StrAppendFormat(&metrics, "  val_loss %.4f", e.val_loss());
    if (e.val_accuracy() >= 0) absl::StrAppendFormat(&metrics, "  val_acc %.4f", e.val_accuracy());
  }
  while (!metrics.empty() && metrics.back() == ' ') metrics.pop_back();
  lines.push_back(metrics.empty() ? "waiting for metrics..." : metrics);

  const int chart_width = std::min(kChartMaxWidth, width - 12);
  const LossCurve train = state.TrainLoss();
  std::vector<ChartSeries> series = {{train.x, Smooth(train.y, kChartSmoothing), ""}};
  const bool validation = !state.ValidationLoss().x.empty();
  if (validation) series.push_back({state.ValidationLoss().x, state.ValidationLoss().y, "●"});
  std::vector<std::string> chart = RenderLineChart(series, chart_width, kChartHeight);
  if (!chart.empty()) {
    for (std::string& row : chart) lines.push_back(std::move(row));
    lines.push_back(FitColumns(
        absl::StrFormat("%s⠤⠤ train loss (EMA %.2g)%s", std::string(11, ' '), kChartSmoothing,
                        validation ? "   ● validation loss" : ""),
        std::max(width, 0)));
  }
  for (size_t i = 0; i < 2; ++i) {
    if (static_cast<int>(lines[i].size()) > width) lines[i].resize(std::max(width, 0));
  }
  if (state.last_diagnostics().has_value()) {
    for (std::string& row : RenderDiagnostics(*state.last_diagnostics(), kLiveDiagnosticsLayers)) {
      lines.push_back(FitColumns(std::move(row), std::max(width, 0)));
    }
  }
  return lines;
}

std::vector<std::string> RenderSummary(const WatchState& state, absl::Time now) {
  std::vector<std::string> lines;
  std::string head = absl::StrCat("job ", state.job_id(), " ", JobStateName(state.state()),
                                  ": ", Epochs(state.epochs_done(), state.epochs_total()),
                                  " epochs, ", state.step(), " steps");
  const double elapsed = state.ElapsedSeconds(now);
  if (elapsed >= 0) absl::StrAppend(&head, ", ", FormatDuration(elapsed));
  lines.push_back(head);
  if (state.last_epoch().has_value()) {
    const v1::EpochSummary& e = *state.last_epoch();
    std::string line = absl::StrFormat("last epoch: train_loss %.4f", e.train_loss());
    if (e.train_accuracy() >= 0) absl::StrAppendFormat(&line, "  acc %.4f", e.train_accuracy());
    if (e.val_accuracy() >= 0) absl::StrAppendFormat(&line, "  val_acc %.4f", e.val_accuracy());
    if (state.best_val_accuracy() >= 0) {
      absl::StrAppendFormat(&line, "  best val_acc %.4f (epoch %d)",
                            state.best_val_accuracy(), state.best_val_epoch());
    }
    lines.push_back(line);
  }
  if (state.state() == v1::FAILED && state.error().code() != 0) {
    lines.push_back(absl::StrCat("error: ", ErrorText(state.error())));
  }
  return lines;
}

WatchView::WatchView(std::ostream& out, bool is_tty, int width,
                     std::function<absl::Time()> now)
    : out_(out), is_tty_(is_tty), width_(std::max(width, 20)), now_(std::move(now)) {}

void WatchView::Start(const v1::Job& job) {
  state_.SetJob(job);
  if (is_tty_) Redraw();
}

void WatchView::OnEvent(const v1::JobEvent& event) {
  state_.Apply(event);
  if (!is_tty_) {
    if (auto line = PlainEventLine(state_, event)) out_ << *line << "\n" << std::flush;
    return;
  }
  // Metrics can arrive hundreds of times a second (a replayed history, a
  // tiny model); the frame need not. State changes always show at once.
  const bool important = event.has_state_change();
  if (important || now_() - last_draw_ >= absl::Milliseconds(200)) Redraw();
}

void WatchView::OnReconnect(const absl::Status& status, absl::Duration backoff) {
  const std::string line =
      absl::StrFormat("connection lost (%s); reconnecting in %s",
                      absl::StatusCodeToString(status.code()), absl::FormatDuration(backoff));
  if (is_tty_) {
    lines_drawn_ = 0;  // the note scrolls the frame away; draw a new one below
    out_ << line << "\n";
  } else {
    out_ << line << "\n" << std::flush;
  }
}

void WatchView::Redraw() {
  last_draw_ = now_();
  const std::vector<std::string> lines = RenderLiveFrame(state_, width_, last_draw_);
  // Up to the first line of the previous frame, then overwrite line by line.
  if (lines_drawn_ > 0) out_ << "\x1b[" << lines_drawn_ << "A\r";
  for (const std::string& line : lines) out_ << "\x1b[2K" << line << "\n";
  // A shorter frame (no chart yet) leaves old rows below; clear them.
  for (int i = static_cast<int>(lines.size()); i < lines_drawn_; ++i) out_ << "\x1b[2K\n";
  lines_drawn_ = std::max(lines_drawn_, static_cast<int>(lines.size()));
  out_ << std::flush;
}

void WatchView::Finish(const v1::Job* final_job) {
  if (final_job != nullptr) state_.SetJob(*final_job);
  if (is_tty_) Redraw();
  for (const std::string& line : RenderSummary(state_, now_())) out_ << line << "\n";
  out_ << std::flush;
}

}  // namespace trainyard::client
