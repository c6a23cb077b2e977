// The lecture's demonstrations, run through the real trainer with the
// example configs users start from (examples/*/): a perceptron cannot fit XOR
// but fits AND, a two-layer MLP fits XOR, a small ReLU MLP fits sin(x) on
// [-pi, pi].
#include <memory>
#include <string>

#include "core/data/file_util.h"
#include "core/evaluate.h"
#include "core/spec_json.h"
#include "core/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

v1::ModelSpec ExampleModel(const std::string& name) {
  auto text = ReadFile(std::string(TRAINYARD_SOURCE_DIR) + "/examples/" + name + "/model.json");
  EXPECT_TRUE(text.ok()) << text.status();
  auto spec = ParseModelSpecJson(*text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

v1::TrainingConfig ExampleTraining(const std::string& name) {
  auto text =
      ReadFile(std::string(TRAINYARD_SOURCE_DIR) + "/examples/" + name + "/training.json");
  EXPECT_TRUE(text.ok()) << text.status();
  auto config = ParseTrainingConfigJson(*text);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

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


TEST(LectureTest, PerceptronCannotFitXor) {
  // Some XOR point is always misclassified by a line: at most 3 of 4 right.
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    v1::TrainingConfig config = ExampleTraining("xor_perceptron");
    config.set_seed(seed);
    config.set_epochs(200);
    const EvalMetrics m = TrainAndEvaluate(ExampleModel("xor_perceptron"), config,
                                           testing::XorDataset(true));
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
  const EvalMetrics m = TrainAndEvaluate(ExampleModel("xor_perceptron"),
                                         ExampleTraining("xor_perceptron"), data);
  EXPECT_EQ(m.accuracy, 1.0);
}

TEST(LectureTest, TwoLayerMlpFitsXor) {
  const EvalMetrics m = TrainAndEvaluate(ExampleModel("xor_mlp"), ExampleTraining("xor_mlp"),
                                         testing::XorDataset(false));
  EXPECT_EQ(m.accuracy, 1.0);
  EXPECT_LT(m.loss, 0.05);
}

TEST(LectureTest, ReluMlpFitsSine) {
  const EvalMetrics m = TrainAndEvaluate(ExampleModel("sin_mlp"), ExampleTraining("sin_mlp"),
                                         testing::SinDataset(200));
  EXPECT_LT(m.mse, 1e-3);
}

}  // namespace
}  // namespace trainyard
