// Every example under examples/ parses and validates, so the files users copy
// from stay in step with the protos.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/spec_json.h"
#include "core/validate.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(TRAINYARD_SOURCE_DIR) / "examples";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> ExampleDirs() {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(kExamples)) return dirs;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.is_directory() && fs::exists(entry.path() / "model.json")) {
      dirs.push_back(entry.path());
    }
  }
  return dirs;
}

// The target columns each example's dataset has: class labels are one
// column, regression/BCE targets one per output.
int TargetDim(v1::LossKind kind, int output_dim) {
  switch (kind) {
    case v1::SOFTMAX_CROSS_ENTROPY:
    case v1::PERCEPTRON:
    case v1::HINGE:
      return 1;
    default:
      return output_dim;
  }
}

TEST(ExamplesTest, TheDocumentedExamplesExist) {
  for (const char* name : {"xor_perceptron", "xor_mlp", "sin_mlp", "fashion_mnist_mlp"}) {
    EXPECT_TRUE(fs::exists(kExamples / name / "model.json")) << name;
    EXPECT_TRUE(fs::exists(kExamples / name / "training.json")) << name;
  }
}

TEST(ExamplesTest, EveryExampleParsesAndValidates) {
  // {input_dim, output_dim} the examples are documented with.
  const std::map<std::string, std::pair<int, int>> expected_dims = {
      {"xor_perceptron", {2, 1}},
      {"xor_mlp", {2, 1}},
      {"sin_mlp", {1, 1}},
      {"fashion_mnist_mlp", {784, 10}},
  };
  const std::vector<fs::path> dirs = ExampleDirs();
  ASSERT_GE(dirs.size(), expected_dims.size());
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    SCOPED_TRACE(name);
    absl::StatusOr<v1::ModelSpec> model = ParseModelSpecJson(ReadFile(dir / "model.json"));
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<int> output_dim = ValidateModelSpec(*model);
    ASSERT_TRUE(output_dim.ok()) << output_dim.status();

    ASSERT_TRUE(fs::exists(dir / "training.json"));
    absl::StatusOr<v1::TrainingConfig> training =
        ParseTrainingConfigJson(ReadFile(dir / "training.json"));
    ASSERT_TRUE(training.ok()) << training.status();
    EXPECT_TRUE(ValidateTrainingConfig(*training).ok())
        << ValidateTrainingConfig(*training);

    const absl::Status fits = ValidateLossForTargets(
        training->loss(), *output_dim, TargetDim(training->loss().kind(), *output_dim));
    EXPECT_TRUE(fits.ok()) << fits;

    auto it = expected_dims.find(name);
    if (it != expected_dims.end()) {
      EXPECT_EQ(model->input_dim(), it->second.first);
      EXPECT_EQ(*output_dim, it->second.second);
    }
  }
}

TEST(ExamplesTest, FashionMnistMlpHasTheDocumentedSize) {
  absl::StatusOr<v1::ModelSpec> model =
      ParseModelSpecJson(ReadFile(kExamples / "fashion_mnist_mlp" / "model.json"));
  ASSERT_TRUE(model.ok()) << model.status();
  // 784*512+512 + 2*512 (batch norm) + 512*256+256 + 2*256 + 256*10+10
  EXPECT_EQ(CountParams(*model), 401920 + 1024 + 131328 + 512 + 2570);
}

}  // namespace
}  // namespace trainyard
