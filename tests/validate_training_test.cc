// ValidateTrainingConfig and ValidateLossForTargets: every bad value is
// INVALID_ARGUMENT naming the field; every optimiser and schedule passes when
// well formed. Configs are written as JSON, the way users write them.
#include <ostream>
#include <string>
#include <string_view>

#include "core/spec_json.h"
#include "core/validate.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

// A config that is valid except for what `fields` says. `fields` is a JSON
// object body; loss, optimizer, batch_size and epochs get valid values
// unless it mentions them.
std::string Config(std::string fields) {
  auto mentions = [&](std::string_view key) {
    return fields.find(std::string("\"") + std::string(key) + "\"") != std::string::npos;
  };
  std::string json = "{" + fields;
  auto add = [&](std::string_view field) {
    if (json.size() > 1) json += ", ";
    json += field;
  };
  if (!mentions("loss")) add(R"("loss": {"kind": "MSE"})");
  if (!mentions("optimizer")) add(R"("optimizer": {"sgd": {}})");
  if (!mentions("batch_size")) add(R"("batch_size": 32)");
  if (!mentions("epochs")) add(R"("epochs": 3)");
  return json + "}";
}

v1::TrainingConfig ConfigFromJson(const std::string& json) {
  absl::StatusOr<v1::TrainingConfig> config = ParseTrainingConfigJson(json);
  EXPECT_TRUE(config.ok()) << config.status() << "\n" << json;
  return config.ok() ? *config : v1::TrainingConfig();
}

struct BadConfig {
  const char* name;
  const char* fields;
  const char* message;
};

void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, IsInvalidArgumentNamingTheField) {
  const std::string json = Config(GetParam().fields);
  const absl::Status status = ValidateTrainingConfig(ConfigFromJson(json));
  ASSERT_FALSE(status.ok()) << "accepted: " << json;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfigTest,
    ::testing::Values(
        BadConfig{"LossKindNotSet", R"("loss": {})", "loss.kind must be set (one of MSE"},
        BadConfig{"NoLossAtAll", R"("loss": null)", "loss.kind must be set"},
        BadConfig{"HuberDeltaZero", R"("loss": {"kind": "HUBER", "huber_delta": 0})",
                  "loss.huber_delta must be > 0 and finite, got 0"},
        BadConfig{"HuberDeltaNaN", R"("loss": {"kind": "HUBER", "huber_delta": "NaN"})",
                  "loss.huber_delta must be > 0 and finite, got nan"},
        BadConfig{"OptimizerKindNotSet", R"("optimizer": {"learning_rate": 0.1})",
                  "optimizer.kind must be set (one of sgd, adagrad, rmsprop, adam, adamw)"},
        BadConfig{"LearningRateZero", R"("optimizer": {"sgd": {}, "learning_rate": 0})",
                  "optimizer.learning_rate must be > 0 and finite, got 0"},
        BadConfig{"LearningRateNegative", R"("optimizer": {"adam": {}, "learning_rate": -0.1})",
                  "optimizer.learning_rate must be > 0 and finite, got -0.1"},
        BadConfig{"LearningRateInfinite",
                  R"("optimizer": {"adam": {}, "learning_rate": "Infinity"})",
                  "optimizer.learning_rate must be > 0 and finite, got inf"},
        BadConfig{"LearningRateNaN", R"("optimizer": {"adam": {}, "learning_rate": "NaN"})",
                  "optimizer.learning_rate must be > 0 and finite, got nan"},
        BadConfig{"WeightDecayNegative", R"("optimizer": {"sgd": {}, "weight_decay": -0.1})",
                  "optimizer.weight_decay must be >= 0 and finite, got -0.1"},
        BadConfig{"WeightDecayNaN", R"("optimizer": {"adamw": {}, "weight_decay": "NaN"})",
                  "optimizer.weight_decay must be >= 0 and finite, got nan"},
        BadConfig{"SgdMomentumOne", R"("optimizer": {"sgd": {"momentum": 1}})",
                  "optimizer.sgd.momentum must be in [0, 1), got 1"},
        BadConfig{"SgdMomentumNegative", R"("optimizer": {"sgd": {"momentum": -0.5}})",
                  "optimizer.sgd.momentum must be in [0, 1), got -0.5"},
        BadConfig{"SgdDampeningOne", R"("optimizer": {"sgd": {"momentum": 0.9, "dampening": 1}})",
                  "optimizer.sgd.dampening must be in [0, 1), got 1"},
        BadConfig{"NesterovWithoutMomentum", R"("optimizer": {"sgd": {"nesterov": true}})",
                  "optimizer.sgd.nesterov needs momentum > 0 and dampening 0"},
        BadConfig{"NesterovWithDampening",
                  R"("optimizer": {"sgd": {"nesterov": true, "momentum": 0.9, "dampening": 0.5}})",
                  "optimizer.sgd.nesterov needs momentum > 0 and dampening 0"},
        BadConfig{"AdagradEpsilonZero", R"("optimizer": {"adagrad": {"epsilon": 0}})",
                  "optimizer.adagrad.epsilon must be > 0 and finite, got 0"},
        BadConfig{"AdagradAccumulatorNegative",
                  R"("optimizer": {"adagrad": {"initial_accumulator_value": -1}})",
                  "optimizer.adagrad.initial_accumulator_value must be >= 0 and finite, got -1"},
        BadConfig{"RmspropAlphaOne", R"("optimizer": {"rmsprop": {"alpha": 1}})",
                  "optimizer.rmsprop.alpha must be in [0, 1), got 1"},
        BadConfig{"RmspropEpsilonNegative", R"("optimizer": {"rmsprop": {"epsilon": -1e-8}})",
                  "optimizer.rmsprop.epsilon must be > 0 and finite, got -1e-08"},
        BadConfig{"RmspropMomentumOne", R"("optimizer": {"rmsprop": {"momentum": 1}})",
                  "optimizer.rmsprop.momentum must be in [0, 1), got 1"},
        BadConfig{"AdamBeta1One", R"("optimizer": {"adam": {"beta1": 1}})",
                  "optimizer.adam.beta1 must be in [0, 1), got 1"},
        BadConfig{"AdamBeta2NaN", R"("optimizer": {"adam": {"beta2": "NaN"}})",
                  "optimizer.adam.beta2 must be in [0, 1), got nan"},
        BadConfig{"AdamEpsilonZero", R"("optimizer": {"adam": {"epsilon": 0}})",
                  "optimizer.adam.epsilon must be > 0 and finite, got 0"},
        BadConfig{"AdamwBeta2AboveOne", R"("optimizer": {"adamw": {"beta2": 1.5}})",
                  "optimizer.adamw.beta2 must be in [0, 1), got 1.5"},
        BadConfig{"StepSizeZero", R"("schedule": {"step_decay": {"gamma": 0.5}})",
                  "schedule.step_decay.step_size must be > 0, got 0"},
        BadConfig{"StepGammaUnset", R"("schedule": {"step_decay": {"step_size": 10}})",
                  "schedule.step_decay.gamma must be in (0, 1], got 0"},
        BadConfig{"StepGammaAboveOne",
                  R"("schedule": {"step_decay": {"step_size": 10, "gamma": 1.5}})",
                  "schedule.step_decay.gamma must be in (0, 1], got 1.5"},
        BadConfig{"ExponentialGammaZero", R"("schedule": {"exponential": {}})",
                  "schedule.exponential.gamma must be in (0, 1], got 0"},
        BadConfig{"ExponentialGammaNaN", R"("schedule": {"exponential": {"gamma": "NaN"}})",
                  "schedule.exponential.gamma must be in (0, 1], got nan"},
        BadConfig{"CosineTMaxZero", R"("schedule": {"cosine": {}})",
                  "schedule.cosine.t_max must be > 0, got 0"},
        BadConfig{"CosineEtaMinNegative", R"("schedule": {"cosine": {"t_max": 5, "eta_min": -1}})",
                  "schedule.cosine.eta_min must be >= 0 and finite, got -1"},
        // Adam's default base rate is 1e-3.
        BadConfig{"CosineEtaMinAboveDefaultRate",
                  R"("optimizer": {"adam": {}}, "schedule": {"cosine": {"t_max": 5, "eta_min": 0.005}})",
                  "schedule.cosine.eta_min must be <= the base learning rate 0.001, got 0.005"},
        BadConfig{"CosineEtaMinAboveGivenRate",
                  R"("optimizer": {"sgd": {}, "learning_rate": 0.1},)"
                  R"( "schedule": {"cosine": {"t_max": 5, "eta_min": 0.2}})",
                  "schedule.cosine.eta_min must be <= the base learning rate 0.1, got 0.2"},
        BadConfig{"WarmupNegative", R"("schedule": {"warmup": {"steps": -1}})",
                  "schedule.warmup.steps must be >= 0, got -1"},
        BadConfig{"BatchSizeZero", R"("batch_size": 0)", "batch_size must be > 0, got 0"},
        BadConfig{"BatchSizeNegative", R"("batch_size": -8)", "batch_size must be > 0, got -8"},
        BadConfig{"BatchSizeHuge", R"("batch_size": 2000000)",
                  "batch_size must be <= 1048576, got 2000000"},
        BadConfig{"EpochsZero", R"("epochs": 0)", "epochs must be > 0, got 0"},
        BadConfig{"EpochsHuge", R"("epochs": 1000001)", "epochs must be <= 1000000, got 1000001"},
        BadConfig{"ClipNegative", R"("clip_grad_norm": -1)",
                  "clip_grad_norm must be >= 0 and finite, got -1"},
        BadConfig{"ClipInfinite", R"("clip_grad_norm": "Infinity")",
                  "clip_grad_norm must be >= 0 and finite, got inf"},
        BadConfig{"ValidationFractionOne", R"("validation_fraction": 1)",
                  "validation_fraction must be in [0, 1), got 1"},
        BadConfig{"ValidationFractionNegative", R"("validation_fraction": -0.2)",
                  "validation_fraction must be in [0, 1), got -0.2"},
        BadConfig{"PatienceNegative", R"("early_stopping": {"patience": -1})",
                  "early_stopping.patience must be >= 0"},
        BadConfig{"MinDeltaNegative", R"("early_stopping": {"patience": 3, "min_delta": -0.5})",
                  "early_stopping.min_delta must be >= 0 and finite, got -0.5"},
        BadConfig{"CheckpointEveryNegative", R"("checkpoint_every_epochs": -1)",
                  "checkpoint_every_epochs must be >= 0, got -1"},
        BadConfig{"LogEveryZero", R"("log_every_steps": 0)", "log_every_steps must be > 0, got 0"},
        // An empty diagnostics message asks for them without saying how often.
        BadConfig{"DiagnosticsEveryUnset", R"("diagnostics": {})",
                  "diagnostics.every_steps must be >= 1 (leave diagnostics unset for none), got 0"},
        BadConfig{"DiagnosticsEveryNegative", R"("diagnostics": {"every_steps": -5, "histograms": true})",
                  "diagnostics.every_steps must be >= 1 (leave diagnostics unset for none), got -5"},
        BadConfig{"RetentionKeepLastNegative", R"("retention": {"keep_last": -1})",
                  "retention.keep_last must be >= 0, got -1"},
        BadConfig{"RetentionKeepBestNegative",
                  R"("retention": {"keep_last": 1, "keep_best": -2, "metric": "RETAIN_MIN_TRAIN_LOSS"})",
                  "retention.keep_best must be >= 0, got -2"},
        BadConfig{"RetentionKeepsNothing", R"("retention": {})",
                  "retention keeps nothing: set retention.keep_last or retention.keep_best > 0"},
        BadConfig{"RetentionBestWithoutMetric", R"("retention": {"keep_best": 2})",
                  "retention.metric must be set when retention.keep_best > 0"},
        BadConfig{"RetentionMetricWithoutBest",
                  R"("retention": {"keep_last": 2, "metric": "RETAIN_MIN_VAL_LOSS"})",
                  "retention.metric is RETAIN_MIN_VAL_LOSS but retention.keep_best is 0"},
        BadConfig{"RetentionAccuracyOfRegression",
                  R"("retention": {"keep_best": 1, "metric": "RETAIN_MAX_VAL_ACCURACY"})",
                  "retention.metric RETAIN_MAX_VAL_ACCURACY needs accuracy, which loss MSE does "
                  "not define"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

TEST(ValidateTrainingConfigTest, UnknownEnumValuesAreRejected) {
  v1::TrainingConfig config = ConfigFromJson(Config(""));
  config.mutable_schedule()->set_unit(static_cast<v1::PeriodUnit>(7));
  absl::Status status = ValidateTrainingConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("schedule.unit has unknown value 7"));

  config = ConfigFromJson(Config(""));
  config.mutable_loss()->set_kind(static_cast<v1::LossKind>(42));
  status = ValidateTrainingConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("loss.kind"));
}

class GoodConfigTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GoodConfigTest, Passes) {
  const std::string json = Config(GetParam());
  const absl::Status status = ValidateTrainingConfig(ConfigFromJson(json));
  EXPECT_TRUE(status.ok()) << status << "\n" << json;
}

// Every optimiser, every schedule, and the boundary values of each range.
INSTANTIATE_TEST_SUITE_P(
    EveryOptimizerAndSchedule, GoodConfigTest,
    ::testing::Values(
        R"("optimizer": {"sgd": {}})",
        R"("optimizer": {"sgd": {"momentum": 0.9, "dampening": 0.1}, "learning_rate": 0.1})",
        R"("optimizer": {"sgd": {"momentum": 0.9, "nesterov": true}, "weight_decay": 5e-4})",
        R"("optimizer": {"adagrad": {"epsilon": 1e-10, "initial_accumulator_value": 0.1}})",
        R"("optimizer": {"rmsprop": {"alpha": 0.9, "epsilon": 1e-8, "momentum": 0.5, "centered": true}})",
        R"("optimizer": {"adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, "learning_rate": 3e-4})",
        R"("optimizer": {"adam": {"beta1": 0, "beta2": 0}})",
        R"("optimizer": {"adamw": {}, "weight_decay": 0})",
        R"("loss": {"kind": "HUBER", "huber_delta": 0.5})",
        R"("loss": {"kind": "SOFTMAX_CROSS_ENTROPY"})",
        R"("loss": {"kind": "PERCEPTRON"})",
        R"("schedule": {"constant": {}})",
        R"("schedule": {"unit": "EPOCHS", "step_decay": {"step_size": 3, "gamma": 0.1}})",
        R"("schedule": {"step_decay": {"step_size": 1, "gamma": 1}})",
        R"("schedule": {"exponential": {"gamma": 0.95}, "warmup": {"steps": 100}})",
        // eta_min may equal the (default) base rate.
        R"("schedule": {"cosine": {"t_max": 10, "eta_min": 0.01}})",
        R"("optimizer": {"adam": {}}, "schedule": {"unit": "EPOCHS", "cosine": {"t_max": 10, "eta_min": 1e-4}})",
        R"("schedule": {"warmup": {"steps": 0}})",
        R"("batch_size": 1048576, "epochs": 1000000)",
        R"("clip_grad_norm": 0, "validation_fraction": 0)",
        R"("clip_grad_norm": 1.0, "validation_fraction": 0.2, "early_stopping": {"patience": 5, "min_delta": 0.001, "restore_best": true})",
        R"("early_stopping": {"patience": 0}, "checkpoint_every_epochs": 0, "log_every_steps": 1)",
        R"("seed": "18446744073709551615", "checkpoint_every_epochs": 5)",
        R"("diagnostics": {"every_steps": 1})",
        R"("diagnostics": {"every_steps": 2147483647, "histograms": true})",
        R"("retention": {"keep_last": 1})",
        R"("retention": {"keep_best": 1, "metric": "RETAIN_MIN_TRAIN_LOSS"})",
        R"("loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "retention": {"keep_last": 3, "keep_best": 2, "metric": "RETAIN_MAX_VAL_ACCURACY"})"));

TEST(DefaultsTest, LearningRateAndWeightDecay) {
  v1::OptimizerSpec spec;
  spec.mutable_sgd();
  EXPECT_DOUBLE_EQ(DefaultLearningRate(spec), 0.01);
  EXPECT_DOUBLE_EQ(EffectiveWeightDecay(spec), 0.0);
  spec.mutable_adagrad();
  EXPECT_DOUBLE_EQ(DefaultLearningRate(spec), 0.01);
  spec.mutable_rmsprop();
  EXPECT_DOUBLE_EQ(DefaultLearningRate(spec), 0.01);
  spec.mutable_adam();
  EXPECT_DOUBLE_EQ(DefaultLearningRate(spec), 1e-3);
  EXPECT_DOUBLE_EQ(EffectiveLearningRate(spec), 1e-3);
  EXPECT_DOUBLE_EQ(EffectiveWeightDecay(spec), 0.0);
  spec.mutable_adamw();
  EXPECT_DOUBLE_EQ(DefaultLearningRate(spec), 1e-3);
  EXPECT_DOUBLE_EQ(EffectiveWeightDecay(spec), 0.01);
  spec.set_learning_rate(0.5);
  spec.set_weight_decay(0);
  EXPECT_DOUBLE_EQ(EffectiveLearningRate(spec), 0.5);
  EXPECT_DOUBLE_EQ(EffectiveWeightDecay(spec), 0.0);
}

// ------------------------------------------------------ loss against targets

v1::LossSpec Loss(v1::LossKind kind) {
  v1::LossSpec loss;
  loss.set_kind(kind);
  return loss;
}

void ExpectLossError(v1::LossKind kind, int outputs, int targets,
                     const std::string& message) {
  const absl::Status status = ValidateLossForTargets(Loss(kind), outputs, targets);
  ASSERT_FALSE(status.ok()) << v1::LossKind_Name(kind) << " " << outputs << " " << targets;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(message));
}

TEST(ValidateLossForTargetsTest, MatchingShapesPass) {
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::SOFTMAX_CROSS_ENTROPY), 10, 1).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::SOFTMAX_CROSS_ENTROPY), 2, 1).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::BCE_WITH_LOGITS), 3, 3).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::MSE), 1, 1).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::HUBER), 4, 4).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::PERCEPTRON), 1, 1).ok());
  EXPECT_TRUE(ValidateLossForTargets(Loss(v1::HINGE), 1, 1).ok());
}

TEST(ValidateLossForTargetsTest, MismatchesNameTheLossAndTheShapes) {
  ExpectLossError(v1::BCE_WITH_LOGITS, 3, 1,
                  "loss.kind BCE_WITH_LOGITS needs one output per target: the "
                  "model has 3 outputs for 1 target column");
  ExpectLossError(v1::MSE, 1, 2,
                  "loss.kind MSE needs one output per target: the model has 1 "
                  "output for 2 target columns");
  ExpectLossError(v1::HUBER, 2, 1, "loss.kind HUBER needs one output per target");
  ExpectLossError(v1::SOFTMAX_CROSS_ENTROPY, 1, 1,
                  "loss.kind SOFTMAX_CROSS_ENTROPY needs at least 2 outputs (one "
                  "per class): the model has 1 output");
  ExpectLossError(v1::SOFTMAX_CROSS_ENTROPY, 10, 10,
                  "loss.kind SOFTMAX_CROSS_ENTROPY needs 1 target column holding "
                  "the class index: the data has 10 target columns");
  ExpectLossError(v1::PERCEPTRON, 2, 1, "loss.kind PERCEPTRON needs 1 output");
  ExpectLossError(v1::HINGE, 1, 2, "loss.kind HINGE needs 1 output and 1 target column");
  ExpectLossError(v1::LOSS_UNSPECIFIED, 1, 1, "loss.kind must be set");
}

}  // namespace
}  // namespace trainyard
