// The trainer's step seam: Step/RunEpoch driven by hand, the gradient reducer
// between backward and the optimiser, and the injected clock.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/gradient_reducer.h"
#include "core/optimizer.h"
#include "core/trainer.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"
#include "tests/testing/trainer_state.h"

namespace trainyard {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::BlobsDataset;
using testing::FromJson;
using testing::LayerState;
using testing::Params;

// Batch norm (running statistics) and dropout (RNG) make any misordering of
// forward, backward and update show in the weights.
v1::ModelSpec Model5() {
  return FromJson<v1::ModelSpec>(R"({"inputDim": 5,
    "layers": [{"dense": {"units": 12}}, {"batchNorm": {}},
               {"activation": {"kind": "TANH"}}, {"dropout": {"rate": 0.1}},
               {"dense": {"units": 3}}]})");
}

// Plain SGD: no momentum, no weight decay, no clipping, a constant rate, so
// the update is p + (-lr) g and doubling either lr or g doubles it exactly.
v1::TrainingConfig PlainSgd(double lr, int epochs) {
  v1::TrainingConfig c = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"sgd": {}},
    "batchSize": 16, "seed": 21, "validationFraction": 0.2, "logEverySteps": 1})");
  c.mutable_optimizer()->set_learning_rate(lr);
  c.set_epochs(epochs);
  return c;
}

v1::TrainingConfig AdamWithEverything(int epochs) {
  v1::TrainingConfig c = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 0.01, "adam": {}},
    "schedule": {"cosine": {"tMax": 30}, "warmup": {"steps": 4}},
    "clipGradNorm": 1.0, "checkpointEveryEpochs": 1,
    "batchSize": 16, "seed": 5, "validationFraction": 0.2, "logEverySteps": 3})");
  c.set_epochs(epochs);
  return c;
}

std::unique_ptr<Trainer> MustCreate(const v1::TrainingConfig& config,
                                    std::shared_ptr<const Dataset> data,
                                    TrainerOptions options = {}) {
  auto t = Trainer::Create(Model5(), config, std::move(data), nullptr, options);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

class DoublingReducer final : public GradientReducer {
 public:
  absl::Status Reduce(Scalar* grads, int64_t n, int64_t) override {
    for (int64_t i = 0; i < n; ++i) grads[i] *= 2;
    return absl::OkStatus();
  }
};

// lr (2g) and (2 lr) g are both exact doublings of lr g in floating point, so
// a reducer that doubles the gradient must give the run with twice the rate
// bit for bit; a reducer that were not applied, applied twice, or applied
// after the optimiser would not.
TEST(TrainerStepTest, DoublingReducerEqualsTwiceTheLearningRate) {
  auto data = BlobsDataset(200, 5, 1);
  DoublingReducer doubling;
  TrainerOptions with_reducer;
  with_reducer.gradient_reducer = &doubling;
  auto reduced = MustCreate(PlainSgd(0.05, 3), data, with_reducer);
  auto twice_lr = MustCreate(PlainSgd(2 * 0.05, 3), data);
  auto plain = MustCreate(PlainSgd(0.05, 3), data);
  ASSERT_EQ(*reduced->Run(nullptr, nullptr), RunOutcome::kCompleted);
  ASSERT_EQ(*twice_lr->Run(nullptr, nullptr), RunOutcome::kCompleted);
  ASSERT_EQ(*plain->Run(nullptr, nullptr), RunOutcome::kCompleted);
  EXPECT_EQ(Params(*reduced), Params(*twice_lr));
  EXPECT_EQ(LayerState(*reduced), LayerState(*twice_lr));
  EXPECT_NE(Params(*reduced), Params(*plain));  // the reducer did something
}

// Records what the trainer's state is when the reducer is called.
class RecordingReducer final : public GradientReducer {
 public:
  absl::Status Reduce(Scalar* grads, int64_t n, int64_t batch_samples) override {
    const Model& model = trainer->model();
    EXPECT_EQ(grads, model.grads());
    EXPECT_EQ(n, model.num_params());
    double sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(grads[i]) * grads[i];
    nonzero_grads.push_back(sum_sq > 0);
    params_seen.emplace_back(model.params(), model.params() + model.num_params());
    batch_sizes.push_back(batch_samples);
    step_seen.push_back(trainer->step());
    // Scale by 4, and remember the norm clipping will see (before clipping).
    norm_seen.push_back(ClipGradNorm(grads, n, 0));
    for (int64_t i = 0; i < n; ++i) grads[i] *= 4;
    return absl::OkStatus();
  }

  const Trainer* trainer = nullptr;
  std::vector<bool> nonzero_grads;
  std::vector<std::vector<Scalar>> params_seen;
  std::vector<int64_t> batch_sizes;
  std::vector<int64_t> step_seen;
  std::vector<double> norm_seen;
};

// Once per step; after backward (the gradient is there) and before the
// optimiser (the weights are still those of the previous step); and before
// clipping (the reported pre-clip norm is that of the reduced gradient).
TEST(TrainerStepTest, ReducerRunsOncePerStepBetweenBackwardAndOptimiser) {
  auto data = BlobsDataset(200, 5, 2);  // 160 training samples: 10 batches of 16
  v1::TrainingConfig config = PlainSgd(0.05, 2);
  config.set_batch_size(24);  // 6 batches of 24 and one of 16
  config.set_clip_grad_norm(0.01);
  RecordingReducer reducer;
  TrainerOptions options;
  options.gradient_reducer = &reducer;
  auto t = MustCreate(config, data, options);
  reducer.trainer = t.get();
  const std::vector<Scalar> initial = Params(*t);

  struct AfterStep : TrainingObserver {
    const Trainer* t;
    std::vector<std::vector<Scalar>> params;
    std::vector<double> norms;
    void OnStep(const StepMetrics& m) override {
      params.push_back(Params(*t));
      norms.push_back(m.grad_norm);
    }
  } after;
  after.t = t.get();
  ASSERT_EQ(*t->Run(&after, nullptr), RunOutcome::kCompleted);

  const size_t steps = 2 * 7;
  ASSERT_EQ(t->step(), static_cast<int64_t>(steps));
  ASSERT_EQ(reducer.params_seen.size(), steps);
  ASSERT_EQ(after.params.size(), steps);
  for (size_t k = 0; k < steps; ++k) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(reducer.nonzero_grads[k]);
    EXPECT_EQ(reducer.step_seen[k], static_cast<int64_t>(k));
    EXPECT_EQ(reducer.batch_sizes[k], k % 7 == 6 ? 16 : 24);
    EXPECT_EQ(reducer.params_seen[k], k == 0 ? initial : after.params[k - 1]);
    EXPECT_NE(reducer.params_seen[k], after.params[k]);
    EXPECT_DOUBLE_EQ(after.norms[k], 4 * reducer.norm_seen[k]);
  }
}

class FailingReducer final : public GradientReducer {
 public:
  absl::Status Reduce(Scalar*, int64_t, int64_t) override {
    if (++calls == 5) return absl::UnavailableError("rank 3 left the all-reduce");
    return absl::OkStatus();
  }
  int calls = 0;
};

TEST(TrainerStepTest, ReducerErrorFailsTheRunWithThatError) {
  FailingReducer reducer;
  TrainerOptions options;
  options.gradient_reducer = &reducer;
  auto t = MustCreate(PlainSgd(0.05, 3), BlobsDataset(200, 5, 3), options);
  absl::StatusOr<RunOutcome> r = t->Run(nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), absl::UnavailableError("rank 3 left the all-reduce"));
  EXPECT_EQ(reducer.calls, 5);
  EXPECT_EQ(t->step(), 4);  // the failing step applied no update
}

struct Summaries : TrainingObserver {
  std::vector<v1::EpochSummary> epochs;
  std::vector<int64_t> logged_steps;
  std::vector<int64_t> checkpoint_steps;
  void OnStep(const StepMetrics& m) override { logged_steps.push_back(m.step); }
  void OnEpoch(const v1::EpochSummary& s) override { epochs.push_back(s); }
  void OnCheckpoint(const v1::Checkpoint& c) override {
    checkpoint_steps.push_back(c.step());
  }
};

// The loop of trainer.h's header comment, with Step and RunEpoch, gives the
// weights, the reports and the outcome of Run.
TEST(TrainerStepTest, StepsDrivenByHandEqualRun) {
  for (bool early_stop : {false, true}) {
    SCOPED_TRACE(early_stop);
    v1::TrainingConfig config = AdamWithEverything(early_stop ? 40 : 3);
    if (early_stop) {
      config.mutable_early_stopping()->set_patience(2);
      config.mutable_early_stopping()->set_min_delta(0.05);
      config.mutable_early_stopping()->set_restore_best(true);
    }
    auto data = BlobsDataset(230, 5, 4);  // 184 training samples: last batch 8
    auto by_run = MustCreate(config, data);
    auto by_hand = MustCreate(config, data);
    Summaries run_seen, hand_seen;
    absl::StatusOr<RunOutcome> run_outcome = by_run->Run(&run_seen, nullptr);
    ASSERT_TRUE(run_outcome.ok()) << run_outcome.status();

    RunOutcome hand_outcome = RunOutcome::kCompleted;
    while (!by_hand->finished()) {
      ASSERT_EQ(by_hand->steps_left_in_epoch(), 12);
      while (by_hand->steps_left_in_epoch() > 0) {
        const int64_t before = by_hand->step();
        absl::StatusOr<StepMetrics> m = by_hand->Step(&hand_seen);
        ASSERT_TRUE(m.ok()) << m.status();
        EXPECT_EQ(m->step, before + 1);
        EXPECT_EQ(m->epoch, by_hand->epoch() + 1);
      }
      // A step past the epoch's last batch is refused, not taken.
      absl::StatusOr<StepMetrics> extra = by_hand->Step(&hand_seen);
      EXPECT_EQ(extra.status().code(), absl::StatusCode::kFailedPrecondition);
      absl::StatusOr<RunOutcome> end = by_hand->RunEpoch(&hand_seen, nullptr);
      ASSERT_TRUE(end.ok()) << end.status();
      hand_outcome = *end;
      if (hand_outcome == RunOutcome::kEarlyStopped) break;
    }
    EXPECT_EQ(hand_outcome, *run_outcome);
    EXPECT_EQ(hand_outcome, early_stop ? RunOutcome::kEarlyStopped
                                       : RunOutcome::kCompleted);
    EXPECT_EQ(Params(*by_hand), Params(*by_run));
    EXPECT_EQ(LayerState(*by_hand), LayerState(*by_run));
    EXPECT_EQ(by_hand->step(), by_run->step());
    EXPECT_EQ(by_hand->epoch(), by_run->epoch());
    EXPECT_EQ(hand_seen.logged_steps, run_seen.logged_steps);
    EXPECT_EQ(hand_seen.checkpoint_steps, run_seen.checkpoint_steps);
    ASSERT_EQ(hand_seen.epochs.size(), run_seen.epochs.size());
    for (size_t e = 0; e < run_seen.epochs.size(); ++e) {
      EXPECT_EQ(hand_seen.epochs[e].step(), run_seen.epochs[e].step());
      EXPECT_EQ(hand_seen.epochs[e].train_loss(), run_seen.epochs[e].train_loss());
      EXPECT_EQ(hand_seen.epochs[e].val_loss(), run_seen.epochs[e].val_loss());
      EXPECT_EQ(hand_seen.epochs[e].train_accuracy(),
                run_seen.epochs[e].train_accuracy());
    }
    if (!early_stop) {
      absl::StatusOr<RunOutcome> past = by_hand->RunEpoch(nullptr, nullptr);
      EXPECT_EQ(past.status().code(), absl::StatusCode::kFailedPrecondition);
    }
  }
}

// A pause request stops RunEpoch before the next step, at a step boundary.
TEST(TrainerStepTest, RunEpochStopsBeforeAStepOnRequest) {
  auto t = MustCreate(PlainSgd(0.05, 2), BlobsDataset(200, 5, 5));
  ASSERT_TRUE(t->Step(nullptr).ok());
  StopToken stop;
  stop.RequestPause();
  EXPECT_EQ(*t->RunEpoch(nullptr, &stop), RunOutcome::kPaused);
  EXPECT_EQ(t->step(), 1);
  StopToken cancel;
  cancel.RequestPause();
  cancel.RequestCancel();  // cancel wins over pause
  EXPECT_EQ(*t->RunEpoch(nullptr, &cancel), RunOutcome::kCancelled);
  EXPECT_EQ(t->step(), 1);
}

// Advances a fixed amount on every call, so the epoch's time is exactly one
// tick when the trainer reads the clock once at the start of the epoch and
// once at its end.
class TickingClock final : public Clock {
 public:
  explicit TickingClock(absl::Duration tick) : tick_(tick) {}
  absl::Time Now() const override {
    now_ += tick_;
    ++calls_;
    return now_;
  }
  int calls() const { return calls_; }

 private:
  const absl::Duration tick_;
  mutable absl::Time now_ = absl::UnixEpoch();
  mutable int calls_ = 0;
};

TrainerOptions WithClock(const Clock* clock) {
  TrainerOptions options;
  options.clock = clock;
  return options;
}

TEST(TrainerStepTest, EpochTimingUsesTheInjectedClock) {
  TickingClock clock(absl::Milliseconds(250));
  auto t = MustCreate(PlainSgd(0.05, 3), BlobsDataset(200, 5, 6), WithClock(&clock));
  Summaries seen;
  ASSERT_EQ(*t->Run(&seen, nullptr), RunOutcome::kCompleted);
  ASSERT_EQ(seen.epochs.size(), 3u);
  for (const v1::EpochSummary& e : seen.epochs) {
    EXPECT_EQ(e.epoch_seconds(), 0.25);
    EXPECT_EQ(e.samples_per_second(), 160 / 0.25);  // 160 training samples
  }
  EXPECT_EQ(clock.calls(), 6);
}

// An epoch split by a pause times the part after the pause, with only the
// samples trained in it (the clock restarts when training does).
TEST(TrainerStepTest, PausedEpochTimesTheSamplesAfterThePause) {
  TickingClock clock(absl::Seconds(2));
  auto t = MustCreate(PlainSgd(0.05, 1), BlobsDataset(200, 5, 7), WithClock(&clock));
  StopToken stop;
  struct PauseAtStep3 : TrainingObserver {
    StopToken* stop;
    void OnStep(const StepMetrics& m) override {
      if (m.step == 3) stop->RequestPause();
    }
  } pauser;
  pauser.stop = &stop;
  ASSERT_EQ(*t->Run(&pauser, &stop), RunOutcome::kPaused);
  Summaries seen;
  ASSERT_EQ(*t->Run(&seen, nullptr), RunOutcome::kCompleted);
  ASSERT_EQ(seen.epochs.size(), 1u);
  EXPECT_EQ(seen.epochs[0].epoch_seconds(), 2.0);
  EXPECT_EQ(seen.epochs[0].samples_per_second(), (160 - 3 * 16) / 2.0);
}

// Always the same time: epochs take 0 seconds, so their summaries do not
// depend on when the run happened and compare bit for bit.
class StoppedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::UnixEpoch(); }
};

// A driver that steps through an epoch by hand may checkpoint after its last
// step and before the RunEpoch that ends it; a trainer resumed from that
// checkpoint only ends the epoch, and the run is Run's.
TEST(TrainerStepTest, CheckpointAfterAnEpochsLastStepResumesExactly) {
  StoppedClock clock;
  const v1::TrainingConfig config = AdamWithEverything(3);  // a checkpoint every epoch
  auto data = BlobsDataset(230, 5, 4);                      // 12 batches per epoch
  auto uninterrupted = MustCreate(config, data, WithClock(&clock));
  Summaries run_seen;
  ASSERT_EQ(*uninterrupted->Run(&run_seen, nullptr), RunOutcome::kCompleted);

  auto first = MustCreate(config, data, WithClock(&clock));
  Summaries hand_seen;
  while (first->steps_left_in_epoch() > 0) ASSERT_TRUE(first->Step(&hand_seen).ok());
  const v1::Checkpoint ckpt = first->MakeCheckpoint();
  ASSERT_EQ(ckpt.completed_epochs(), 0);
  ASSERT_EQ(ckpt.batches_in_epoch(), 12);
  absl::StatusOr<std::unique_ptr<Trainer>> resumed =
      Trainer::Resume(ckpt, data, nullptr, WithClock(&clock));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)->steps_left_in_epoch(), 0);
  EXPECT_EQ((*resumed)->epoch(), 0);
  EXPECT_EQ((*resumed)->step(), 12);
  ASSERT_EQ(*(*resumed)->Run(&hand_seen, nullptr), RunOutcome::kCompleted);

  EXPECT_EQ(Params(**resumed), Params(*uninterrupted));
  EXPECT_EQ(LayerState(**resumed), LayerState(*uninterrupted));
  EXPECT_EQ(hand_seen.logged_steps, run_seen.logged_steps);
  EXPECT_EQ(hand_seen.checkpoint_steps, run_seen.checkpoint_steps);
  ASSERT_EQ(hand_seen.epochs.size(), run_seen.epochs.size());
  for (size_t e = 0; e < run_seen.epochs.size(); ++e) {
    EXPECT_TRUE(MessageDifferencer::Equals(hand_seen.epochs[e], run_seen.epochs[e]))
        << "epoch " << e + 1 << ":\n" << hand_seen.epochs[e].DebugString() << "vs\n"
        << run_seen.epochs[e].DebugString();
  }
  // The whole state, history included.
  EXPECT_TRUE(MessageDifferencer::Equals((*resumed)->MakeCheckpoint(),
                                         uninterrupted->MakeCheckpoint()));
}

}  // namespace
}  // namespace trainyard
