// Validation of user-written specs: every bad value is INVALID_ARGUMENT with a
// message naming the field, every good spec passes. Specs are written as JSON,
// the way users write them.
#include "core/validate.h"

#include <climits>
#include <ostream>
#include <string>
#include <string_view>

#include "core/layer_registry.h"
#include "core/spec_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

v1::ModelSpec ModelFromJson(std::string_view json) {
  absl::StatusOr<v1::ModelSpec> spec = ParseModelSpecJson(json);
  EXPECT_TRUE(spec.ok()) << spec.status() << "\n" << json;
  return spec.ok() ? *spec : v1::ModelSpec();
}

// ---------------------------------------------------------------- model specs

struct BadModel {
  const char* name;
  const char* json;
  const char* message;  // must appear in the error
};

void PrintTo(const BadModel& c, std::ostream* os) { *os << c.name; }

class BadModelTest : public ::testing::TestWithParam<BadModel> {};

TEST_P(BadModelTest, IsInvalidArgumentNamingTheField) {
  const BadModel& c = GetParam();
  absl::StatusOr<int> width = ValidateModelSpec(ModelFromJson(c.json));
  ASSERT_FALSE(width.ok()) << "accepted: " << c.json;
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()), HasSubstr(c.message));
}

// A valid prefix for layers, so each case breaks exactly one thing.
#define DENSE16 R"({"dense": {"units": 16}})"

INSTANTIATE_TEST_SUITE_P(
    Cases, BadModelTest,
    ::testing::Values(
        BadModel{"InputDimZero", R"({"layers": [)" DENSE16 "]}",
                 "input_dim must be > 0, got 0"},
        BadModel{"InputDimNegative", R"({"input_dim": -4, "layers": [)" DENSE16 "]}",
                 "input_dim must be > 0, got -4"},
        BadModel{"InputDimTooWide", R"({"input_dim": 2000000, "layers": [)" DENSE16 "]}",
                 "input_dim must be <= 1048576, got 2000000"},
        BadModel{"NoLayers", R"({"input_dim": 3})", "layers must not be empty"},
        BadModel{"KindNotSet", R"({"input_dim": 3, "layers": [)" DENSE16 ", {}]}",
                 "layers[1].kind must be set (one of dense, activation, "
                 "batch_norm, layer_norm, dropout, residual)"},
        BadModel{"DenseUnitsZero", R"({"input_dim": 3, "layers": [{"dense": {}}]})",
                 "layers[0].dense.units must be > 0, got 0"},
        BadModel{"DenseUnitsTooWide",
                 R"({"input_dim": 3, "layers": [{"dense": {"units": 1048577}}]})",
                 "layers[0].dense.units must be <= 1048576, got 1048577"},
        BadModel{"NestedDenseUnitsNegative",
                 R"({"input_dim": 3, "layers": [)" DENSE16
                 R"(, {"residual": {"layers": [{"dense": {"units": -3}}]}}]})",
                 "layers[1].residual.layers[0].dense.units must be > 0, got -3"},
        BadModel{"ActivationKindNotSet",
                 R"({"input_dim": 3, "layers": [{"activation": {}}]})",
                 "layers[0].activation.kind must be set"},
        BadModel{"AlphaNegative",
                 R"({"input_dim": 3, "layers": [)" DENSE16
                 R"(, {"activation": {"kind": "LEAKY_RELU", "alpha": -1}}]})",
                 "layers[1].activation.alpha must be finite and >= 0, got -1"},
        BadModel{"AlphaNaN",
                 R"({"input_dim": 3, "layers": [)" DENSE16
                 R"(, {"activation": {"kind": "LEAKY_RELU", "alpha": "NaN"}}]})",
                 "layers[1].activation.alpha must be finite and >= 0, got nan"},
        BadModel{"AlphaInfinite",
                 R"({"input_dim": 3, "layers": [)" DENSE16
                 R"(, {"activation": {"kind": "LEAKY_RELU", "alpha": "Infinity"}}]})",
                 "layers[1].activation.alpha must be finite and >= 0, got inf"},
        BadModel{"BatchNormMomentumAboveOne",
                 R"({"input_dim": 3, "layers": [)" DENSE16
                 R"(, {"batch_norm": {"momentum": 1.5}}]})",
                 "layers[1].batch_norm.momentum must be in [0, 1], got 1.5"},
        BadModel{"BatchNormMomentumNegative",
                 R"({"input_dim": 3, "layers": [{"batch_norm": {"momentum": -0.1}}]})",
                 "layers[0].batch_norm.momentum must be in [0, 1], got -0.1"},
        BadModel{"BatchNormMomentumNaN",
                 R"({"input_dim": 3, "layers": [{"batch_norm": {"momentum": "NaN"}}]})",
                 "layers[0].batch_norm.momentum must be in [0, 1], got nan"},
        BadModel{"BatchNormEpsilonZero",
                 R"({"input_dim": 3, "layers": [{"batch_norm": {"epsilon": 0}}]})",
                 "layers[0].batch_norm.epsilon must be > 0 and finite, got 0"},
        BadModel{"BatchNormEpsilonInfinite",
                 R"({"input_dim": 3, "layers": [{"batch_norm": {"epsilon": "Infinity"}}]})",
                 "layers[0].batch_norm.epsilon must be > 0 and finite, got inf"},
        BadModel{"LayerNormEpsilonNegative",
                 R"({"input_dim": 3, "layers": [{"layer_norm": {"epsilon": -1e-5}}]})",
                 "layers[0].layer_norm.epsilon must be > 0 and finite, got -1e-05"},
        BadModel{"DropoutRateOne",
                 R"({"input_dim": 3, "layers": [{"dropout": {"rate": 1}}]})",
                 "layers[0].dropout.rate must be in [0, 1), got 1"},
        BadModel{"DropoutRateAboveOne",
                 R"({"input_dim": 3, "layers": [)" DENSE16 ", " DENSE16
                 R"(, {"dropout": {"rate": 1.5}}]})",
                 "layers[2].dropout.rate must be in [0, 1), got 1.5"},
        BadModel{"DropoutRateNegative",
                 R"({"input_dim": 3, "layers": [{"dropout": {"rate": -0.5}}]})",
                 "layers[0].dropout.rate must be in [0, 1), got -0.5"},
        BadModel{"DropoutRateNaN",
                 R"({"input_dim": 3, "layers": [{"dropout": {"rate": "NaN"}}]})",
                 "layers[0].dropout.rate must be in [0, 1), got nan"},
        BadModel{"EmptyResidual",
                 R"({"input_dim": 3, "layers": [)" DENSE16 R"(, {"residual": {}}]})",
                 "layers[1].residual.layers must not be empty"},
        BadModel{"ResidualScaleNaN",
                 R"({"input_dim": 3, "layers": [{"residual": {"scale": "NaN",)"
                 R"( "layers": [{"activation": {"kind": "TANH"}}]}}]})",
                 "layers[0].residual.scale must be finite, got nan"},
        BadModel{"ResidualScaleInfinite",
                 R"({"input_dim": 3, "layers": [{"residual": {"scale": "-Infinity",)"
                 R"( "layers": [{"activation": {"kind": "TANH"}}]}}]})",
                 "layers[0].residual.scale must be finite, got -inf"},
        BadModel{"ResidualChangesWidth",
                 R"({"input_dim": 3, "layers": [)" DENSE16 ", " DENSE16 ", " DENSE16
                 ", " DENSE16 R"(, {"residual": {"layers": [{"dense": {"units": 8}}]}}]})",
                 "layers[4].residual: output width 8 differs from input width 16"},
        BadModel{"DeepNestedError",
                 R"({"input_dim": 3, "layers": [{"residual": {"layers": [)"
                 R"({"activation": {"kind": "RELU"}}, {"residual": {"layers": [)"
                 R"({"dropout": {"rate": 2}}]}}]}}]})",
                 "layers[0].residual.layers[1].residual.layers[0].dropout.rate "
                 "must be in [0, 1), got 2"}),
    [](const ::testing::TestParamInfo<BadModel>& info) { return info.param.name; });

TEST(ValidateModelSpecTest, NumericEnumOutOfRangeInJsonIsRejected) {
  // The JSON parser accepts enum numbers it does not know (proto3 enums are
  // open); validation must not.
  absl::StatusOr<int> width = ValidateModelSpec(ModelFromJson(
      R"({"input_dim": 2, "layers": [{"activation": {"kind": 99}}]})"));
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("layers[0].activation.kind has unknown value 99"));
}

TEST(ValidateModelSpecTest, UnknownEnumValuesAreRejected) {
  // Binary protos (e.g. from a newer client) can carry enum numbers the JSON
  // parser would refuse by name.
  v1::ModelSpec spec = ModelFromJson(
      R"({"input_dim": 2, "layers": [{"dense": {"units": 2}}, {"activation": {"kind": "RELU"}}]})");
  spec.mutable_layers(0)->mutable_dense()->set_init(static_cast<v1::Initializer>(42));
  absl::StatusOr<int> width = ValidateModelSpec(spec);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("layers[0].dense.init has unknown value 42"));

  spec.mutable_layers(0)->mutable_dense()->set_init(v1::XAVIER_NORMAL);
  spec.mutable_layers(1)->mutable_activation()->set_kind(static_cast<v1::ActivationKind>(99));
  width = ValidateModelSpec(spec);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("layers[1].activation.kind has unknown value 99"));
}

// Wraps `inner` in `depth` residual blocks.
v1::ModelSpec NestedResiduals(int depth) {
  v1::ModelSpec spec;
  spec.set_input_dim(4);
  v1::LayerSpec* layer = spec.add_layers();
  for (int i = 0; i < depth; ++i) {
    layer = layer->mutable_residual()->add_layers();
  }
  layer->mutable_activation()->set_kind(v1::TANH);
  return spec;
}

TEST(ValidateModelSpecTest, NestingDepthIsLimited) {
  // 32: see LayerWalker::kMaxNesting (reachable over the wire).
  static_assert(LayerWalker::kMaxNesting == 32);
  EXPECT_TRUE(ValidateModelSpec(NestedResiduals(32)).ok());
  absl::StatusOr<int> width = ValidateModelSpec(NestedResiduals(33));
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("residual is nested too deeply: at most 32"));
  EXPECT_THAT(std::string(width.status().message()),
              ::testing::StartsWith("layers[0].residual.layers[0].residual"));
}

TEST(ValidateModelSpecTest, LayerCountIsLimitedCountingNestedLayers) {
  ModelLimits limits;
  limits.max_layers = 4;
  // 4 layers: exactly at the limit.
  const v1::ModelSpec at_limit = ModelFromJson(
      R"({"input_dim": 2, "layers": [{"dense": {"units": 2}}, {"residual": {"layers": [
          {"dense": {"units": 2}}, {"activation": {"kind": "TANH"}}]}}]})");
  EXPECT_TRUE(ValidateModelSpec(at_limit, limits).ok());

  const v1::ModelSpec over = ModelFromJson(
      R"({"input_dim": 2, "layers": [{"dense": {"units": 2}}, {"residual": {"layers": [
          {"dense": {"units": 2}}, {"activation": {"kind": "TANH"}},
          {"dense": {"units": 2}}]}}]})");
  absl::StatusOr<int> width = ValidateModelSpec(over, limits);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("layers[1].residual.layers[2] is one layer too many: a "
                        "model may have at most 4 layers"));
}

TEST(ValidateModelSpecTest, ParameterCountIsLimited) {
  // 10*10 + 10 = 110 parameters.
  const v1::ModelSpec spec =
      ModelFromJson(R"({"input_dim": 10, "layers": [{"dense": {"units": 10}}]})");
  ModelLimits limits;
  limits.max_params = 110;
  EXPECT_TRUE(ValidateModelSpec(spec, limits).ok());
  limits.max_params = 100;
  absl::StatusOr<int> width = ValidateModelSpec(spec, limits);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(width.status().message(),
            "model has 110 parameters, more than the limit 100");
}

TEST(ValidateModelSpecTest, ParameterCountOverflowIsReportedNotWrapped) {
  // Ten 2^30 x 2^30 layers: 10 * 2^60 scalars overflow int64.
  v1::ModelSpec spec;
  spec.set_input_dim(1 << 30);
  for (int i = 0; i < 10; ++i) spec.add_layers()->mutable_dense()->set_units(1 << 30);
  ModelLimits limits;
  limits.max_width = INT_MAX;
  absl::StatusOr<int> width = ValidateModelSpec(spec, limits);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("model has more than 2^63 parameters"));
  EXPECT_GT(CountParams(spec), 0);  // saturated, not wrapped negative
}

TEST(ValidateModelSpecTest, WidthLimitIsInclusive) {
  ModelLimits limits;
  limits.max_width = 8;
  EXPECT_TRUE(ValidateModelSpec(
      ModelFromJson(R"({"input_dim": 8, "layers": [{"dense": {"units": 8}}]})"), limits).ok());
  absl::StatusOr<int> width = ValidateModelSpec(
      ModelFromJson(R"({"input_dim": 8, "layers": [{"dense": {"units": 9}}]})"), limits);
  ASSERT_FALSE(width.ok());
  EXPECT_EQ(width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(width.status().message()),
              HasSubstr("layers[0].dense.units must be <= 8, got 9"));
}

TEST(ValidateModelSpecTest, EveryLayerKindPassesAndWidthIsTracked) {
  const v1::ModelSpec spec = ModelFromJson(R"({
    "input_dim": 4,
    "layers": [
      {"dense": {"units": 16, "init": "KAIMING_UNIFORM"}},
      {"batch_norm": {"momentum": 0.1, "epsilon": 1e-5}},
      {"activation": {"kind": "RELU"}},
      {"dropout": {"rate": 0.2}},
      {"residual": {"scale": 0.5, "layers": [
        {"dense": {"units": 16}},
        {"layer_norm": {"epsilon": 1e-6}},
        {"activation": {"kind": "LEAKY_RELU", "alpha": 0.2}},
        {"dense": {"units": 16, "init": "ZEROS"}}]}},
      {"activation": {"kind": "SIGMOID"}},
      {"activation": {"kind": "TANH"}},
      {"activation": {"kind": "IDENTITY"}},
      {"dense": {"units": 3}}
    ]})");
  absl::StatusOr<int> width = ValidateModelSpec(spec);
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 3);
  // dense 4*16+16=80, batch norm 2*16=32, residual (16*16+16) + 2*16 +
  // (16*16+16) = 576, dense 16*3+3 = 51.
  EXPECT_EQ(CountParams(spec), 80 + 32 + 576 + 51);
}

TEST(ValidateModelSpecTest, CamelCaseJsonNamesAreAccepted) {
  const v1::ModelSpec spec = ModelFromJson(
      R"({"inputDim": 2, "layers": [{"dense": {"units": 8, "noBias": true}},
          {"batchNorm": {}}, {"activation": {"kind": "TANH"}}, {"dense": {"units": 1}}]})");
  absl::StatusOr<int> width = ValidateModelSpec(spec);
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 1);
  EXPECT_EQ(CountParams(spec), 2 * 8 + 2 * 8 + 8 * 1 + 1);
}

TEST(ValidateModelSpecTest, OutputWidthIsThatOfTheLastDense) {
  absl::StatusOr<int> width = ValidateModelSpec(ModelFromJson(
      R"({"input_dim": 7, "layers": [{"dense": {"units": 5}}, {"activation": {"kind": "RELU"}},
          {"dropout": {"rate": 0}}]})"));
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 5);
  // No dense at all: the width is the input's.
  width = ValidateModelSpec(ModelFromJson(
      R"({"input_dim": 7, "layers": [{"layer_norm": {}}]})"));
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 7);
}

TEST(ValidateModelSpecTest, BoundaryValuesPass) {
  const v1::ModelSpec spec = ModelFromJson(R"({
    "input_dim": 3,
    "layers": [
      {"batch_norm": {"momentum": 0}}, {"batch_norm": {"momentum": 1}},
      {"activation": {"kind": "LEAKY_RELU", "alpha": 0}},
      {"residual": {"scale": 0, "layers": [{"activation": {"kind": "TANH"}}]}},
      {"residual": {"scale": -0.5, "layers": [{"dense": {"units": 3}}]}}
    ]})");
  absl::StatusOr<int> width = ValidateModelSpec(spec);
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 3);
}

TEST(ValidateModelSpecTest, NestedResidualPasses) {
  const v1::ModelSpec spec = ModelFromJson(R"({
    "input_dim": 6,
    "layers": [
      {"dense": {"units": 10}},
      {"residual": {"layers": [
        {"dense": {"units": 20}}, {"activation": {"kind": "RELU"}},
        {"residual": {"layers": [{"dense": {"units": 20}}, {"activation": {"kind": "TANH"}}]}},
        {"dense": {"units": 10}}]}},
      {"dense": {"units": 2}}
    ]})");
  absl::StatusOr<int> width = ValidateModelSpec(spec);
  ASSERT_TRUE(width.ok()) << width.status();
  EXPECT_EQ(*width, 2);
  // 6*10+10 + (10*20+20 + 20*20+20 + 20*10+10) + 10*2+2
  EXPECT_EQ(CountParams(spec), 70 + 220 + 420 + 210 + 22);
}

TEST(CountParamsTest, PerceptronAndNoBias) {
  EXPECT_EQ(CountParams(ModelFromJson(
                R"({"input_dim": 2, "layers": [{"dense": {"units": 1}}]})")),
            3);
  EXPECT_EQ(CountParams(ModelFromJson(
                R"({"input_dim": 3, "layers": [{"dense": {"units": 4, "no_bias": true}}]})")),
            12);
}

// ------------------------------------------------------------- JSON parsing

TEST(SpecJsonTest, TypoInFieldNameIsRejected) {
  absl::StatusOr<v1::ModelSpec> spec =
      ParseModelSpecJson(R"({"input_dim": 2, "layers": [{"dense": {"unit": 3}}]})");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("unit"));

  absl::StatusOr<v1::TrainingConfig> config = ParseTrainingConfigJson(
      R"({"optimizer": {"sgd": {}, "learning_rte": 0.1}})");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("learning_rte"));
}

TEST(SpecJsonTest, UnknownEnumNameAndBadSyntaxAreRejected) {
  absl::StatusOr<v1::ModelSpec> spec = ParseModelSpecJson(
      R"({"input_dim": 2, "layers": [{"activation": {"kind": "TANHH"}}]})");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("TANHH"));

  spec = ParseModelSpecJson(R"({"input_dim": 2, "layers": [)");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              HasSubstr("model: malformed JSON: unexpected end of text, expected a value "
                        "(line 1, column 29)"));
}

}  // namespace
}  // namespace trainyard
