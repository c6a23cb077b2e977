// Shapes: the Shape type, ModelSpec.input_shape and its rules, the layers
// that accept images (and batch norm, which refuses them), and a model on an
// image input training exactly like the same model on the flattened input.
#include "core/shape.h"

#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/data_check.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/trainer.h"
#include "core/validate.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::BlobsDataset;
using testing::FromJson;

TEST(ShapeTest, SizeStringAndEquality) {
  EXPECT_EQ(Shape::Flat(784).size(), 784);
  EXPECT_EQ(Shape::Flat(784).ToString(), "784");
  EXPECT_FALSE(Shape::Flat(784).is_image());
  const Shape image = Shape::Image(1, 28, 28);
  EXPECT_TRUE(image.is_image());
  EXPECT_EQ(image.size(), 784);
  EXPECT_EQ(image.ToString(), "1x28x28");
  EXPECT_EQ(image, Shape::Image(1, 28, 28));
  EXPECT_NE(image, Shape::Flat(784));  // same size, different shape
  EXPECT_NE(image, Shape::Image(28, 1, 28));
  EXPECT_EQ(Shape::Image(int64_t{1} << 40, int64_t{1} << 40, 2).size(), INT64_MAX);
}

// ------------------------------------------------------- input_shape rules

struct BadInput {
  const char* name;
  const char* json;  // the ModelSpec
  const char* fields[2];  // each must appear in the message
  const char* message;
};

void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, IsInvalidArgumentNamingTheField) {
  const BadInput& c = GetParam();
  absl::StatusOr<ModelShape> shape = AnalyzeModel(FromJson<v1::ModelSpec>(c.json));
  ASSERT_FALSE(shape.ok()) << "accepted: " << c.json;
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(shape.status().message());
  EXPECT_THAT(message, StartsWith(c.fields[0]));
  if (c.fields[1] != nullptr) {
    EXPECT_THAT(message, HasSubstr(c.fields[1]));
  }
  EXPECT_THAT(message, HasSubstr(c.message));
}

#define DENSE R"("layers": [{"dense": {"units": 2}}])"

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInputTest,
    ::testing::Values(
        BadInput{"Neither", "{" DENSE "}", {"input_dim", nullptr},
                 "input_dim must be > 0, got 0"},
        BadInput{"ChannelsZero",
                 R"({"inputShape": {"height": 28, "width": 28}, )" DENSE "}",
                 {"input_shape.channels", nullptr}, "input_shape.channels must be > 0, got 0"},
        BadInput{"HeightZero",
                 R"({"inputShape": {"channels": 1, "width": 28}, )" DENSE "}",
                 {"input_shape.height", nullptr}, "input_shape.height must be > 0, got 0"},
        BadInput{"WidthNegative",
                 R"({"inputShape": {"channels": 1, "height": 28, "width": -2}, )" DENSE "}",
                 {"input_shape.width", nullptr}, "input_shape.width must be > 0, got -2"},
        BadInput{"EmptyShape", R"({"inputDim": 784, "inputShape": {}, )" DENSE "}",
                 {"input_shape.channels", nullptr}, "must be > 0, got 0"},
        BadInput{"BothDisagree",
                 R"({"inputDim": 700, "inputShape": {"channels": 1, "height": 28, "width": 28}, )"
                 DENSE "}",
                 {"input_shape", "input_dim"}, "1x28x28 has 784 values but input_dim is 700"},
        BadInput{"NegativeInputDimWithShape",
                 R"({"inputDim": -1, "inputShape": {"channels": 1, "height": 2, "width": 2}, )"
                 DENSE "}",
                 {"input_shape", "input_dim"}, "input_dim is -1"},
        BadInput{"TooWide",
                 R"({"inputShape": {"channels": 3, "height": 1000, "width": 1000}, )" DENSE "}",
                 {"input_shape", nullptr},
                 "must have at most 1048576 values, got 3x1000x1000 = 3000000"},
        BadInput{"TooWideOverflow",
                 R"({"inputShape": {"channels": 2000000000, "height": 2000000000,)"
                 R"( "width": 2000000000}, )" DENSE "}",
                 {"input_shape", nullptr}, "= more than 2^63"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

TEST(InputShapeTest, ShapeAloneOrBothAgreeingIsAnImage) {
  for (const char* json :
       {R"({"inputShape": {"channels": 1, "height": 28, "width": 28}, )" DENSE "}",
        R"({"inputDim": 784, "inputShape": {"channels": 1, "height": 28, "width": 28}, )" DENSE
        "}"}) {
    absl::StatusOr<ModelShape> shape = AnalyzeModel(FromJson<v1::ModelSpec>(json));
    ASSERT_TRUE(shape.ok()) << shape.status() << json;
    EXPECT_EQ(shape->input, Shape::Image(1, 28, 28));
    EXPECT_EQ(shape->output, Shape::Flat(2));
    EXPECT_EQ(shape->num_params, 784 * 2 + 2);  // dense takes the image as flat
  }
  absl::StatusOr<ModelShape> flat = AnalyzeModel(FromJson<v1::ModelSpec>(
      R"({"inputDim": 784, )" DENSE "}"));
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->input, Shape::Flat(784));
}

TEST(InputShapeTest, WidthLimitAppliesToTheImageSize) {
  ModelLimits limits;
  limits.max_width = 12;
  const auto spec = [](int w) {
    v1::ModelSpec s;
    s.mutable_input_shape()->set_channels(2);
    s.mutable_input_shape()->set_height(2);
    s.mutable_input_shape()->set_width(w);
    s.add_layers()->mutable_activation()->set_kind(v1::RELU);
    return s;
  };
  EXPECT_TRUE(AnalyzeModel(spec(3), limits).ok());  // 12 values
  absl::StatusOr<ModelShape> over = AnalyzeModel(spec(4), limits);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(over.status().message()),
              StartsWith("input_shape must have at most 12 values, got 2x2x4 = 16"));
}

// ------------------------------------------------------- layers on images

v1::ModelSpec ImageModel(const std::string& layers) {
  return FromJson<v1::ModelSpec>(
      R"({"inputShape": {"channels": 2, "height": 3, "width": 4}, "layers": [)" + layers + "]}");
}

TEST(InputShapeTest, ShapePreservingLayersKeepTheImage) {
  absl::StatusOr<ModelShape> shape = AnalyzeModel(ImageModel(
      R"({"activation": {"kind": "RELU"}}, {"dropout": {"rate": 0.5}}, {"layerNorm": {}},
         {"residual": {"layers": [{"layerNorm": {}}, {"activation": {"kind": "TANH"}}]}})"));
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->output, Shape::Image(2, 3, 4));
  EXPECT_EQ(shape->num_params, 2 * 24 + 2 * 24);  // gain and bias per C*H*W value
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(ImageModel(
      R"({"layerNorm": {}}, {"residual": {"layers": [{"layerNorm": {}}]}})"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_shape(), Shape::Image(2, 3, 4));
  EXPECT_EQ((*model)->output_shape(), Shape::Image(2, 3, 4));
  EXPECT_EQ((*model)->input_dim(), 24);
}

TEST(InputShapeTest, ResidualOnAnImageMustKeepTheShape) {
  absl::StatusOr<ModelShape> shape =
      AnalyzeModel(ImageModel(R"({"residual": {"layers": [{"dense": {"units": 24}}]}})"));
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shape.status().message(),
            "layers[0].residual: output shape 24 differs from input shape 2x3x4 "
            "(F(x) + scale * x needs equal shapes)");
}

TEST(InputShapeTest, BatchNormOnAnImageIsRefused) {
  for (const char* layers :
       {R"({"batchNorm": {}})",
        R"({"activation": {"kind": "RELU"}}, {"residual": {"layers": [{"batchNorm": {}}]}})"}) {
    absl::StatusOr<ModelShape> shape = AnalyzeModel(ImageModel(layers));
    ASSERT_FALSE(shape.ok()) << layers;
    EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(shape.status().message());
    EXPECT_THAT(message, ::testing::MatchesRegex("layers\\[[01]\\](\\.residual\\.layers\\[0\\])?"
                                                 "\\.batch_norm: .*"));
    EXPECT_THAT(message, HasSubstr("2x3x4"));
    EXPECT_THAT(message, HasSubstr("flat features only"));
  }
  // After a dense layer the features are flat, and batch norm is fine.
  EXPECT_TRUE(AnalyzeModel(ImageModel(R"({"dense": {"units": 4}}, {"batchNorm": {}})")).ok());
}

TEST(InputShapeTest, DataAndCheckpointMessagesNameTheShape) {
  const v1::ModelSpec spec = ImageModel(R"({"dense": {"units": 3}})");
  absl::Status s = CheckDataFitsModel(*BlobsDataset(30, 5, 1), Shape::Image(2, 3, 4), 3,
                                      FromJson<v1::LossSpec>(R"({"kind": "MSE"})"), "dataset");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "model.input_shape 2x3x4 has 24 values but the dataset has 5 features");

  v1::Checkpoint c;
  *c.mutable_model() = spec;
  *c.mutable_training() = FromJson<v1::TrainingConfig>(
      R"({"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"sgd": {}},
          "batchSize": 4, "epochs": 1})");
  c.set_num_features(5);
  c.set_target_dim(1);
  s = ValidateCheckpoint(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("num_features is 5, the model's input_shape 2x3x4 has 24 values"));
}

// The same model given input_shape or the flat input_dim = C*H*W: the layers
// see the same matrices, so training gives the same parameters to the bit.
TEST(InputShapeTest, ImageInputTrainsLikeTheFlatInput) {
  const std::string layers = R"(
      {"layerNorm": {}}, {"dropout": {"rate": 0.1}},
      {"residual": {"layers": [{"activation": {"kind": "TANH"}}]}},
      {"dense": {"units": 8}}, {"batchNorm": {}}, {"activation": {"kind": "RELU"}},
      {"dense": {"units": 3}})";
  const v1::ModelSpec image = FromJson<v1::ModelSpec>(
      R"({"inputShape": {"channels": 1, "height": 2, "width": 3}, "layers": [)" + layers + "]}");
  const v1::ModelSpec flat =
      FromJson<v1::ModelSpec>(R"({"inputDim": 6, "layers": [)" + layers + "]}");
  const v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
      "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
      "batchSize": 16, "epochs": 3, "seed": 5, "validationFraction": 0.2})");
  auto data = BlobsDataset(120, 6, 3);
  auto a = Trainer::Create(image, config, data, nullptr, TrainerOptions{});
  auto b = Trainer::Create(flat, config, data, nullptr, TrainerOptions{});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->model().input_shape(), Shape::Image(1, 2, 3));
  ASSERT_EQ((*a)->model().num_params(), (*b)->model().num_params());
  ASSERT_TRUE((*a)->Run(nullptr, nullptr).ok());
  ASSERT_TRUE((*b)->Run(nullptr, nullptr).ok());
  const Model& ma = (*a)->model();
  const Model& mb = (*b)->model();
  EXPECT_EQ(std::vector<Scalar>(ma.params(), ma.params() + ma.num_params()),
            std::vector<Scalar>(mb.params(), mb.params() + mb.num_params()));
  // And the trained models, through their checkpoints, predict alike.
  absl::StatusOr<v1::Checkpoint> ca = DecodeCheckpoint(EncodeCheckpoint((*a)->MakeCheckpoint()).value());
  absl::StatusOr<v1::Checkpoint> cb = DecodeCheckpoint(EncodeCheckpoint((*b)->MakeCheckpoint()).value());
  ASSERT_TRUE(ca.ok()) << ca.status();
  ASSERT_TRUE(cb.ok()) << cb.status();
  EXPECT_TRUE(ca->model().has_input_shape());
  auto pa = Predictor::Create(*ca, 1);
  auto pb = Predictor::Create(*cb, 1);
  ASSERT_TRUE(pa.ok()) << pa.status();
  ASSERT_TRUE(pb.ok()) << pb.status();
  const Matrix x = data->features().leftCols(7);
  absl::StatusOr<Prediction> ya = (*pa)->Predict(x, 0, 1);
  absl::StatusOr<Prediction> yb = (*pb)->Predict(x, 0, 1);
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_EQ(ya->mean, yb->mean);
}

}  // namespace
}  // namespace trainyard
