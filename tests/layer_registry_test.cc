// The layer registry: one entry per LayerSpec kind, and the registry's
// validate, count and make agreeing with each other on the layers they build.
#include "core/layer_registry.h"

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/layers/dense.h"
#include "core/layers/sequential.h"
#include "core/model.h"
#include "core/rng.h"
#include "core/validate.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;
using testing::FromJson;

// A proto kind added without its registry line fails here, not in production.
TEST(LayerRegistryTest, EveryLayerSpecKindHasExactlyOneEntry) {
  const google::protobuf::OneofDescriptor* oneof =
      v1::LayerSpec::descriptor()->FindOneofByName("kind");
  ASSERT_NE(oneof, nullptr);
  std::set<int> proto_kinds;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = oneof->field(i);
    proto_kinds.insert(field->number());
    int entries = 0;
    for (const LayerKind* kind : AllLayerKinds()) {
      if (kind->kind_case == field->number()) {
        ++entries;
        EXPECT_EQ(std::string(kind->name), field->name());
      }
    }
    EXPECT_EQ(entries, 1) << field->name();
    const LayerKind* found =
        FindLayerKind(static_cast<v1::LayerSpec::KindCase>(field->number()));
    ASSERT_NE(found, nullptr) << field->name();
    EXPECT_EQ(std::string(found->name), field->name());
    EXPECT_NE(found->validate, nullptr);
    EXPECT_NE(found->num_params, nullptr);
    EXPECT_NE(found->num_state, nullptr);
    EXPECT_NE(found->make, nullptr);
  }
  // And no entry for a kind the proto does not have.
  EXPECT_EQ(AllLayerKinds().size(), proto_kinds.size());
  EXPECT_EQ(FindLayerKind(v1::LayerSpec::KIND_NOT_SET), nullptr);
}

TEST(LayerRegistryTest, KindNotSetListsEveryRegisteredKind) {
  v1::ModelSpec spec;
  spec.set_input_dim(2);
  spec.add_layers();
  absl::StatusOr<int> out = ValidateModelSpec(spec);
  ASSERT_FALSE(out.ok());
  for (const LayerKind* kind : AllLayerKinds()) {
    EXPECT_THAT(std::string(out.status().message()), HasSubstr(kind->name));
  }
}

// ------------------------------------------ validate, count and make agree

// Random small layer lists that keep batch norm on flat inputs. Every kind
// appears in some spec (checked by the test).
class SpecGenerator {
 public:
  explicit SpecGenerator(uint64_t seed) : rng_(seed) {}

  std::set<int> kinds_used;

  // Appends layers to `list` taking `width` values (an image when `image`);
  // returns the output width and sets *image to whether the output is still
  // the image. `keep_shape` (a residual body on an image) rules out dense.
  int Fill(google::protobuf::RepeatedPtrField<v1::LayerSpec>* list, int width, bool* image,
           bool keep_shape, int depth) {
    const int n = 1 + static_cast<int>(rng_.Below(4));
    for (int i = 0; i < n; ++i) {
      v1::LayerSpec* layer = list->Add();
      uint64_t pick = rng_.Below(depth < 2 ? 6 : 5);
      if (pick == 0 && keep_shape) pick = 1;
      switch (pick) {
        case 0:
          layer->mutable_dense()->set_units(1 + static_cast<int>(rng_.Below(6)));
          layer->mutable_dense()->set_no_bias(rng_.Below(2) == 0);
          width = layer->dense().units();
          *image = false;
          break;
        case 1:
          layer->mutable_activation()->set_kind(
              static_cast<v1::ActivationKind>(1 + rng_.Below(5)));
          break;
        case 2:
          if (*image) {
            layer->mutable_layer_norm();  // batch norm refuses images
          } else {
            layer->mutable_batch_norm();
          }
          break;
        case 3:
          layer->mutable_layer_norm();
          break;
        case 4:
          layer->mutable_dropout()->set_rate(0.25f);
          break;
        case 5: {
          v1::ResidualBlock* block = layer->mutable_residual();
          bool inner_image = *image;
          const int inner =
              Fill(block->mutable_layers(), width, &inner_image, *image, depth + 1);
          // A flat body that changed the width is mapped back to it.
          if (inner != width) block->add_layers()->mutable_dense()->set_units(width);
          break;
        }
      }
      kinds_used.insert(layer->kind_case());
    }
    return width;
  }

 private:
  Rng rng_;
};

TEST(LayerRegistryTest, CountsAgreeWithTheBuiltModel) {
  SpecGenerator gen(42);
  for (int trial = 0; trial < 200; ++trial) {
    v1::ModelSpec spec;
    const bool image = trial % 2 == 1;
    int width = 5;
    if (image) {
      spec.mutable_input_shape()->set_channels(2);
      spec.mutable_input_shape()->set_height(3);
      spec.mutable_input_shape()->set_width(2);
      width = 12;
    } else {
      spec.set_input_dim(width);
    }
    bool is_image = image;
    gen.Fill(spec.mutable_layers(), width, &is_image, /*keep_shape=*/false, 0);
    absl::StatusOr<ModelShape> shape = AnalyzeModel(spec);
    ASSERT_TRUE(shape.ok()) << shape.status() << "\n" << spec.DebugString();
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(spec);
    ASSERT_TRUE(model.ok()) << model.status() << "\n" << spec.DebugString();
    EXPECT_EQ((*model)->num_params(), shape->num_params) << spec.DebugString();
    EXPECT_EQ((*model)->num_state(), shape->num_state) << spec.DebugString();
    EXPECT_EQ((*model)->input_shape(), shape->input) << spec.DebugString();
    EXPECT_EQ((*model)->output_shape(), shape->output) << spec.DebugString();
    EXPECT_EQ((*model)->output_dim(), *ValidateModelSpec(spec));
    EXPECT_EQ(CountParams(spec), shape->num_params);
  }
  for (const LayerKind* kind : AllLayerKinds()) {
    EXPECT_TRUE(gen.kinds_used.count(kind->kind_case)) << kind->name << " never generated";
  }
}

// The default initialiser looks past the kinds flagged transparent_for_init
// to the activation, and stops at anything else.
TEST(LayerRegistryTest, DefaultInitialiserLooksPastTransparentKinds) {
  const v1::ModelSpec spec = FromJson<v1::ModelSpec>(R"({"inputDim": 3, "layers": [
      {"dense": {"units": 4}}, {"batchNorm": {}}, {"dropout": {"rate": 0.1}},
      {"layerNorm": {}}, {"activation": {"kind": "RELU"}},
      {"dense": {"units": 4}}, {"residual": {"layers": [{"activation": {"kind": "RELU"}}]}},
      {"dense": {"units": 4}}, {"activation": {"kind": "TANH"}},
      {"dense": {"units": 2}}]})");
  absl::StatusOr<std::unique_ptr<Sequential>> net = MakeSequential(spec.layers(), 3);
  ASSERT_TRUE(net.ok()) << net.status();
  auto init = [&](size_t i) {
    return dynamic_cast<const DenseLayer&>((*net)->layer(i)).initializer();
  };
  EXPECT_EQ(init(0), v1::KAIMING_NORMAL);  // past batch norm, dropout, layer norm
  EXPECT_EQ(init(5), v1::XAVIER_NORMAL);   // a residual block ends the search
  EXPECT_EQ(init(7), v1::XAVIER_NORMAL);   // tanh
  EXPECT_EQ(init(9), v1::XAVIER_NORMAL);   // nothing follows
}

// Three dense layers of 2^31 - 1 units over an input as wide: about 2^62
// parameters each, 3 x 2^62 in all, past int64. The walker's count saturates
// and the limit check says so; a count that wrapped would go negative and
// pass the limit.
TEST(LayerRegistryTest, WalkerSaturatesInsteadOfWrapping) {
  EXPECT_EQ(SaturatingAdd(kSaturatedCount, 1), kSaturatedCount);
  EXPECT_EQ(SaturatingMul(int64_t{1} << 40, int64_t{1} << 40), kSaturatedCount);
  EXPECT_EQ(SaturatingMul(3, 4), 12);

  constexpr int kWide = std::numeric_limits<int32_t>::max();
  v1::ModelSpec spec;
  spec.set_input_dim(kWide);
  for (int i = 0; i < 3; ++i) spec.add_layers()->mutable_dense()->set_units(kWide);
  ModelLimits limits;
  limits.max_width = kWide;
  absl::StatusOr<ModelShape> shape = AnalyzeModel(spec, limits);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shape.status().message(),
            absl::StrCat("model has more than 2^63 parameters, more than the limit ",
                         limits.max_params));
  EXPECT_EQ(CountParams(spec), kSaturatedCount);

  // Two such layers fit in int64 (about 2^63 - 2^33): counted exactly.
  spec.mutable_layers()->RemoveLast();
  const int64_t two = 2 * (int64_t{kWide} * kWide + kWide);
  EXPECT_EQ(CountParams(spec), two);
  EXPECT_EQ(AnalyzeModel(spec, limits).status().message(),
            absl::StrCat("model has ", two, " parameters, more than the limit ",
                         limits.max_params));
}

}  // namespace
}  // namespace trainyard
