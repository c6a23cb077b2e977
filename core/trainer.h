// The training loop: seeded shuffled mini-batches over epochs, validation,
// early stopping, NaN/Inf detection, cancellation and pause, and exact
// checkpoint/resume. One Trainer is one job; it runs on its own thread budget.
#ifndef TRAINYARD_CORE_TRAINER_H_
#define TRAINYARD_CORE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "core/model.h"
#include "core/training_observer.h"
#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// Options of the trainer that are not part of the model or training config.
struct TrainerOptions {
  int threads = 1;  // this trainer's thread budget (>= 1)
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
  // Validates spec, config and their fit to the data, builds the model and
  // initialises it from config.seed. `validation` may be null (then
  // config.validation_fraction, if > 0, splits it off `train`).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const v1::ModelSpec& spec, const v1::TrainingConfig& config,
      std::shared_ptr<const Dataset> train,
      std::shared_ptr<const Dataset> validation, const TrainerOptions& options);

  // Restores everything from `checkpoint` (parameters, optimiser state, step,
  // data position, RNG) so that Run continues exactly where it stopped.
  static absl::StatusOr<std::unique_ptr<Trainer>> Resume(
      const v1::Checkpoint& checkpoint, std::shared_ptr<const Dataset> train,
      std::shared_ptr<const Dataset> validation, const TrainerOptions& options);

  ~Trainer();

  // Copies the weights (and batch-norm statistics) of `checkpoint` into the
  // fresh model; the optimiser starts anew (fine-tuning). The specs' shapes
  // must match, else INVALID_ARGUMENT.
  absl::Status InitializeFrom(const v1::Checkpoint& checkpoint);

  // Trains until the configured epochs are done, early stopping, or a stop
  // request. Errors: loss or gradients becoming NaN/Inf (FAILED_PRECONDITION
  // "loss became NaN at epoch 3, step 1412").
  absl::StatusOr<RunOutcome> Run(TrainingObserver* observer,
                                 const StopToken* stop);

  // The whole training state, ready to be written (core/checkpoint.h).
  v1::Checkpoint MakeCheckpoint() const;

  const Model& model() const;
  int64_t step() const;
  int epoch() const;  // completed epochs

 private:
  struct State;
  explicit Trainer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINER_H_
