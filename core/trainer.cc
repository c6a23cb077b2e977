#include "core/trainer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/data/split.h"
#include "core/data_check.h"
#include "core/evaluate.h"
#include "core/loss.h"
#include "core/optimizer.h"
#include "core/parallel.h"
#include "core/preprocess.h"
#include "core/schedule.h"
#include "core/validate.h"

namespace trainyard {
namespace {

// RNG stream ids derived from the config seed; fixed so that checkpoints of
// one build resume identically in another.
constexpr uint64_t kInitStream = 1;
constexpr uint64_t kDropoutStream = 2;
constexpr uint64_t kShuffleStreamBase = 0x5eed'0000'0000ULL;

int LogEverySteps(const v1::TrainingConfig& c) { return EffectiveLogEverySteps(c); }

absl::Status CheckOptions(const TrainerOptions& options) {
  if (options.threads < 1 || options.threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrFormat("threads must be in [1, 256], got %d", options.threads));
  }
  return absl::OkStatus();
}

// The plan inputs of the overloads that take spec, config and data.
TrainingPlanInputs PlanInputs(const v1::ModelSpec& spec, const v1::TrainingConfig& config,
                              std::shared_ptr<const Dataset> train,
                              std::shared_ptr<const Dataset> validation,
                              const TrainerOptions& options) {
  TrainingPlanInputs in;
  in.model = spec;
  in.training = config;
  // The thread budget is checked where it always was: after the spec and
  // config, before the data.
  in.train = [train = std::move(train),
              options]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    if (absl::Status s = CheckOptions(options); !s.ok()) return s;
    return train;
  };
  in.validation = GivenDataset(std::move(validation));
  return in;
}

}  // namespace

struct Trainer::State {
  v1::ModelSpec spec;
  v1::TrainingConfig config;
  TrainerOptions options;

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

  // Position.
  int64_t step = 0;
  int completed_epochs = 0;
  int64_t batches_in_epoch = 0;
  double epoch_loss_sum = 0;  // sum over samples of the batch-mean loss * batch size
  int64_t epoch_correct = 0;
  int64_t epoch_samples = 0;

  v1::EarlyStoppingState early;
  std::vector<v1::EpochSummary> history;

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

Trainer::Trainer(std::unique_ptr<State> state) : s_(std::move(state)) {}
Trainer::~Trainer() = default;

const Model& Trainer::model() const { return *s_->model; }
int64_t Trainer::step() const { return s_->step; }
int Trainer::epoch() const { return s_->completed_epochs; }

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const v1::ModelSpec& spec, const v1::TrainingConfig& config,
    std::shared_ptr<const Dataset> train,
    std::shared_ptr<const Dataset> validation, const TrainerOptions& options) {
  absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(
      PlanInputs(spec, config, std::move(train), std::move(validation), options));
  if (!plan.ok()) return plan.status();
  return Create(*std::move(plan), options);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(TrainingPlan plan,
                                                         const TrainerOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  auto st = std::make_unique<State>();
  st->spec = plan.model();
  st->config = plan.training();
  st->options = options;
  st->train = plan.train();
  st->validation = plan.validation();
  st->train_idx = plan.train_indices();
  st->val_idx = plan.validation_indices();
  const v1::TrainingConfig& config = st->config;

  st->preprocessor = FitPreprocessor(*st->train, st->train_idx);
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Create(plan.model(), plan.model_shape());
  if (!model.ok()) return model.status();
  st->model = *std::move(model);
  absl::StatusOr<std::unique_ptr<Loss>> loss = Loss::Create(config.loss());
  if (!loss.ok()) return loss.status();
  st->loss = *std::move(loss);
  absl::StatusOr<std::unique_ptr<Optimizer>> opt =
      Optimizer::Create(config.optimizer(), st->model->num_params());
  if (!opt.ok()) return opt.status();
  st->optimizer = *std::move(opt);

  const Rng root(config.seed());
  Rng init_rng = root.Fork(kInitStream);
  st->model->Initialize(init_rng);
  st->dropout_rng = root.Fork(kDropoutStream);
  st->parallel = std::make_unique<Parallel>(options.threads);
  st->early.set_best_val_loss(INFINITY);
  return std::unique_ptr<Trainer>(new Trainer(std::move(st)));
}

namespace {

template <typename T>
absl::Status CopyInto(const google::protobuf::RepeatedField<T>& from,
                      Scalar* to, int64_t n, std::string_view field) {
  if (from.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "checkpoint %s has %d values, the model needs %d", field, from.size(), n));
  }
  std::copy(from.begin(), from.end(), to);
  return absl::OkStatus();
}

}  // namespace

absl::Status Trainer::InitializeFrom(const v1::Checkpoint& checkpoint) {
  if (absl::Status s = CopyInto(checkpoint.params(), s_->model->params(),
                                s_->model->num_params(), "params");
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        s.message(), " (init_from needs a checkpoint of the same architecture)"));
  }
  return CopyInto(checkpoint.layer_state(), s_->model->state(),
                  s_->model->num_state(), "layer_state");
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Resume(
    const v1::Checkpoint& ckpt, std::shared_ptr<const Dataset> train,
    std::shared_ptr<const Dataset> validation, const TrainerOptions& options) {
  TrainingPlanInputs in = PlanInputs(ckpt.model(), ckpt.training(), std::move(train),
                                     std::move(validation), options);
  in.resume_from = &ckpt;
  absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(in);
  if (!plan.ok()) return plan.status();
  return Resume(*std::move(plan), ckpt, options);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Resume(
    TrainingPlan plan, const v1::Checkpoint& ckpt, const TrainerOptions& options) {
  absl::StatusOr<std::unique_ptr<Trainer>> t = Create(std::move(plan), options);
  if (!t.ok()) return t.status();
  State& st = *(*t)->s_;
  if (absl::Status s = (*t)->InitializeFrom(ckpt); !s.ok()) return s;
  std::vector<std::pair<std::string, std::vector<Scalar>*>> buffers =
      st.optimizer->StateBuffers();
  if (static_cast<int>(buffers.size()) != ckpt.optimizer_state_size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "checkpoint optimizer_state has %d buffers, the optimizer needs %d",
        ckpt.optimizer_state_size(), buffers.size()));
  }
  for (int i = 0; i < ckpt.optimizer_state_size(); ++i) {
    const v1::OptimizerBuffer& b = ckpt.optimizer_state(i);
    if (b.name() != buffers[i].first) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "checkpoint optimizer_state[%d] is \"%s\", expected \"%s\"", i,
          b.name(), buffers[i].first));
    }
    if (absl::Status s = CopyInto(b.values(), buffers[i].second->data(),
                                  buffers[i].second->size(),
                                  "optimizer_state." + b.name());
        !s.ok()) {
      return s;
    }
  }
  st.optimizer->set_steps(ckpt.optimizer_steps());
  if (ckpt.rng_state_size() != 4) {
    return absl::InvalidArgumentError("checkpoint rng_state must have 4 words");
  }
  Rng::State rs;
  std::copy(ckpt.rng_state().begin(), ckpt.rng_state().end(), rs.begin());
  st.dropout_rng.set_state(rs);
  if (ckpt.batches_in_epoch() < 0 ||
      ckpt.batches_in_epoch() >= st.steps_per_epoch() ||
      ckpt.completed_epochs() < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "checkpoint data position (epoch %d, batch %d) does not fit the "
        "dataset (%d batches per epoch)",
        ckpt.completed_epochs(), ckpt.batches_in_epoch(), st.steps_per_epoch()));
  }
  absl::StatusOr<Preprocessor> pre = PreprocessorFromProto(ckpt.preprocessor());
  if (!pre.ok()) return pre.status();
  st.preprocessor = *std::move(pre);
  st.step = ckpt.step();
  st.completed_epochs = ckpt.completed_epochs();
  st.batches_in_epoch = ckpt.batches_in_epoch();
  st.epoch_loss_sum = ckpt.epoch_loss_sum();
  st.epoch_correct = ckpt.epoch_correct();
  st.epoch_samples = ckpt.epoch_samples();
  st.early = ckpt.early_stopping();
  st.history.assign(ckpt.history().begin(), ckpt.history().end());
  return t;
}

v1::Checkpoint Trainer::MakeCheckpoint() const {
  const State& st = *s_;
  v1::Checkpoint c;
  *c.mutable_model() = st.spec;
  *c.mutable_training() = st.config;
  c.mutable_params()->Assign(st.model->params(),
                             st.model->params() + st.model->num_params());
  c.mutable_layer_state()->Assign(st.model->state(),
                                  st.model->state() + st.model->num_state());
  for (auto& [name, buf] : st.optimizer->StateBuffers()) {
    v1::OptimizerBuffer* b = c.add_optimizer_state();
    b->set_name(name);
    b->mutable_values()->Assign(buf->begin(), buf->end());
  }
  c.set_optimizer_steps(st.optimizer->steps());
  c.set_step(st.step);
  c.set_completed_epochs(st.completed_epochs);
  c.set_batches_in_epoch(st.batches_in_epoch);
  c.set_epoch_loss_sum(st.epoch_loss_sum);
  c.set_epoch_correct(st.epoch_correct);
  c.set_epoch_samples(st.epoch_samples);
  for (uint64_t w : st.dropout_rng.state()) c.add_rng_state(w);
  *c.mutable_preprocessor() = PreprocessorToProto(st.preprocessor);
  *c.mutable_early_stopping() = st.early;
  for (const v1::EpochSummary& e : st.history) *c.add_history() = e;
  c.set_num_features(st.train->num_features());
  c.set_target_dim(st.train->target_dim());
  return c;
}

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
  st.optimizer->Step(params, grads, lr);

  st.epoch_loss_sum += loss * static_cast<double>(n);
  st.epoch_samples += n;
  st.epoch_samples_this_run += n;
  ++st.step;
  ++st.batches_in_epoch;
  const StepMetrics metrics{st.step, epoch, loss, lr, grad_norm};
  if (observer != nullptr && st.step % LogEverySteps(cfg) == 0) {
    observer->OnStep(metrics);
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
