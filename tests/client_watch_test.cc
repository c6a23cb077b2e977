// The watch loop (exactly-once delivery across reconnects) and the watch
// view (plain lines when not a terminal, live frame on one, the summary).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "client/watch.h"
#include "client/watch_view.h"

namespace trainyard::client {
namespace {

v1::JobEvent StateEvent(int64_t seq, v1::JobState from, v1::JobState to,
                        int64_t unix_seconds = 0) {
  v1::JobEvent e;
  e.set_job_id("job-1");
  e.set_seq(seq);
  e.mutable_time()->set_seconds(unix_seconds);
  e.mutable_state_change()->set_from(from);
  e.mutable_state_change()->set_to(to);
  return e;
}

v1::JobEvent StepEvent(int64_t seq, int64_t step, double loss) {
  v1::JobEvent e;
  e.set_seq(seq);
  v1::StepPoint* p = e.mutable_step_metrics()->add_points();
  p->set_step(step);
  p->set_epoch(1);
  p->set_loss(loss);
  p->set_learning_rate(0.1);
  return e;
}

v1::JobEvent EpochEvent(int64_t seq, int epoch, double loss, double val_acc) {
  v1::JobEvent e;
  e.set_seq(seq);
  v1::EpochSummary* m = e.mutable_epoch_metrics();
  m->set_epoch(epoch);
  m->set_step(epoch * 10);
  m->set_train_loss(loss);
  m->set_train_accuracy(-1);
  m->set_val_loss(-1);
  m->set_val_accuracy(val_acc);
  m->set_epoch_seconds(1.5);
  return e;
}

v1::JobEvent Heartbeat(int64_t seq) {
  v1::JobEvent e;
  e.set_seq(seq);
  e.mutable_heartbeat();
  return e;
}

// Plays a fixed list of messages, then ends with `end`.
class FakeStream final : public EventStream {
 public:
  FakeStream(std::vector<v1::JobEvent> events, absl::Status end)
      : events_(std::move(events)), end_(std::move(end)) {}
  bool Read(v1::JobEvent* event) override {
    if (next_ >= events_.size()) return false;
    *event = events_[next_++];
    return true;
  }
  absl::Status Finish() override { return end_; }

 private:
  std::vector<v1::JobEvent> events_;
  absl::Status end_;
  size_t next_ = 0;
};

WatchRetryPolicy NoSleep(int attempts = 3) {
  WatchRetryPolicy policy;
  policy.max_attempts = attempts;
  policy.sleep = [](absl::Duration) {};
  return policy;
}

TEST(EventDeduper, SkipsHeartbeatsAndSeenSeqs) {
  EventDeduper dedup(2);
  EXPECT_FALSE(dedup.Accept(StepEvent(2, 1, 1.0)));
  EXPECT_TRUE(dedup.Accept(StepEvent(3, 1, 1.0)));
  EXPECT_FALSE(dedup.Accept(Heartbeat(3)));
  EXPECT_FALSE(dedup.Accept(StepEvent(3, 1, 1.0)));
  EXPECT_TRUE(dedup.Accept(StepEvent(4, 1, 1.0)));
  EXPECT_EQ(dedup.last_seq(), 4);
}

TEST(RunWatch, ReconnectsFromLastSeqWithoutGapOrDuplicate) {
  std::vector<int64_t> opened_after;
  EventStreamOpener open = [&](int64_t after) -> std::unique_ptr<EventStream> {
    opened_after.push_back(after);
    if (opened_after.size() == 1) {
      return std::make_unique<FakeStream>(
          std::vector<v1::JobEvent>{StateEvent(1, v1::QUEUED, v1::RUNNING),
                                    StepEvent(2, 1, 0.9), Heartbeat(2), StepEvent(3, 2, 0.8)},
          absl::UnavailableError("connection reset"));
    }
    // A replay that overlaps what was already delivered must not repeat it.
    return std::make_unique<FakeStream>(
        std::vector<v1::JobEvent>{StepEvent(2, 1, 0.9), StepEvent(3, 2, 0.8),
                                  StepEvent(4, 3, 0.7),
                                  StateEvent(5, v1::RUNNING, v1::SUCCEEDED)},
        absl::OkStatus());
  };
  std::vector<int64_t> delivered;
  int heartbeats = 0, reconnects = 0;
  WatchCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) { delivered.push_back(e.seq()); };
  callbacks.on_heartbeat = [&] { ++heartbeats; };
  callbacks.on_reconnect = [&](const absl::Status& s, absl::Duration) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    ++reconnects;
  };
  ASSERT_TRUE(RunWatch(open, 0, callbacks, NoSleep()).ok());
  EXPECT_EQ(delivered, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(opened_after, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(heartbeats, 1);
  EXPECT_EQ(reconnects, 1);
}

TEST(RunWatch, StartsAfterGivenSeq) {
  std::vector<int64_t> delivered;
  EventStreamOpener open = [&](int64_t after) -> std::unique_ptr<EventStream> {
    EXPECT_EQ(after, 7);
    return std::make_unique<FakeStream>(
        std::vector<v1::JobEvent>{StepEvent(7, 1, 1), StepEvent(8, 1, 1)}, absl::OkStatus());
  };
  WatchCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) { delivered.push_back(e.seq()); };
  ASSERT_TRUE(RunWatch(open, 7, callbacks, NoSleep()).ok());
  EXPECT_EQ(delivered, (std::vector<int64_t>{8}));
}

TEST(RunWatch, OtherErrorsAreReturnedAtOnce) {
  int opens = 0;
  EventStreamOpener open = [&](int64_t) -> std::unique_ptr<EventStream> {
    ++opens;
    return std::make_unique<FakeStream>(std::vector<v1::JobEvent>{},
                                        absl::NotFoundError("no job job-9"));
  };
  WatchCallbacks callbacks;
  callbacks.on_event = [](const v1::JobEvent&) {};
  absl::Status status = RunWatch(open, 0, callbacks, NoSleep());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(opens, 1);
}

TEST(RunWatch, GivesUpAfterMaxFailedAttemptsWithBackoff) {
  int opens = 0;
  std::vector<absl::Duration> waits;
  EventStreamOpener open = [&](int64_t) -> std::unique_ptr<EventStream> {
    ++opens;
    return std::make_unique<FakeStream>(std::vector<v1::JobEvent>{},
                                        absl::UnavailableError("down"));
  };
  WatchRetryPolicy policy = NoSleep(3);
  policy.initial_backoff = absl::Seconds(1);
  policy.max_backoff = absl::Seconds(3);
  policy.sleep = [&](absl::Duration d) { waits.push_back(d); };
  WatchCallbacks callbacks;
  callbacks.on_event = [](const v1::JobEvent&) {};
  EXPECT_EQ(RunWatch(open, 0, callbacks, policy).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(opens, 4);
  EXPECT_EQ(waits, (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2),
                                                absl::Seconds(3)}));
}

v1::Job QueuedJob() {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::QUEUED);
  job.mutable_progress()->set_epochs(2);
  job.mutable_progress()->set_total_steps(20);
  return job;
}

TEST(WatchView, PlainLinesWhenNotATerminal) {
  std::ostringstream out;
  WatchView view(out, /*is_tty=*/false, 80, [] { return absl::FromUnixSeconds(1000); });
  view.Start(QueuedJob());
  view.OnEvent(StateEvent(1, v1::QUEUED, v1::RUNNING, 100));
  view.OnEvent(StepEvent(2, 5, 0.9));  // step metrics are not printed
  view.OnEvent(EpochEvent(3, 1, 0.8, 0.75));
  v1::JobEvent ckpt;
  ckpt.set_seq(4);
  ckpt.mutable_checkpoint_saved()->set_checkpoint_id("abc");
  ckpt.mutable_checkpoint_saved()->set_epoch(1);
  ckpt.mutable_checkpoint_saved()->set_step(10);
  ckpt.mutable_checkpoint_saved()->set_reason(v1::PERIODIC);
  view.OnEvent(ckpt);
  view.OnEvent(EpochEvent(5, 2, 0.5, 0.7));
  v1::JobEvent done = StateEvent(6, v1::RUNNING, v1::SUCCEEDED, 165);
  done.mutable_state_change()->set_reason("all epochs done");
  view.OnEvent(done);
  view.Finish(nullptr);
  EXPECT_EQ(out.str(),
            "state QUEUED -> RUNNING\n"
            "epoch 1/2  step 10  train_loss 0.8000  val_acc 0.7500  1.5s\n"
            "checkpoint abc (PERIODIC, epoch 1, step 10)\n"
            "epoch 2/2  step 20  train_loss 0.5000  val_acc 0.7000  1.5s\n"
            "state RUNNING -> SUCCEEDED (all epochs done)\n"
            "job job-1 SUCCEEDED: 2/2 epochs, 20 steps, 1:05\n"
            "last epoch: train_loss 0.5000  val_acc 0.7000  best val_acc 0.7500 (epoch 1)\n");
}

TEST(WatchView, FailedJobSummaryNamesTheError) {
  std::ostringstream out;
  WatchView view(out, false, 80);
  view.Start(QueuedJob());
  v1::JobEvent failed = StateEvent(1, v1::RUNNING, v1::FAILED);
  failed.mutable_state_change()->mutable_error()->set_code(3);
  failed.mutable_state_change()->mutable_error()->set_message("loss became NaN at epoch 1");
  view.OnEvent(failed);
  view.Finish(nullptr);
  EXPECT_NE(out.str().find("state RUNNING -> FAILED: INVALID_ARGUMENT: loss became NaN"),
            std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\nerror: INVALID_ARGUMENT: loss became NaN at epoch 1\n"),
            std::string::npos) << out.str();
}

TEST(WatchView, LiveFrameOnTerminalRedrawsInPlaceWithChart) {
  std::ostringstream out;
  absl::Time now = absl::FromUnixSeconds(1000);
  WatchView view(out, /*is_tty=*/true, 80, [&] { return now; });
  view.Start(QueuedJob());
  view.OnEvent(StateEvent(1, v1::QUEUED, v1::RUNNING, 990));
  for (int i = 0; i < 10; ++i) {
    now += absl::Seconds(1);  // past the redraw throttle
    view.OnEvent(StepEvent(2 + i, i + 1, 1.0 / (i + 1)));
  }
  const std::string text = out.str();
  EXPECT_NE(text.find("job-1  RUNNING  epoch 0/2  step 10/20  [##########..........]  50%"),
            std::string::npos) << text;
  EXPECT_NE(text.find("loss 0.1000  lr 0.1"), std::string::npos) << text;
  // The chart: axes, the smoothed line, its legend; no validation yet.
  EXPECT_NE(text.find("└"), std::string::npos) << text;
  EXPECT_NE(text.find("train loss (EMA 0.6)"), std::string::npos) << text;
  EXPECT_EQ(text.find("validation loss"), std::string::npos) << text;
  // Frames after the first move the cursor up over the previous one: two
  // text lines, six chart rows, the x axis and its labels, the legend.
  EXPECT_NE(text.find("\x1b[11A\r"), std::string::npos) << text;
  EXPECT_NE(text.find("\x1b[2K"), std::string::npos);
}

TEST(WatchState, ValidationLossIsACurveAtEachEpochsLastStep) {
  WatchState state;
  state.Apply(StepEvent(1, 5, 0.9));
  state.Apply(StepEvent(2, 10, 0.7));
  v1::JobEvent epoch = EpochEvent(3, 1, 0.8, 0.6);
  epoch.mutable_epoch_metrics()->set_val_loss(0.75);
  state.Apply(epoch);
  state.Apply(EpochEvent(4, 2, 0.6, -1));  // no validation: no point
  EXPECT_EQ(state.TrainLoss().x, (std::vector<double>{5, 10}));
  EXPECT_EQ(state.TrainLoss().y, (std::vector<double>{0.9, 0.7}));
  EXPECT_EQ(state.ValidationLoss().x, (std::vector<double>{10}));
  EXPECT_EQ(state.ValidationLoss().y, (std::vector<double>{0.75}));
  const std::vector<std::string> frame = RenderLiveFrame(state, 80, absl::FromUnixSeconds(0));
  std::string joined;
  for (const std::string& line : frame) joined += line + "\n";
  EXPECT_NE(joined.find("● validation loss"), std::string::npos) << joined;
  // The marker itself, in a chart row (not only in the legend).
  EXPECT_NE(joined.find("●"), joined.find("● validation loss")) << joined;
}

TEST(WatchState, JobWithoutStepPointsChartsItsEpochLosses) {
  WatchState state;
  state.Apply(EpochEvent(1, 1, 0.8, -1));
  state.Apply(EpochEvent(2, 2, 0.5, -1));
  EXPECT_EQ(state.TrainLoss().x, (std::vector<double>{10, 20}));
  EXPECT_EQ(state.TrainLoss().y, (std::vector<double>{0.8, 0.5}));
}

v1::JobEvent DiagnosticsEvent(int64_t seq) {
  v1::JobEvent e;
  e.set_seq(seq);
  v1::DiagnosticsSnapshot* old = e.mutable_diagnostics()->add_snapshots();
  old->set_step(10);
  v1::DiagnosticsSnapshot* s = e.mutable_diagnostics()->add_snapshots();
  s->set_step(20);
  s->set_epoch(1);
  v1::LayerDiagnostics* dense = s->add_layers();
  dense->set_path("layers[0].dense");
  dense->mutable_parameters()->set_grad_norm(0.125);
  dense->mutable_parameters()->set_weight_norm(3.5);
  dense->mutable_parameters()->set_update_ratio(0.002);
  v1::LayerDiagnostics* relu = s->add_layers();
  relu->set_path("layers[1].activation");
  relu->mutable_activation()->set_mean(0.25);
  relu->mutable_activation()->set_std(0.5);
  relu->mutable_activation()->set_zero_fraction(0.375);
  v1::Histogram* h = relu->mutable_activation()->mutable_histogram();
  h->set_min(0);
  h->set_max(2);
  for (int c : {8, 0, 4, 1}) h->add_counts(c);
  v1::LayerDiagnostics* bn = s->add_layers();
  bn->set_path("layers[2].batch_norm");
  bn->mutable_parameters()->set_grad_norm(1);
  bn->mutable_parameters()->set_weight_norm(2);
  bn->mutable_parameters()->set_update_ratio(0.5);
  v1::StateDiagnostics* mean = bn->add_state();
  mean->set_name("running_mean");
  mean->mutable_summary()->set_mean(0.5);
  mean->mutable_summary()->set_min(-1);
  mean->mutable_summary()->set_max(2);
  return e;
}

// A diagnostics event prints the table of its newest snapshot: one row per
// layer, the histogram as blocks, batch norm's running statistics below it.
TEST(WatchView, DiagnosticsPrintTheNewestSnapshotAsATable) {
  std::ostringstream out;
  WatchView view(out, /*is_tty=*/false, 80);
  view.Start(QueuedJob());
  view.OnEvent(DiagnosticsEvent(1));
  EXPECT_EQ(view.state().step(), 20);
  EXPECT_EQ(out.str(),
            "diagnostics at step 20 (epoch 1)\n"
            "  layer                                 |grad|       |w|  |dw|/|w|      mean       std  zeros\n"
            "  layers[0].dense                        0.125       3.5     0.002\n"
            "  layers[1].activation                                                  0.25       0.5  37.5%  [0 █ ▄▁ 2]\n"
            "  layers[2].batch_norm                       1         2       0.5\n"
            "                                     running_mean 0.5 [-1, 2]\n");
}

TEST(WatchView, LiveFrameShowsTheNewestDiagnosticsWithinTheWidth) {
  std::ostringstream out;
  WatchView view(out, /*is_tty=*/true, 60);
  view.Start(QueuedJob());
  view.OnEvent(StateEvent(1, v1::QUEUED, v1::RUNNING, 990));
  view.OnEvent(DiagnosticsEvent(2));
  view.Finish(nullptr);
  const std::string text = out.str();
  EXPECT_NE(text.find("diagnostics at step 20 (epoch 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("  layers[1].activation"), std::string::npos) << text;
  // Rows are cut at 60 columns, so the histogram (past column 60) is not drawn.
  EXPECT_EQ(text.find("█"), std::string::npos) << text;
}

TEST(WatchState, LossCurveIsBoundedAndKeepsItsMeanAndSteps) {
  WatchState state;
  const int n = static_cast<int>(WatchState::kMaxLossPoints) * 3;
  for (int i = 0; i < n; ++i) state.Apply(StepEvent(i + 1, i + 1, 2.0));
  const LossCurve curve = state.TrainLoss();
  const std::vector<double>& series = curve.y;
  EXPECT_LE(series.size(), WatchState::kMaxLossPoints);
  EXPECT_GE(series.size(), WatchState::kMaxLossPoints / 4);
  for (double v : series) EXPECT_DOUBLE_EQ(v, 2.0);
  // Each thinned point sits at the last step it stands for, in order.
  ASSERT_EQ(curve.x.size(), series.size());
  const double stride = curve.x[0];
  for (size_t i = 0; i < curve.x.size(); ++i) EXPECT_EQ(curve.x[i], stride * (i + 1));
  EXPECT_EQ(state.step(), n);
}

}  // namespace
}  // namespace trainyard::client
