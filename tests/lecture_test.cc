// The lecture's demonstrations, run through the real trainer: a perceptron
// cannot fit XOR but fits AND, a two-layer MLP fits XOR, a small ReLU MLP fits
// sin(x) on [-pi, pi].
#include <memory>

#include "core/evaluate.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using testing::FromJson;

struct LastEpoch : TrainingObserver {
  EpochMetrics last;
  void OnEpoch(const EpochMetrics& m) override { last = m; }
};

EvalMetrics TrainAndEvaluate(const v1::ModelSpec& spec,
                             const v1::TrainingConfig& config,
                             std::shared_ptr<const Dataset> data) {
  auto t = Trainer::Create(spec, config, data, nullptr, TrainerOptions{});
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  auto outcome = (*t)->Run(nullptr, nullptr);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  auto predictor = Predictor::Create((*t)->MakeCheckpoint());
  EXPECT_TRUE(predictor.ok()) << predictor.status();
  auto metrics = (*predictor)->Evaluate(*data);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return *metrics;
}

const char kPerceptronModel[] =
    R"({"inputDim": 2, "layers": [{"dense": {"units": 1}}]})";
const char kPerceptronTraining[] = R"({
  "loss": {"kind": "PERCEPTRON"}, "optimizer": {"learningRate": 0.1, "sgd": {}},
  "batchSize": 1, "epochs": 200, "seed": 3})";

TEST(LectureTest, PerceptronCannotFitXor) {
  // Some XOR point is always misclassified by a line: at most 3 of 4 right.
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    auto config = FromJson<v1::TrainingConfig>(kPerceptronTraining);
    config.set_seed(seed);
    const EvalMetrics m = TrainAndEvaluate(FromJson<v1::ModelSpec>(kPerceptronModel),
                                           config, testing::XorDataset(true));
    EXPECT_LE(m.accuracy, 0.75) << "seed " << seed;
  }
}

TEST(LectureTest, PerceptronFitsAnd) {
  Matrix x(2, 4);
  x << 0, 0, 1, 1,
       0, 1, 0, 1;
  Matrix y(1, 4);
  y << -1, -1, -1, 1;
  auto data = std::make_shared<const Dataset>(x, y, true, v1::PREPROCESSING_NONE);
  const EvalMetrics m = TrainAndEvaluate(FromJson<v1::ModelSpec>(kPerceptronModel),
                                         FromJson<v1::TrainingConfig>(kPerceptronTraining),
                                         data);
  EXPECT_EQ(m.accuracy, 1.0);
}

TEST(LectureTest, TwoLayerMlpFitsXor) {
  auto spec = FromJson<v1::ModelSpec>(R"({"inputDim": 2, "layers": [
    {"dense": {"units": 8}}, {"activation": {"kind": "TANH"}},
    {"dense": {"units": 1}}]})");
  auto config = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "BCE_WITH_LOGITS"},
    "optimizer": {"learningRate": 0.05, "adam": {}},
    "batchSize": 4, "epochs": 500, "seed": 1})");
  const EvalMetrics m = TrainAndEvaluate(spec, config, testing::XorDataset(false));
  EXPECT_EQ(m.accuracy, 1.0);
  EXPECT_LT(m.loss, 0.05);
}

TEST(LectureTest, ReluMlpFitsSine) {
  auto spec = FromJson<v1::ModelSpec>(R"({"inputDim": 1, "layers": [
    {"dense": {"units": 64}}, {"activation": {"kind": "RELU"}},
    {"dense": {"units": 64}}, {"activation": {"kind": "RELU"}},
    {"dense": {"units": 1}}]})");
  auto config = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "MSE"},
    "optimizer": {"learningRate": 0.003, "adam": {}},
    "schedule": {"cosine": {"tMax": 1500, "etaMin": 0.0001}, "unit": "EPOCHS"},
    "batchSize": 25, "epochs": 1500, "seed": 1})");
  const EvalMetrics m = TrainAndEvaluate(spec, config, testing::SinDataset(200));
  EXPECT_LT(m.mse, 1e-3);
}

}  // namespace
}  // namespace trainyard
