// The training plan: its numbers (split sizes, steps, effective defaults),
// each refusal with its code and the request's field path, the order in which
// inputs are checked, and that a trainer built from a plan trains exactly like
// one built from spec, config and data.
#include "core/training_plan.h"

#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/optimizer.h"
#include "core/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::BlobsDataset;
using testing::FromJson;

v1::ModelSpec Mlp(int dims) {
  return FromJson<v1::ModelSpec>(R"({"inputDim": )" + std::to_string(dims) + R"(,
    "layers": [{"dense": {"units": 8}}, {"batchNorm": {}},
               {"activation": {"kind": "RELU"}}, {"dropout": {"rate": 0.1}},
               {"dense": {"units": 3}}]})");
}

v1::TrainingConfig Config(const std::string& extra = "") {
  return FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
    "batchSize": 16, "epochs": 3, "seed": 7)" + (extra.empty() ? "" : ", " + extra) + "}");
}

TrainingPlanInputs Inputs(v1::ModelSpec model, v1::TrainingConfig training,
                          std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> validation = nullptr) {
  TrainingPlanInputs in;
  in.model = std::move(model);
  in.training = std::move(training);
  in.train = GivenDataset(std::move(train));
  if (validation != nullptr) in.validation = GivenDataset(std::move(validation));
  return in;
}

TrainingPlan MustPlan(const TrainingPlanInputs& in) {
  absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(in);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

// ---------------------------------------------------------------- numbers

TEST(TrainingPlanTest, StepsPerEpochCountTheTrainingSplitOnly) {
  // 100 samples, 20 held out: 80 train in ceil(80 / 16) = 5 batches.
  const TrainingPlan plan =
      MustPlan(Inputs(Mlp(5), Config(R"("validationFraction": 0.2)"), BlobsDataset(100, 5, 1)));
  EXPECT_EQ(plan.train_samples(), 80);
  EXPECT_EQ(plan.validation_samples(), 20);
  EXPECT_EQ(plan.steps_per_epoch(), 5);
  EXPECT_EQ(plan.total_steps(), 15);
  EXPECT_EQ(plan.validation(), plan.train());  // held out of the training set
  EXPECT_EQ(plan.output_dim(), 3);
  EXPECT_EQ(plan.model_shape().input, Shape::Flat(5));
  EXPECT_EQ(plan.model_shape().num_params, 5 * 8 + 8 + 2 * 8 + 8 * 3 + 3);
  EXPECT_EQ(plan.model_shape().num_state, 2 * 8);

  // A last short batch counts: 81 training samples in 6 batches of 16.
  const TrainingPlan uneven =
      MustPlan(Inputs(Mlp(5), Config(R"("validationFraction": 0.19)"), BlobsDataset(100, 5, 1)));
  EXPECT_EQ(uneven.train_samples(), 81);
  EXPECT_EQ(uneven.steps_per_epoch(), 6);
  EXPECT_EQ(uneven.total_steps(), 18);
}

TEST(TrainingPlanTest, SeparateValidationDataKeepsEveryTrainingSample) {
  auto train = BlobsDataset(50, 5, 1);
  auto validation = BlobsDataset(20, 5, 2);
  // The fraction is ignored when a validation set is given.
  const TrainingPlan plan =
      MustPlan(Inputs(Mlp(5), Config(R"("validationFraction": 0.5)"), train, validation));
  EXPECT_EQ(plan.train_samples(), 50);
  EXPECT_EQ(plan.validation_samples(), 20);
  EXPECT_EQ(plan.validation(), validation);
  EXPECT_EQ(plan.steps_per_epoch(), 4);
  EXPECT_EQ(plan.total_steps(), 12);

  const TrainingPlan none = MustPlan(Inputs(Mlp(5), Config(), train));
  EXPECT_EQ(none.validation(), nullptr);
  EXPECT_EQ(none.validation_samples(), 0);
}

TEST(TrainingPlanTest, EffectiveDefaultsPerOptimizer) {
  const struct {
    const char* optimizer;
    double learning_rate;
    double weight_decay;
  } cases[] = {
      {R"({"sgd": {}})", 0.01, 0},       {R"({"adagrad": {}})", 0.01, 0},
      {R"({"rmsprop": {}})", 0.01, 0},   {R"({"adam": {}})", 0.001, 0},
      {R"({"adamw": {}})", 0.001, 0.01}, {R"({"adamw": {}, "weightDecay": 0})", 0.001, 0},
      {R"({"sgd": {}, "learningRate": 0.5, "weightDecay": 0.2})", 0.5, 0.2},
  };
  auto data = BlobsDataset(30, 5, 1);
  for (const auto& c : cases) {
    v1::TrainingConfig config = Config();
    config.clear_optimizer();
    *config.mutable_optimizer() = FromJson<v1::OptimizerSpec>(c.optimizer);
    const TrainingPlan plan = MustPlan(Inputs(Mlp(5), config, data));
    // The optimiser the trainer builds uses these values.
    auto opt = Optimizer::Create(plan.training().optimizer(), 10);
    ASSERT_TRUE(opt.ok()) << opt.status();
    EXPECT_DOUBLE_EQ((*opt)->base_learning_rate(), c.learning_rate) << c.optimizer;
    EXPECT_DOUBLE_EQ((*opt)->weight_decay(), c.weight_decay) << c.optimizer;
    // A job records the learning rate it ran with, and leaves weight decay
    // as given.
    const v1::TrainingConfig recorded = plan.RecordedTraining();
    EXPECT_TRUE(recorded.optimizer().has_learning_rate());
    EXPECT_DOUBLE_EQ(recorded.optimizer().learning_rate(), c.learning_rate);
    EXPECT_EQ(recorded.optimizer().has_weight_decay(), config.optimizer().has_weight_decay());
    // The plan keeps the config as given.
    EXPECT_EQ(plan.training().optimizer().has_learning_rate(),
              config.optimizer().has_learning_rate());
  }
}

TEST(TrainingPlanTest, LogEveryStepsDefaultsToTen) {
  auto data = BlobsDataset(30, 5, 1);
  const TrainingPlan unset = MustPlan(Inputs(Mlp(5), Config(), data));
  EXPECT_EQ(unset.log_every_steps(), 10);
  EXPECT_FALSE(unset.training().has_log_every_steps());
  EXPECT_EQ(unset.RecordedTraining().log_every_steps(), 10);
  const TrainingPlan set = MustPlan(Inputs(Mlp(5), Config(R"("logEverySteps": 3)"), data));
  EXPECT_EQ(set.log_every_steps(), 3);
  EXPECT_EQ(set.RecordedTraining().log_every_steps(), 3);
}

// --------------------------------------------------------------- refusals

struct Refusal {
  std::string what;
  TrainingPlanInputs inputs;
  absl::StatusCode code;
  std::string starts_with;  // the request's field path, and what follows
};

v1::Checkpoint CheckpointOf(const v1::ModelSpec& spec, const v1::TrainingConfig& config,
                            std::shared_ptr<const Dataset> data) {
  auto t = Trainer::Create(spec, config, std::move(data), nullptr, TrainerOptions{});
  EXPECT_TRUE(t.ok()) << t.status();
  return (*t)->MakeCheckpoint();
}

TEST(TrainingPlanTest, EachRefusalNamesTheRequestField) {
  auto data = BlobsDataset(60, 5, 1);
  const v1::Checkpoint ckpt = CheckpointOf(Mlp(5), Config(), data);
  std::vector<Refusal> cases;
  {
    v1::ModelSpec bad = Mlp(5);
    bad.mutable_layers(3)->mutable_dropout()->set_rate(1.5f);
    cases.push_back({"bad layer", Inputs(bad, Config(), data),
                     absl::StatusCode::kInvalidArgument,
                     "model.layers[3].dropout.rate must be in [0, 1), got 1.5"});
  }
  {
    TrainingPlanInputs in = Inputs(Mlp(5), Config(), data);
    in.limits.max_params = 10;
    cases.push_back({"too many parameters", in, absl::StatusCode::kInvalidArgument,
                     "model.model has 91 parameters, more than the limit 10"});
  }
  {
    v1::TrainingConfig bad = Config();
    bad.set_batch_size(0);
    cases.push_back({"batch size", Inputs(Mlp(5), bad, data),
                     absl::StatusCode::kInvalidArgument,
                     "training.batch_size must be > 0, got 0"});
  }
  cases.push_back({"diagnostics period",
                   Inputs(Mlp(5), Config(R"("diagnostics": {"everySteps": 0})"), data),
                   absl::StatusCode::kInvalidArgument,
                   "training.diagnostics.every_steps must be >= 1"});
  cases.push_back({"input width", Inputs(Mlp(7), Config(), data),
                   absl::StatusCode::kInvalidArgument,
                   "dataset_id: model.input_dim is 7 but the dataset has 5 features"});
  {
    v1::ModelSpec two = FromJson<v1::ModelSpec>(
        R"({"inputDim": 5, "layers": [{"dense": {"units": 2}}]})");
    cases.push_back({"class label", Inputs(two, Config(), data),
                     absl::StatusCode::kInvalidArgument,
                     "dataset_id: the dataset has class label 2"});
  }
  cases.push_back({"validation width", Inputs(Mlp(5), Config(), data, BlobsDataset(10, 4, 1)),
                   absl::StatusCode::kInvalidArgument,
                   "validation_dataset_id: model.input_dim is 5 but the validation dataset "
                   "has 4 features"});
  cases.push_back({"no validation for early stopping",
                   Inputs(Mlp(5), Config(R"("earlyStopping": {"patience": 2})"), data),
                   absl::StatusCode::kInvalidArgument,
                   "training.early_stopping.patience needs validation data: set "
                   "training.validation_fraction or validation_dataset_id"});
  {
    TrainingPlanInputs in = Inputs(Mlp(5), Config(), nullptr);
    cases.push_back({"no data", in, absl::StatusCode::kInvalidArgument, "dataset must be set"});
  }
  {
    TrainingPlanInputs in = Inputs(Mlp(5), Config(), data);
    in.train = [] { return absl::StatusOr<std::shared_ptr<const Dataset>>(
                        absl::NotFoundError("dataset_id: dataset ds-1 not found")); };
    cases.push_back({"loader error passes through", in, absl::StatusCode::kNotFound,
                     "dataset_id: dataset ds-1 not found"});
  }
  {
    // The job's own spec is wider than the checkpoint's buffers.
    v1::ModelSpec wider = Mlp(5);
    wider.mutable_layers(0)->mutable_dense()->set_units(9);
    TrainingPlanInputs in = Inputs(wider, Config(), data);
    in.resume_from = &ckpt;
    cases.push_back({"resume mismatch", in, absl::StatusCode::kInvalidArgument,
                     "resume_from_checkpoint_id: checkpoint: params has 91 values, the "
                     "model needs"});
  }
  {
    // The worker resuming a job from its own newest checkpoint names that.
    v1::ModelSpec wider = Mlp(5);
    wider.mutable_layers(0)->mutable_dense()->set_units(9);
    TrainingPlanInputs in = Inputs(wider, Config(), data);
    in.resume_from = &ckpt;
    in.resume_field = "latest_checkpoint_id";
    cases.push_back({"resume mismatch, own checkpoint", in, absl::StatusCode::kInvalidArgument,
                     "latest_checkpoint_id: checkpoint: params has 91 values, the "
                     "model needs"});
  }
  {
    // A bad spec or config of a resume is the checkpoint's, under its field.
    v1::ModelSpec bad = Mlp(5);
    bad.mutable_layers(3)->mutable_dropout()->set_rate(1.5f);
    TrainingPlanInputs in = Inputs(bad, Config(), data);
    in.resume_from = &ckpt;
    cases.push_back({"resume with a bad layer", in, absl::StatusCode::kInvalidArgument,
                     "resume_from_checkpoint_id: checkpoint: model.layers[3].dropout.rate "
                     "must be in [0, 1), got 1.5"});
    v1::TrainingConfig zero = Config();
    zero.set_batch_size(0);
    in = Inputs(Mlp(5), zero, data);
    in.resume_from = &ckpt;
    in.resume_field = "latest_checkpoint_id";
    cases.push_back({"resume with a bad config", in, absl::StatusCode::kInvalidArgument,
                     "latest_checkpoint_id: checkpoint: training.batch_size must be > 0, "
                     "got 0"});
  }
  {
    v1::ModelSpec wider = Mlp(5);
    wider.mutable_layers(0)->mutable_dense()->set_units(9);
    TrainingPlanInputs in = Inputs(wider, Config(), data);
    in.init_from = [&] { return absl::StatusOr<v1::Checkpoint>(ckpt); };
    cases.push_back({"init mismatch", in, absl::StatusCode::kInvalidArgument,
                     "init_from_checkpoint_id: the checkpoint's model (input_dim 5, 91 "
                     "parameters, 3 outputs) does not match the submitted model (input_dim 5, "});
  }
  {
    v1::ModelSpec image = Mlp(5);
    image.set_input_dim(0);
    image.mutable_input_shape()->set_channels(1);
    image.mutable_input_shape()->set_height(1);
    image.mutable_input_shape()->set_width(5);
    image.mutable_layers(1)->mutable_layer_norm();  // batch norm is for flat inputs
    TrainingPlanInputs in = Inputs(image, Config(), data);
    in.init_from = [&] { return absl::StatusOr<v1::Checkpoint>(ckpt); };
    cases.push_back({"init input shape", in, absl::StatusCode::kInvalidArgument,
                     "init_from_checkpoint_id: the checkpoint's model (input_dim 5, 91 "
                     "parameters, 3 outputs) does not match the submitted model "
                     "(input_shape 1x1x5, 91 parameters, 3 outputs)"});
  }
  for (const Refusal& c : cases) {
    absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(c.inputs);
    ASSERT_FALSE(plan.ok()) << c.what;
    EXPECT_EQ(plan.status().code(), c.code) << c.what << ": " << plan.status();
    EXPECT_THAT(std::string(plan.status().message()), StartsWith(c.starts_with)) << c.what;
  }
}

TEST(TrainingPlanTest, MatchingCheckpointsPass) {
  auto data = BlobsDataset(60, 5, 1);
  const v1::Checkpoint ckpt = CheckpointOf(Mlp(5), Config(), data);
  TrainingPlanInputs in = Inputs(Mlp(5), Config(R"("epochs": 9)"), data);
  in.resume_from = &ckpt;
  EXPECT_TRUE(BuildTrainingPlan(in).ok()) << BuildTrainingPlan(in).status();
  in.resume_from = nullptr;
  in.init_from = [&] { return absl::StatusOr<v1::Checkpoint>(ckpt); };
  EXPECT_TRUE(BuildTrainingPlan(in).ok());
}

// A bad spec is reported before any data is loaded, and the data before the
// init checkpoint.
TEST(TrainingPlanTest, LoadersRunOnlyAfterTheChecksBeforeThem) {
  std::vector<std::string> loaded;
  TrainingPlanInputs in;
  in.model = Mlp(5);
  in.training = Config();
  in.train = [&]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    loaded.push_back("train");
    return BlobsDataset(30, 5, 1);
  };
  in.validation = [&]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    loaded.push_back("validation");
    return BlobsDataset(10, 4, 1);  // does not fit: the init checkpoint is never loaded
  };
  in.init_from = [&]() -> absl::StatusOr<v1::Checkpoint> {
    loaded.push_back("init");
    return absl::NotFoundError("init_from_checkpoint_id: not found");
  };
  in.training.set_epochs(0);
  EXPECT_THAT(std::string(BuildTrainingPlan(in).status().message()),
              StartsWith("training.epochs"));
  EXPECT_TRUE(loaded.empty());
  in.training.set_epochs(1);
  EXPECT_THAT(std::string(BuildTrainingPlan(in).status().message()),
              StartsWith("validation_dataset_id: "));
  EXPECT_EQ(loaded, (std::vector<std::string>{"train", "validation"}));
}

// ------------------------------------------------------------- consumers

std::vector<Scalar> Params(const Trainer& t) {
  return {t.model().params(), t.model().params() + t.model().num_params()};
}

TEST(TrainingPlanTest, TrainerFromAPlanTrainsBitIdentically) {
  auto data = BlobsDataset(200, 5, 3);
  const v1::TrainingConfig config = Config(R"("validationFraction": 0.2, "logEverySteps": 1)");
  auto direct = Trainer::Create(Mlp(5), config, data, nullptr, TrainerOptions{2});
  ASSERT_TRUE(direct.ok()) << direct.status();
  auto planned = Trainer::Create(MustPlan(Inputs(Mlp(5), config, data)), TrainerOptions{2});
  ASSERT_TRUE(planned.ok()) << planned.status();
  // Same initial weights, same run.
  EXPECT_EQ(Params(**direct), Params(**planned));
  struct Steps : TrainingObserver {
    int64_t count = 0;
    void OnStep(const StepMetrics&) override { ++count; }
  } a, b;
  ASSERT_TRUE((*direct)->Run(&a, nullptr).ok());
  ASSERT_TRUE((*planned)->Run(&b, nullptr).ok());
  EXPECT_EQ(Params(**direct), Params(**planned));
  EXPECT_EQ((*planned)->step(), MustPlan(Inputs(Mlp(5), config, data)).total_steps());
  EXPECT_EQ(a.count, b.count);

  // Resuming through a plan continues exactly.
  auto first = Trainer::Create(Mlp(5), config, data, nullptr, TrainerOptions{2});
  ASSERT_TRUE(first.ok());
  StopToken stop;
  struct PauseAt : TrainingObserver {
    StopToken* stop;
    void OnStep(const StepMetrics& m) override {
      if (m.step == 13) stop->RequestPause();
    }
  } pause;
  pause.stop = &stop;
  ASSERT_EQ(*(*first)->Run(&pause, &stop), RunOutcome::kPaused);
  const v1::Checkpoint ckpt = (*first)->MakeCheckpoint();
  TrainingPlanInputs in = Inputs(ckpt.model(), ckpt.training(), data);
  in.resume_from = &ckpt;
  auto resumed = Trainer::Resume(MustPlan(in), ckpt, TrainerOptions{2});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->Run(nullptr, nullptr).ok());
  EXPECT_EQ(Params(**resumed), Params(**direct));
}

TEST(TrainingPlanTest, TrainerChecksItsOptionsOnly) {
  auto t = Trainer::Create(MustPlan(Inputs(Mlp(5), Config(), BlobsDataset(30, 5, 1))),
                           TrainerOptions{0});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("threads must be in [1, 256]"));
}

}  // namespace
}  // namespace trainyard
