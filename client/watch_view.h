// What `trainyard jobs watch` shows. WatchState folds the event stream into
// the numbers worth showing; WatchView prints them — on a terminal as a live
// block (progress, loss and accuracy, a loss chart, the newest per-layer
// diagnostics table) redrawn in place with ANSI escapes, otherwise as plain
// lines (one per epoch, state change, checkpoint and log line, a table per
// diagnostics event; step metrics are not printed) — and ends with a summary.
#ifndef TRAINYARD_CLIENT_WATCH_VIEW_H_
#define TRAINYARD_CLIENT_WATCH_VIEW_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// A loss series against the optimiser step.
struct LossCurve {
  std::vector<double> x, y;
};

class WatchState {
 public:
  // Most step losses kept for the chart; beyond it, neighbours are averaged
  // (the series keeps its shape at a coarser step).
  static constexpr size_t kMaxLossPoints = 2048;

  WatchState();

  // Initial facts from GetJob (id, state, epochs configured, times).
  void SetJob(const v1::Job& job);
  void Apply(const v1::JobEvent& event);

  const std::string& job_id() const { return job_id_; }
  v1::JobState state() const { return state_; }
  bool terminal() const;
  int epochs_done() const { return epochs_done_; }
  int epochs_total() const { return epochs_total_; }
  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_steps_; }
  // NaN until the first step point.
  double last_loss() const { return last_loss_; }
  double last_learning_rate() const { return last_lr_; }
  const std::optional<v1::EpochSummary>& last_epoch() const { return last_epoch_; }
  // -1 when no epoch had validation accuracy.
  double best_val_accuracy() const { return best_val_accuracy_; }
  int best_val_epoch() const { return best_val_epoch_; }
  // Step losses at their steps (thinned, see kMaxLossPoints), or per-epoch
  // training losses at each epoch's last step when the job logs no steps.
  LossCurve TrainLoss() const;
  // Per-epoch validation losses at each epoch's last step.
  const LossCurve& ValidationLoss() const { return val_losses_; }
  // The newest per-layer diagnostics snapshot, if the job sends them.
  const std::optional<v1::DiagnosticsSnapshot>& last_diagnostics() const {
    return last_diagnostics_;
  }
  const v1::ErrorInfo& error() const { return error_; }
  const std::string& last_reason() const { return last_reason_; }
  // Running time: first RUNNING to the terminal state (or `now`); -1 unknown.
  double ElapsedSeconds(absl::Time now) const;

 private:
  void AddLoss(int64_t step, double loss);

  std::string job_id_;
  v1::JobState state_ = v1::JOB_STATE_UNSPECIFIED;
  int epochs_done_ = 0;
  int epochs_total_ = 0;
  int64_t step_ = 0;
  int64_t total_steps_ = 0;
  double last_loss_;  // NaN until set
  double last_lr_;
  std::optional<v1::EpochSummary> last_epoch_;
  std::optional<v1::DiagnosticsSnapshot> last_diagnostics_;
  double best_val_accuracy_ = -1;
  int best_val_epoch_ = 0;
  std::vector<double> losses_;
  std::vector<double> loss_steps_;  // the step of each entry of losses_
  LossCurve epoch_losses_;
  LossCurve val_losses_;
  int64_t loss_stride_ = 1;
  double pending_sum_ = 0;
  int64_t pending_count_ = 0;
  v1::ErrorInfo error_;
  std::string last_reason_;
  absl::Time start_time_ = absl::InfinitePast();
  absl::Time end_time_ = absl::InfinitePast();
};

// The plain-text line for `event` (after `state` has applied it), or nothing
// for events not shown in plain mode (step metrics, heartbeats). A
// diagnostics event gives several lines: the table of its newest snapshot
// (the event batches those since the previous one).
std::optional<std::string> PlainEventLine(const WatchState& state,
                                          const v1::JobEvent& event);

// The live block: a status line, a metrics line, the loss chart (RenderLineChart:
// smoothed train loss, validation loss markers, a legend row), then the
// newest diagnostics table (at most kLiveDiagnosticsLayers layers), if any.
inline constexpr size_t kLiveDiagnosticsLayers = 12;
std::vector<std::string> RenderLiveFrame(const WatchState& state, int width,
                                         absl::Time now);

// Final lines: state, epochs, steps, time, best/last validation accuracy,
// the error of a failed job.
std::vector<std::string> RenderSummary(const WatchState& state, absl::Time now);

class WatchView {
 public:
  WatchView(std::ostream& out, bool is_tty, int width,
            std::function<absl::Time()> now = absl::Now);
  void Start(const v1::Job& job);
  void OnEvent(const v1::JobEvent& event);
  void OnReconnect(const absl::Status& status, absl::Duration backoff);
  // Final redraw and the summary; `final_job` (from GetJob after the stream
  // ended, may be null) corrects state, progress and times.
  void Finish(const v1::Job* final_job);
  const WatchState& state() const { return state_; }

 private:
  void Redraw();

  std::ostream& out_;
  bool is_tty_;
  int width_;
  std::function<absl::Time()> now_;
  WatchState state_;
  int lines_drawn_ = 0;
  absl::Time last_draw_ = absl::InfinitePast();
};

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_WATCH_VIEW_H_
