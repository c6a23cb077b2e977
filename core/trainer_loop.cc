// The training loop: Step (one mini-batch), RunEpoch (the rest of an epoch
// and its end: validation, early stopping, history, observers, the periodic
// checkpoint) and Run. Building and restoring a Trainer is in core/trainer.cc.
#include "core/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/data/split.h"
#include "core/evaluate.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/optimizer.h"
#include "core/rng.h"
#include "core/schedule.h"
#include "core/trainer_state.h"

namespace trainyard {
namespace {

// The epoch's visiting order over the training indices: a pure function of
// (seed, epoch), so a resumed run visits the same batches.
void EpochPermutation(uint64_t seed, int epoch,
                      const std::vector<int64_t>& train_idx,
                      std::vector<int64_t>& perm) {
  perm = train_idx;
  Rng rng = Rng(seed).Fork(kShuffleStreamBase + static_cast<uint64_t>(epoch));
  for (int64_t i = static_cast<int64_t>(perm.size()) - 1; i > 0; --i) {
    std::swap(perm[i], perm[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
}

}  // namespace

bool Trainer::finished() const {
  return s_->completed_epochs >= s_->config.epochs();
}

int64_t Trainer::steps_left_in_epoch() const {
  return s_->steps_per_epoch() - s_->batches_in_epoch;
}

absl::StatusOr<RunOutcome> Trainer::Run(TrainingObserver* observer,
                                        const StopToken* stop) {
  while (!finished()) {
    absl::StatusOr<RunOutcome> outcome = RunEpoch(observer, stop);
    if (!outcome.ok() || *outcome != RunOutcome::kCompleted) return outcome;
  }
  return RunOutcome::kCompleted;
}

absl::StatusOr<RunOutcome> Trainer::RunEpoch(TrainingObserver* observer,
                                             const StopToken* stop) {
  State& st = *s_;
  if (finished()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "RunEpoch: all %d epochs are done", st.config.epochs()));
  }
  TrainingObserver null_observer;
  if (observer == nullptr) observer = &null_observer;
  BeginEpochIfNeeded();
  while (steps_left_in_epoch() > 0) {
    std::optional<RunOutcome> stopped;
    if (stop != nullptr && stop->cancel_requested()) {
      stopped = RunOutcome::kCancelled;
    } else if (stop != nullptr && stop->pause_requested()) {
      stopped = RunOutcome::kPaused;
    }
    if (stopped.has_value()) {
      st.epoch_begun = false;  // a later run restarts the epoch's clock
      return *stopped;
    }
    if (absl::StatusOr<StepMetrics> m = Step(observer); !m.ok()) return m.status();
  }
  return EndEpoch(*observer);
}

void Trainer::BeginEpochIfNeeded() {
  State& st = *s_;
  if (st.epoch_begun) return;
  EpochPermutation(st.config.seed(), st.completed_epochs, st.train_idx, st.perm);
  st.epoch_start = st.clock().Now();
  st.epoch_samples_this_run = 0;
  st.epoch_begun = true;
}

absl::StatusOr<StepMetrics> Trainer::Step(TrainingObserver* observer) {
  State& st = *s_;
  if (finished() || steps_left_in_epoch() <= 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "Step: no step left (epoch %d of %d, batch %d of %d); RunEpoch ends an epoch",
        st.completed_epochs + 1, st.config.epochs(), st.batches_in_epoch,
        st.steps_per_epoch()));
  }
  BeginEpochIfNeeded();
  const v1::TrainingConfig& cfg = st.config;
  const int epoch = st.completed_epochs + 1;  // 1-based, for reports
  const PassContext train_ctx{Mode::kTrain, &st.dropout_rng, st.parallel.get()};
  Scalar* params = st.model->params();
  Scalar* grads = st.model->grads();
  const int64_t n_params = st.model->num_params();

  const int64_t begin = st.batches_in_epoch * cfg.batch_size();
  const int64_t end = std::min<int64_t>(begin + cfg.batch_size(), st.perm.size());
  const int64_t n = end - begin;
  const absl::Span<const int64_t> idx(st.perm.data() + begin, n);
  GatherColumns(st.train->features(), idx, st.batch_x);
  st.preprocessor.Apply(st.batch_x);
  GatherColumns(st.train->targets(), idx, st.batch_y);

  const Matrix& out = st.model->Forward(st.batch_x, train_ctx);
  const double loss = st.loss->Compute(out, st.batch_y, &st.grad);
  if (!std::isfinite(loss)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "loss became %s at epoch %d, step %d", std::isnan(loss) ? "NaN" : "Inf",
        epoch, st.step + 1));
  }
  if (st.loss->target_kind() != TargetKind::kRegression) {
    st.epoch_correct += st.loss->CountCorrect(out, st.batch_y);
  }
  st.model->Backward(st.grad, train_ctx);
  if (st.options.gradient_reducer != nullptr) {
    if (absl::Status s = st.options.gradient_reducer->Reduce(grads, n_params, n);
        !s.ok()) {
      return s;
    }
  }
  const double grad_norm = ClipGradNorm(grads, n_params, cfg.clip_grad_norm());
  if (!std::isfinite(grad_norm)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "gradient norm became %s at epoch %d, step %d",
        std::isnan(grad_norm) ? "NaN" : "Inf", epoch, st.step + 1));
  }
  const double lr = LearningRateAt(cfg.schedule(), st.optimizer->base_learning_rate(),
                                   st.step, st.steps_per_epoch());
  // Diagnostics measure this step's update, so they copy the weights first.
  const bool diagnose = st.diagnostics != nullptr && observer != nullptr &&
                        (st.step + 1) % st.diagnostics->every_steps() == 0;
  if (diagnose) st.diagnostics->BeforeUpdate(*st.model);
  st.optimizer->Step(params, grads, lr);

  st.epoch_loss_sum += loss * static_cast<double>(n);
  st.epoch_samples += n;
  st.epoch_samples_this_run += n;
  ++st.step;
  ++st.batches_in_epoch;
  const StepMetrics metrics{st.step, epoch, loss, lr, grad_norm};
  if (observer != nullptr && st.step % st.log_every_steps == 0) {
    observer->OnStep(metrics);
  }
  if (diagnose) {
    st.diagnostics->Measure(*st.model, st.step, epoch, &st.diagnostics_snapshot);
    observer->OnDiagnostics(st.diagnostics_snapshot);
  }
  return metrics;
}

// REQUIRES: the epoch has begun and all its steps are taken.
absl::StatusOr<RunOutcome> Trainer::EndEpoch(TrainingObserver& observer) {
  State& st = *s_;
  const v1::TrainingConfig& cfg = st.config;
  const int epoch = st.completed_epochs + 1;
  const bool has_accuracy = st.loss->target_kind() != TargetKind::kRegression;
  Scalar* params = st.model->params();
  const int64_t n_params = st.model->num_params();
  const double seconds = absl::ToDoubleSeconds(st.clock().Now() - st.epoch_start);

  v1::EpochSummary summary;
  summary.set_epoch(epoch);
  summary.set_step(st.step);
  summary.set_train_loss(st.epoch_loss_sum / static_cast<double>(st.epoch_samples));
  summary.set_train_accuracy(
      has_accuracy ? static_cast<double>(st.epoch_correct) / st.epoch_samples : -1);
  summary.set_val_loss(-1);
  summary.set_val_accuracy(-1);
  if (!st.val_idx.empty()) {
    const EvalMetrics m = EvaluateModel(*st.model, *st.loss, st.preprocessor,
                                        *st.validation, st.val_idx, *st.parallel);
    summary.set_val_loss(m.loss);
    summary.set_val_accuracy(m.accuracy);
    if (!std::isfinite(m.loss)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "validation loss became %s at epoch %d, step %d",
          std::isnan(m.loss) ? "NaN" : "Inf", epoch, st.step));
    }
  }
  summary.set_epoch_seconds(seconds);
  summary.set_samples_per_second(
      seconds > 0 ? static_cast<double>(st.epoch_samples_this_run) / seconds : 0);

  st.completed_epochs = epoch;
  st.batches_in_epoch = 0;
  st.epoch_loss_sum = 0;
  st.epoch_correct = 0;
  st.epoch_samples = 0;
  st.epoch_begun = false;
  st.history.push_back(summary);

  bool stop_early = false;
  const v1::EarlyStopping& es = cfg.early_stopping();
  if (es.patience() > 0) {
    if (summary.val_loss() < st.early.best_val_loss() - es.min_delta()) {
      st.early.set_best_val_loss(summary.val_loss());
      st.early.set_best_epoch(epoch);
      st.early.set_epochs_without_improvement(0);
      if (es.restore_best()) {
        st.early.mutable_best_params()->Assign(params, params + n_params);
        st.early.mutable_best_state()->Assign(
            st.model->state(), st.model->state() + st.model->num_state());
      }
    } else {
      st.early.set_epochs_without_improvement(
          st.early.epochs_without_improvement() + 1);
      stop_early = st.early.epochs_without_improvement() >= es.patience();
    }
  }
  if (stop_early && es.restore_best() && st.early.best_params_size() == n_params) {
    std::copy(st.early.best_params().begin(), st.early.best_params().end(), params);
    std::copy(st.early.best_state().begin(), st.early.best_state().end(),
              st.model->state());
  }

  observer.OnEpoch(summary);
  if (stop_early) return RunOutcome::kEarlyStopped;
  if (cfg.checkpoint_every_epochs() > 0 && epoch < cfg.epochs() &&
      epoch % cfg.checkpoint_every_epochs() == 0) {
    observer.OnCheckpoint(MakeCheckpoint());
  }
  return RunOutcome::kCompleted;
}

}  // namespace trainyard
