// The training loop: seeded shuffled mini-batches over epochs, validation,
// early stopping, NaN/Inf detection, cancellation and pause, and exact
// checkpoint/resume. One Trainer is one job; it runs on its own thread budget.
//
// Run is a loop over RunEpoch, which is a loop over Step; a driver that needs
// its own loop (a data-parallel rank, a diagnostics harness) calls them
// directly and gets bit-identically what Run gives:
//
//   while (!t->finished()) {
//     while (t->steps_left_in_epoch() > 0) {
//       absl::StatusOr<StepMetrics> m = t->Step(observer);   // one mini-batch
//       if (!m.ok()) return m.status();
//     }
//     absl::StatusOr<RunOutcome> end = t->RunEpoch(observer, nullptr);  // epoch end
//     if (!end.ok()) return end.status();
//     if (*end == RunOutcome::kEarlyStopped) break;
//   }
#ifndef TRAINYARD_CORE_TRAINER_H_
#define TRAINYARD_CORE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/dataset.h"
#include "core/gradient_reducer.h"
#include "core/model.h"
#include "core/training_observer.h"
#include "core/training_plan.h"
#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Options of the trainer that are not part of the model or training config.
struct TrainerOptions {
  int threads = 1;  // this trainer's thread budget, in [1, 256]
  // Combines the gradient between backward and the optimiser (the future
  // all-reduce of a data-parallel run). Null: the gradient is used as it is.
  // Not owned; must outlive the Trainer.
  GradientReducer* gradient_reducer = nullptr;
  // Times the epochs (EpochSummary.epoch_seconds, samples_per_second). Null:
  // Clock::Steady(). Not owned; must outlive the Trainer.
  const Clock* clock = nullptr;
};

// Stop requests from other threads, checked at every step boundary.
class StopToken {
 public:
  void RequestCancel() { cancel_.store(true, std::memory_order_relaxed); }
  void RequestPause() { pause_.store(true, std::memory_order_relaxed); }
  bool cancel_requested() const { return cancel_.load(std::memory_order_relaxed); }
  bool pause_requested() const { return pause_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancel_{false};
  std::atomic<bool> pause_{false};
};

enum class RunOutcome {
  kCompleted,     // all epochs done
  kEarlyStopped,  // validation loss stopped improving
  kPaused,        // stopped at a step boundary on request; checkpoint() resumes
  kCancelled,     // stopped on request
};

class Trainer {
 public:
  // Builds the model of a plan (core/training_plan.h), which carries the
  // validated spec, config and data, and initialises it from the config's
  // seed. Nothing the plan checked is checked again; only `options` are.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      TrainingPlan plan, const TrainerOptions& options);

  // Builds the plan of spec, config and data (BuildTrainingPlan; its
  // messages), then the trainer as above. `validation` may be null (then
  // config.validation_fraction, if > 0, splits it off `train`).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const v1::ModelSpec& spec, const v1::TrainingConfig& config,
      std::shared_ptr<const Dataset> train,
      std::shared_ptr<const Dataset> validation, const TrainerOptions& options);

  // Builds the trainer of `plan` and restores everything from `checkpoint`
  // (parameters, optimiser state, step, data position, RNG) so that Run
  // continues exactly where it stopped. A checkpoint taken after an epoch's
  // last Step and before the RunEpoch that ends it resumes to that point
  // (steps_left_in_epoch() == 0): RunEpoch then only ends the epoch.
  // REQUIRES: plan was built with resume_from = &checkpoint (which checked
  // that its buffers fit).
  static absl::StatusOr<std::unique_ptr<Trainer>> Resume(
      TrainingPlan plan, const v1::Checkpoint& checkpoint,
      const TrainerOptions& options);

  // Builds the plan of the checkpoint's spec and config, resuming from it,
  // then resumes as above.
  static absl::StatusOr<std::unique_ptr<Trainer>> Resume(
      const v1::Checkpoint& checkpoint, std::shared_ptr<const Dataset> train,
      std::shared_ptr<const Dataset> validation, const TrainerOptions& options);

  ~Trainer();

  // Copies the weights (and batch-norm statistics) of `checkpoint` into the
  // fresh model; the optimiser starts anew (fine-tuning). The specs' shapes
  // must match, else INVALID_ARGUMENT.
  absl::Status InitializeFrom(const v1::Checkpoint& checkpoint);

  // Trains until the configured epochs are done, early stopping, or a stop
  // request: RunEpoch until finished() or an outcome other than kCompleted.
  // Errors: loss or gradients becoming NaN/Inf (FAILED_PRECONDITION
  // "loss became NaN at epoch 3, step 1412"); the gradient reducer's error.
  // observer and stop may be null.
  absl::StatusOr<RunOutcome> Run(TrainingObserver* observer,
                                 const StopToken* stop);

  // The rest of the current epoch, one Step at a time with `stop` checked
  // before every step, then the epoch's end: validation, early stopping, the
  // history entry, observer->OnEpoch and, every checkpoint_every_epochs
  // (except after the last epoch or an early stop), observer->OnCheckpoint.
  // Returns
  //   kCompleted:    the epoch ended; more remain unless finished().
  //   kEarlyStopped: the epoch ended and early stopping ends the training
  //                  (the best weights restored when restore_best). Run stops.
  //   kPaused, kCancelled: a request was seen before a step; the trainer is
  //                  at that step boundary (MakeCheckpoint resumes from it).
  // When all of the epoch's steps were already taken by Step it does only the
  // epoch's end. Errors as Run; after an error the trainer must not be used
  // again (the failing step was partly applied).
  // REQUIRES: !finished() (else FAILED_PRECONDITION). observer and stop may be
  // null.
  absl::StatusOr<RunOutcome> RunEpoch(TrainingObserver* observer,
                                      const StopToken* stop);

  // One mini-batch of the current epoch: gather and preprocess it, forward,
  // loss, backward, the gradient reducer, gradient-norm clipping, the
  // learning-rate schedule, the optimiser step, and the step and epoch
  // counters; observer->OnStep every log_every_steps steps and, when the
  // config has diagnostics, observer->OnDiagnostics every
  // diagnostics.every_steps steps (core/diagnostics.h). The first step of
  // an epoch (since the trainer was built or last stopped) starts the epoch's
  // visiting order and its clock. Never ends the epoch: once
  // steps_left_in_epoch() is 0, RunEpoch does. Returns the step's metrics.
  // Errors as Run; after an error the trainer must not be used again.
  // REQUIRES: !finished() && steps_left_in_epoch() > 0 (else
  // FAILED_PRECONDITION). observer may be null.
  absl::StatusOr<StepMetrics> Step(TrainingObserver* observer);

  // Every configured epoch has ended.
  bool finished() const;
  // Mini-batches of the current epoch not yet stepped (0 when the epoch only
  // waits for its end in RunEpoch).
  int64_t steps_left_in_epoch() const;

  // The whole training state, ready to be written (core/checkpoint.h).
  v1::Checkpoint MakeCheckpoint() const;

  const Model& model() const;
  int64_t step() const;
  int epoch() const;  // completed epochs

 private:
  struct State;  // core/trainer_state.h
  explicit Trainer(std::unique_ptr<State> state);
  void BeginEpochIfNeeded();
  absl::StatusOr<RunOutcome> EndEpoch(TrainingObserver& observer);
  std::unique_ptr<State> s_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINER_H_
