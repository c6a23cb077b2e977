// Search-space expansion (server/experiment_space.h): grid counts, order and
// values; ranges; whole messages, oneofs and lists; random draws that are
// deterministic per seed and per trial; and every refusal naming its field
// (and its trial, when the value is what does not fit).
#include "server/experiment_space.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "core/spec_json.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace trainyard::server {
namespace {

using ::testing::HasSubstr;

v1::ModelSpec BaseModel() {
  auto m = ParseModelSpecJson(R"({"inputDim": 2, "layers": [
      {"dense": {"units": 8}}, {"activation": {"kind": "TANH"}}, {"dense": {"units": 1}}]})");
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

v1::TrainingConfig BaseTraining() {
  auto t = ParseTrainingConfigJson(R"({"loss": {"kind": "MSE"},
      "optimizer": {"learningRate": 0.05, "sgd": {}}, "batchSize": 4, "epochs": 2})");
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

v1::SearchSpace Space(const std::string& json) {
  v1::SearchSpace space;
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &space, options);
  EXPECT_TRUE(status.ok()) << status.message() << " in " << json;
  return space;
}

absl::StatusOr<std::vector<ExperimentTrial>> Expand(const std::string& json,
                                                    ExpansionOptions options = {}) {
  return ExpandSearchSpace(Space(json), BaseModel(), BaseTraining(), options);
}

std::string Json(const google::protobuf::Value& v) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(v, &out).ok());
  return out;
}

TEST(ExperimentSpaceTest, GridIsTheCartesianProductFirstParameterSlowest) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.learning_rate", "values": [0.1, 0.01]},
      {"path": "model.layers[0].dense.units", "intRange": {"min": 4, "max": 12, "step": 4}}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 6u);
  const double lrs[] = {0.1, 0.1, 0.1, 0.01, 0.01, 0.01};
  const int units[] = {4, 8, 12, 4, 8, 12};
  for (int t = 0; t < 6; ++t) {
    const ExperimentTrial& trial = (*trials)[t];
    EXPECT_EQ(trial.index, t);
    EXPECT_DOUBLE_EQ(trial.training.optimizer().learning_rate(), lrs[t]) << t;
    EXPECT_EQ(trial.model.layers(0).dense().units(), units[t]) << t;
    // Everything not varied is the base's.
    EXPECT_EQ(trial.model.layers(2).dense().units(), 1);
    EXPECT_EQ(trial.training.epochs(), 2);
    EXPECT_TRUE(trial.training.optimizer().has_sgd());
    ASSERT_EQ(trial.hyper_parameters.size(), 2u);
    EXPECT_EQ(trial.hyper_parameters[0].path(), "training.optimizer.learning_rate");
    EXPECT_DOUBLE_EQ(trial.hyper_parameters[0].value().number_value(), lrs[t]);
    EXPECT_EQ(trial.hyper_parameters[1].path(), "model.layers[0].dense.units");
    EXPECT_EQ(trial.hyper_parameters[1].value().number_value(), units[t]);
  }
}

TEST(ExperimentSpaceTest, JsonNamesResolveToTheCanonicalPath) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.learningRate", "values": [0.3]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 1u);
  EXPECT_EQ((*trials)[0].hyper_parameters[0].path(), "training.optimizer.learning_rate");
  EXPECT_DOUBLE_EQ((*trials)[0].training.optimizer().learning_rate(), 0.3);
}

TEST(ExperimentSpaceTest, GridRangesAreEvenlyOrGeometricallySpacedWithExactEnds) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.learning_rate",
       "logUniform": {"min": 0.001, "max": 0.1, "count": 3}},
      {"path": "training.clip_grad_norm", "uniform": {"min": 1, "max": 2, "count": 5}}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 15u);
  EXPECT_EQ((*trials)[0].training.optimizer().learning_rate(), 0.001);
  EXPECT_NEAR((*trials)[5].training.optimizer().learning_rate(), 0.01, 1e-15);
  EXPECT_EQ((*trials)[10].training.optimizer().learning_rate(), 0.1);
  const double clips[] = {1, 1.25, 1.5, 1.75, 2};
  for (int k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ((*trials)[k].training.clip_grad_norm(), clips[k]);

  auto one = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.clip_grad_norm", "uniform": {"min": 3, "max": 9, "count": 1}}]})");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].training.clip_grad_norm(), 3);
}

TEST(ExperimentSpaceTest, WholeOneofSwitchesTheMemberAndKeepsTheRest) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.kind",
       "values": [{"sgd": {"momentum": 0.9, "nesterov": true}}, {"adam": {"beta2": 0.99}}]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  const v1::OptimizerSpec& sgd = (*trials)[0].training.optimizer();
  ASSERT_TRUE(sgd.has_sgd());
  EXPECT_FLOAT_EQ(sgd.sgd().momentum(), 0.9f);
  EXPECT_TRUE(sgd.sgd().nesterov());
  EXPECT_DOUBLE_EQ(sgd.learning_rate(), 0.05);  // the base's, kept
  const v1::OptimizerSpec& adam = (*trials)[1].training.optimizer();
  ASSERT_TRUE(adam.has_adam());
  EXPECT_FALSE(adam.has_sgd());
  EXPECT_FLOAT_EQ(adam.adam().beta2(), 0.99f);
  EXPECT_DOUBLE_EQ(adam.learning_rate(), 0.05);
  EXPECT_EQ(Json((*trials)[1].hyper_parameters[0].value()), R"({"adam":{"beta2":0.99}})");
}

TEST(ExperimentSpaceTest, NamingAOneofMemberLastSwitchesToIt) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.adam", "values": [{}, {"beta1": 0.8}]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  for (const ExperimentTrial& t : *trials) {
    EXPECT_TRUE(t.training.optimizer().has_adam());
    EXPECT_FALSE(t.training.optimizer().has_sgd());  // the base's sgd is cleared
    EXPECT_DOUBLE_EQ(t.training.optimizer().learning_rate(), 0.05);
  }
  EXPECT_FLOAT_EQ((*trials)[1].training.optimizer().adam().beta1(), 0.8f);
}

TEST(ExperimentSpaceTest, WholeMessageReplacesEveryField) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer", "values": [
          {"learningRate": 0.1, "sgd": {"momentum": 0.9}}, {"adam": {}}]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_DOUBLE_EQ((*trials)[0].training.optimizer().learning_rate(), 0.1);
  EXPECT_FLOAT_EQ((*trials)[0].training.optimizer().sgd().momentum(), 0.9f);
  EXPECT_TRUE((*trials)[1].training.optimizer().has_adam());
  // The whole message was replaced: the base's learning rate is gone.
  EXPECT_FALSE((*trials)[1].training.optimizer().has_learning_rate());
}

TEST(ExperimentSpaceTest, EnumsByNameListsAndRepeatedElements) {
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "model.layers[1].activation.kind", "values": ["RELU", "SIGMOID"]},
      {"path": "model.layers[2]", "values": [{"dense": {"units": 1, "init": "ZEROS"}}]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[0].model.layers(1).activation().kind(), v1::RELU);
  EXPECT_EQ((*trials)[1].model.layers(1).activation().kind(), v1::SIGMOID);
  EXPECT_EQ((*trials)[0].model.layers(2).dense().init(), v1::ZEROS);

  auto depth = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "model.layers", "values": [
          [{"dense": {"units": 1}}],
          [{"dense": {"units": 4}}, {"activation": {"kind": "RELU"}}, {"dense": {"units": 1}}]]}]})");
  ASSERT_TRUE(depth.ok()) << depth.status();
  ASSERT_EQ(depth->size(), 2u);
  EXPECT_EQ((*depth)[0].model.layers_size(), 1);
  EXPECT_EQ((*depth)[1].model.layers_size(), 3);
  EXPECT_EQ((*depth)[1].model.layers(0).dense().units(), 4);
}

TEST(ExperimentSpaceTest, LaterParametersRefineEarlierOnes) {
  // A oneof set first, then a field inside the member it chose.
  auto trials = Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.kind", "values": [{"rmsprop": {}}]},
      {"path": "training.optimizer.rmsprop.alpha", "values": [0.9, 0.99]}]})");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_FLOAT_EQ((*trials)[1].training.optimizer().rmsprop().alpha(), 0.99f);
}

constexpr char kRandom[] = R"({"algorithm": "RANDOM", "trials": %d, "seed": %d, "parameters": [
    {"path": "training.optimizer.learning_rate", "logUniform": {"min": 0.0001, "max": 0.1}},
    {"path": "training.optimizer.weight_decay", "uniform": {"min": 0, "max": 0.5}},
    {"path": "model.layers[0].dense.units", "intRange": {"min": 2, "max": 64, "step": 2}},
    {"path": "model.layers[1].activation.kind", "values": ["RELU", "TANH", "SIGMOID"]}]})";

std::string RandomSpace(int trials, int seed) {
  char buf[1024];
  std::snprintf(buf, sizeof buf, kRandom, trials, seed);
  return buf;
}

std::vector<std::string> Assignments(const std::vector<ExperimentTrial>& trials) {
  std::vector<std::string> out;
  for (const ExperimentTrial& t : trials) {
    std::string row;
    for (const v1::HyperParameter& hp : t.hyper_parameters) row += Json(hp.value()) + ";";
    out.push_back(row);
  }
  return out;
}

TEST(ExperimentSpaceTest, RandomDrawsStayInTheirDomains) {
  auto trials = Expand(RandomSpace(200, 7));
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 200u);
  int below_001 = 0;
  std::set<int> kinds;
  for (const ExperimentTrial& t : *trials) {
    const double lr = t.training.optimizer().learning_rate();
    EXPECT_GE(lr, 0.0001);
    EXPECT_LE(lr, 0.1);
    if (lr < 0.001) ++below_001;
    EXPECT_GE(t.training.optimizer().weight_decay(), 0);
    EXPECT_LE(t.training.optimizer().weight_decay(), 0.5);
    const int units = t.model.layers(0).dense().units();
    EXPECT_GE(units, 2);
    EXPECT_LE(units, 64);
    EXPECT_EQ(units % 2, 0);
    kinds.insert(t.model.layers(1).activation().kind());
  }
  // Log-uniform: a third of the log range lies below 1e-3 (a plain uniform
  // draw would put 0.9 % there).
  EXPECT_GT(below_001, 40);
  EXPECT_LT(below_001, 95);
  EXPECT_EQ(kinds.size(), 3u);
}

TEST(ExperimentSpaceTest, RandomIsDeterministicPerSeedAndPerTrial) {
  auto a = Expand(RandomSpace(5, 42));
  auto b = Expand(RandomSpace(5, 42));
  auto c = Expand(RandomSpace(5, 43));
  auto fewer = Expand(RandomSpace(3, 42));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && fewer.ok());
  EXPECT_EQ(Assignments(*a), Assignments(*b));
  EXPECT_NE(Assignments(*a), Assignments(*c));
  // Trial i depends on the seed and i only, not on the trial count.
  const auto all = Assignments(*a);
  EXPECT_EQ(Assignments(*fewer), std::vector<std::string>(all.begin(), all.begin() + 3));
  // Distinct trials draw distinct values.
  EXPECT_NE(all[0], all[1]);
}

// --- refusals ---------------------------------------------------------------

void ExpectInvalid(const std::string& json, const std::vector<std::string>& parts,
                   ExpansionOptions options = {}) {
  auto trials = Expand(json, options);
  ASSERT_FALSE(trials.ok()) << "accepted: " << json;
  EXPECT_EQ(trials.status().code(), absl::StatusCode::kInvalidArgument) << trials.status();
  for (const std::string& part : parts) {
    EXPECT_THAT(std::string(trials.status().message()), HasSubstr(part)) << json;
  }
}

TEST(ExperimentSpaceTest, SpaceErrorsNameTheField) {
  ExpectInvalid(R"({"parameters": [{"path": "training.epochs", "values": [1]}]})",
                {"search_space.algorithm"});
  ExpectInvalid(R"({"algorithm": "GRID"})", {"search_space.parameters: empty"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [{"path": "training.epochs"}]})",
                {"search_space.parameters[0]: no domain"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "values": [1]},
      {"path": "training.batch_size", "values": []}]})",
                {"search_space.parameters[1].values: empty"});
  ExpectInvalid(R"({"algorithm": "GRID", "trials": 3, "parameters": [
      {"path": "training.epochs", "values": [1]}]})",
                {"search_space.trials", "only for RANDOM"});
  ExpectInvalid(R"({"algorithm": "GRID", "seed": 3, "parameters": [
      {"path": "training.epochs", "values": [1]}]})",
                {"search_space.seed"});
  ExpectInvalid(R"({"algorithm": "RANDOM", "parameters": [
      {"path": "training.epochs", "values": [1]}]})",
                {"search_space.trials", "[1, 1000]", "got 0"});
  ExpectInvalid(R"({"algorithm": "RANDOM", "trials": 1001, "parameters": [
      {"path": "training.epochs", "values": [1]}]})",
                {"search_space.trials", "got 1001"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.clip_grad_norm", "uniform": {"min": 0, "max": 1}}]})",
                {"search_space.parameters[0].uniform.count", ">= 1"});
  ExpectInvalid(R"({"algorithm": "RANDOM", "trials": 2, "parameters": [
      {"path": "training.clip_grad_norm", "uniform": {"min": 0, "max": 1, "count": 4}}]})",
                {"search_space.parameters[0].uniform.count", "only for GRID"});
  ExpectInvalid(R"({"algorithm": "RANDOM", "trials": 2, "parameters": [
      {"path": "training.optimizer.learning_rate", "logUniform": {"min": 0, "max": 1}}]})",
                {"search_space.parameters[0].log_uniform.min", "min > 0"});
  ExpectInvalid(R"({"algorithm": "RANDOM", "trials": 2, "parameters": [
      {"path": "training.clip_grad_norm", "uniform": {"min": 2, "max": 1}}]})",
                {"search_space.parameters[0].uniform", "greater than max"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "intRange": {"min": 5, "max": 1}}]})",
                {"search_space.parameters[0].int_range", "greater than max"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "intRange": {"min": 1, "max": 5, "step": -1}}]})",
                {"search_space.parameters[0].int_range.step"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.learningRate", "values": [0.1]},
      {"path": "training.optimizer.learning_rate", "values": [0.2]}]})",
                {"search_space.parameters[1].path", "already varied"});
}

TEST(ExperimentSpaceTest, TooManyGridTrialsNamesTheFactors) {
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "intRange": {"min": 1, "max": 40}},
      {"path": "training.batch_size", "intRange": {"min": 1, "max": 30}}]})",
                {"search_space", "more than 1000 trials", "40 x 30"});
  // A huge range is refused without being enumerated.
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.seed", "intRange": {"min": 0, "max": 9000000000000000}}]})",
                {"more than 1000 trials"});
  ExpansionOptions small;
  small.max_trials = 4;
  small.field_name = "space";
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "values": [1, 2, 3, 4, 5]}]})",
                {"space: the grid has more than 4 trials"}, small);
  EXPECT_TRUE(Expand(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "values": [1, 2, 3, 4]}]})", small).ok());
}

TEST(ExperimentSpaceTest, BadPathsNameTheParameterAndTheSegment) {
  auto expect_path = [](const std::string& path, const std::string& why) {
    ExpectInvalid(R"({"algorithm": "GRID", "parameters": [{"path": ")" + path +
                      R"(", "values": [1]}]})",
                  {"search_space.parameters[0].path", why});
  };
  expect_path("", "empty");
  expect_path("optimizer.learning_rate", "must start with model. or training.");
  expect_path("training", "names a whole root");
  expect_path("training.optimizer.lerning_rate",
              "no field \"lerning_rate\" in trainyard.v1.OptimizerSpec");
  expect_path("training.epochs.x", "epochs is a scalar");
  expect_path("model.layers.dense.units", "layers is repeated; name an element");
  expect_path("training.optimizer[0].sgd", "optimizer is not repeated");
  expect_path("model.layers[x].dense", "an index is [digits]");
  expect_path("model.layers[0]..units", "is not a field name");
  expect_path("model[0].layers", "the root takes no index");
}

TEST(ExperimentSpaceTest, ValuesThatDoNotFitNameTheTrialAndTheField) {
  // 2.5 is the second value: trial 1.
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.epochs", "values": [3, 2.5]}]})",
                {"trial 1: search_space.parameters[0] (training.epochs = 2.5)"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "model.layers[1].activation.kind", "values": ["RELU", "SWISH"]}]})",
                {"trial 1: search_space.parameters[0] (model.layers[1].activation.kind", "SWISH"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer", "values": [{"learningRate": 0.1, "sgdd": {}}]}]})",
                {"trial 0: search_space.parameters[0] (training.optimizer", "sgdd"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "model.layers[7].dense.units", "values": [4]}]})",
                {"trial 0: search_space.parameters[0] (model.layers[7].dense.units",
                 "layers[7] is out of range: this trial has 3 layers"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.kind", "values": [{"sgd": {}, "adam": {}}]}]})",
                {"trial 0", "exactly one member"});
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.kind", "values": [{"learningRate": 1}]}]})",
                {"trial 0", "\"learningRate\" is not a member of oneof kind"});
  // Walking through sgd when the trial's optimizer is adam would silently
  // switch the optimiser: refused, naming the trial where it happens.
  ExpectInvalid(R"({"algorithm": "GRID", "parameters": [
      {"path": "training.optimizer.kind", "values": [{"sgd": {}}, {"adam": {}}]},
      {"path": "training.optimizer.sgd.momentum", "values": [0.5, 0.9]}]})",
                {"trial 2: search_space.parameters[1] (training.optimizer.sgd.momentum = 0.5)",
                 "this trial's kind is adam"});
}

}  // namespace
}  // namespace trainyard::server
