// Building a Trainer and restoring it: Create from a TrainingPlan, Resume
// from a checkpoint, InitializeFrom (fine-tuning) and MakeCheckpoint, the
// inverse of Resume. The training loop is in core/trainer_loop.cc.
#include "core/trainer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "core/parallel.h"
#include "core/preprocess.h"
#include "core/rng.h"
#include "core/trainer_state.h"
#include "core/training_plan.h"

namespace trainyard {
namespace {

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
  // The thread budget is checked as the data is loaded, so that its error
  // comes after any spec or config error and before any data error: the
  // order callers saw before TrainingPlan existed.
  in.train = [train = std::move(train),
              options]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    if (absl::Status s = CheckOptions(options); !s.ok()) return s;
    return train;
  };
  in.validation = GivenDataset(std::move(validation));
  return in;
}

}  // namespace

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
  st->log_every_steps = plan.log_every_steps();
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
  if (config.has_diagnostics()) {
    st->diagnostics = std::make_unique<DiagnosticsRecorder>(*st->model, config.diagnostics());
  }
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
  // batches_in_epoch == steps_per_epoch: every step of the epoch was taken
  // (by Step) but not its end, which the next RunEpoch does.
  if (ckpt.batches_in_epoch() < 0 ||
      ckpt.batches_in_epoch() > st.steps_per_epoch() ||
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

}  // namespace trainyard
