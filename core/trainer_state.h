// Internal to core/trainer*.cc: the state behind Trainer's pimpl, shared by
// the set-up and restore code (trainer.cc) and the training loop
// (trainer_loop.cc). Nothing else may include it; the public API is
// core/trainer.h.
#ifndef TRAINYARD_CORE_TRAINER_STATE_H_
#define TRAINYARD_CORE_TRAINER_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "core/clock.h"
#include "core/dataset.h"
#include "core/diagnostics.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "core/parallel.h"
#include "core/preprocess.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/trainer.h"
#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// RNG stream ids derived from the config seed; fixed so that checkpoints of
// one build resume identically in another. Kept together so that no two
// streams collide: epoch e shuffles with kShuffleStreamBase + e.
inline constexpr uint64_t kInitStream = 1;
inline constexpr uint64_t kDropoutStream = 2;
inline constexpr uint64_t kShuffleStreamBase = 0x5eed'0000'0000ULL;

struct Trainer::State {
  v1::ModelSpec spec;
  v1::TrainingConfig config;
  TrainerOptions options;
  // From the plan: OnStep every this many steps (config's, or the default).
  int log_every_steps = 0;

  std::shared_ptr<const Dataset> train;
  // Validation samples come from `validation` (indices val_idx); when no
  // separate set was given it is the training set and the split holds them out.
  std::shared_ptr<const Dataset> validation;
  std::vector<int64_t> train_idx;
  std::vector<int64_t> val_idx;
  Preprocessor preprocessor;

  std::unique_ptr<Parallel> parallel;
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> optimizer;
  Rng dropout_rng;

  // Position (checkpointed, with the epoch's running sums).
  int64_t step = 0;
  int completed_epochs = 0;
  int64_t batches_in_epoch = 0;
  double epoch_loss_sum = 0;  // over the epoch's batches: batch-mean loss * batch size
  int64_t epoch_correct = 0;
  int64_t epoch_samples = 0;

  v1::EarlyStoppingState early;
  std::vector<v1::EpochSummary> history;

  // Per-layer diagnostics; null when the config asks for none (then the only
  // per-step cost is the null check). The snapshot is reused.
  std::unique_ptr<DiagnosticsRecorder> diagnostics;
  v1::DiagnosticsSnapshot diagnostics_snapshot;

  // Reused buffers: no allocation per step once sized.
  std::vector<int64_t> perm;
  Matrix batch_x, batch_y, grad;

  // The current epoch's run in this process (not checkpointed). Its first
  // step since the trainer was built or last stopped fills `perm` and starts
  // the epoch clock; the epoch's end or a stop clears it, so the samples per
  // second of an epoch split by a pause count only the part after it.
  bool epoch_begun = false;
  absl::Time epoch_start;
  int64_t epoch_samples_this_run = 0;
  const Clock& clock() const {
    return options.clock != nullptr ? *options.clock : *Clock::Steady();
  }

  int64_t steps_per_epoch() const {
    const int64_t b = config.batch_size();
    return (static_cast<int64_t>(train_idx.size()) + b - 1) / b;
  }
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINER_STATE_H_
