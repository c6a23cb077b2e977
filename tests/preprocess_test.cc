// Preprocessor fitting (values by hand), application to batches, checkpoint
// round trip; train/validation splits and column gathering.
#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "core/data/split.h"
#include "core/dataset.h"
#include "core/preprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

// Two features, four samples; sample 3 is an outlier kept out of the split.
//   feature 0: 0, 2, 4, 100
//   feature 1: 7, 7, 7, -50
Dataset Tiny(v1::Preprocessing kind) {
  Matrix x(2, 4);
  x << 0, 2, 4, 100,
       7, 7, 7, -50;
  Matrix y(1, 4);
  y << 0, 1, 0, 1;
  return Dataset(x, y, true, kind);
}

const std::vector<int64_t> kTrain = {0, 1, 2};

TEST(PreprocessTest, Scale01UsesGlobalMinMaxOfTheSplit) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::SCALE_01), kTrain);
  EXPECT_EQ(p.kind, v1::SCALE_01);
  // Over samples 0-2 all features: min 0, max 7 (the outlier is not seen).
  ASSERT_EQ(p.offset.size(), 2);
  EXPECT_EQ(p.offset[0], 0);
  EXPECT_EQ(p.offset[1], 0);
  EXPECT_FLOAT_EQ(p.scale[0], 1.0f / 7);
  EXPECT_FLOAT_EQ(p.scale[1], 1.0f / 7);
  Matrix batch(2, 2);
  batch << 4, 100,
           7, -50;
  p.Apply(batch);
  EXPECT_FLOAT_EQ(batch(0, 0), 4.0f / 7);
  EXPECT_FLOAT_EQ(batch(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(batch(0, 1), 100.0f / 7);  // outside [0, 1]: not clipped
  EXPECT_FLOAT_EQ(batch(1, 1), -50.0f / 7);
}

TEST(PreprocessTest, Scale01ConstantDataGetsScaleOne) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::SCALE_01), std::vector<int64_t>{1});
  // Sample 1 alone: values 2 and 7, min 2, max 7.
  EXPECT_EQ(p.offset[1], 2);
  EXPECT_FLOAT_EQ(p.scale[1], 0.2f);
  Matrix x(1, 2);
  x << 3, 3;
  const Preprocessor q = FitPreprocessor(Dataset(x, Matrix::Zero(1, 2), true, v1::SCALE_01),
                                         std::vector<int64_t>{0, 1});
  EXPECT_EQ(q.offset[0], 3);
  EXPECT_EQ(q.scale[0], 1);
}

TEST(PreprocessTest, StandardizePerFeaturePopulationStd) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::STANDARDIZE), kTrain);
  EXPECT_EQ(p.kind, v1::STANDARDIZE);
  // Feature 0 over {0, 2, 4}: mean 2, population variance 8/3.
  EXPECT_FLOAT_EQ(p.offset[0], 2.0f);
  EXPECT_FLOAT_EQ(p.scale[0], static_cast<float>(1.0 / std::sqrt(8.0 / 3.0)));
  // Feature 1 is constant 7 on the split: centred only.
  EXPECT_FLOAT_EQ(p.offset[1], 7.0f);
  EXPECT_EQ(p.scale[1], 1.0f);
  Matrix batch(2, 3);
  batch << 0, 2, 4,
           7, 8, 6;
  p.Apply(batch);
  const float s = static_cast<float>(std::sqrt(3.0 / 8.0));
  EXPECT_FLOAT_EQ(batch(0, 0), -2 * s);
  EXPECT_FLOAT_EQ(batch(0, 1), 0);
  EXPECT_FLOAT_EQ(batch(0, 2), 2 * s);
  EXPECT_FLOAT_EQ(batch(1, 1), 1);
  EXPECT_FLOAT_EQ(batch(1, 2), -1);
}

TEST(PreprocessTest, StandardizeIsAccurateWithALargeMean) {
  // A one-pass sum of squares in float would lose these small deviations.
  Matrix x(1, 4);
  x << 1e6f + 1, 1e6f - 1, 1e6f + 1, 1e6f - 1;
  const Preprocessor p = FitPreprocessor(Dataset(x, Matrix::Zero(1, 4), true, v1::STANDARDIZE),
                                         std::vector<int64_t>{0, 1, 2, 3});
  EXPECT_FLOAT_EQ(p.offset[0], 1e6f);
  EXPECT_FLOAT_EQ(p.scale[0], 1.0f);  // std exactly 1
}

TEST(PreprocessTest, NoneIsANoOp) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::PREPROCESSING_NONE), kTrain);
  EXPECT_EQ(p.offset.size(), 0);
  Matrix batch = Matrix::Constant(2, 3, 5);
  p.Apply(batch);
  EXPECT_EQ(batch, Matrix::Constant(2, 3, 5));
}

TEST(PreprocessTest, AppliesToABlockInPlace) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::STANDARDIZE), kTrain);
  Matrix m = Matrix::Constant(2, 4, 2);
  p.Apply(m.leftCols(2));
  EXPECT_FLOAT_EQ(m(0, 0), 0);   // (2 - 2) * s
  EXPECT_FLOAT_EQ(m(1, 1), -5);  // (2 - 7) * 1
  EXPECT_EQ(m(0, 3), 2);         // untouched
}

TEST(PreprocessTest, ProtoRoundTrip) {
  const Preprocessor p = FitPreprocessor(Tiny(v1::STANDARDIZE), kTrain);
  const v1::PreprocessorState state = PreprocessorToProto(p);
  EXPECT_EQ(state.kind(), v1::STANDARDIZE);
  ASSERT_EQ(state.offset_size(), 2);
  auto back = PreprocessorFromProto(state, 2);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, p.kind);
  EXPECT_EQ(back->offset, p.offset);
  EXPECT_EQ(back->scale, p.scale);
  back = PreprocessorFromProto(state);  // width taken from the state
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->scale, p.scale);

  auto none = PreprocessorFromProto(PreprocessorToProto(Preprocessor{}), 5);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->kind, v1::PREPROCESSING_NONE);
}

void ExpectBadState(const v1::PreprocessorState& state, int width, const std::string& field) {
  auto p = PreprocessorFromProto(state, width);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(field));
}

TEST(PreprocessTest, BadProtoStates) {
  const v1::PreprocessorState good =
      PreprocessorToProto(FitPreprocessor(Tiny(v1::STANDARDIZE), kTrain));
  ExpectBadState(good, 3, "offset and scale must have 3 values");
  v1::PreprocessorState s = good;
  s.set_scale(1, 0);
  ExpectBadState(s, 2, "preprocessor.scale[1]");
  s = good;
  s.set_offset(0, std::nanf(""));
  ExpectBadState(s, 2, "preprocessor.offset[0]");
  s = good;
  s.add_scale(1);
  ExpectBadState(s, -1, "offset and scale");
  s = good;
  s.set_kind(static_cast<v1::Preprocessing>(42));
  ExpectBadState(s, 2, "preprocessor.kind");
}

TEST(SplitTest, SizesDisjointCoveringSorted) {
  const Split s = SplitIndices(10, 0.25, 7);
  EXPECT_EQ(s.validation.size(), 3u);  // round(2.5)
  EXPECT_EQ(s.train.size(), 7u);
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.validation.begin(), s.validation.end()));
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.validation.begin(), s.validation.end());
  EXPECT_EQ(all.size(), 10u);  // disjoint and covering
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 9);
}

TEST(SplitTest, DeterministicPerSeed) {
  const Split a = SplitIndices(1000, 0.2, 42);
  const Split b = SplitIndices(1000, 0.2, 42);
  const Split c = SplitIndices(1000, 0.2, 43);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_EQ(a.train, b.train);
  EXPECT_NE(a.validation, c.validation);
  EXPECT_EQ(a.validation.size(), 200u);
  // Not just the first or last 200 samples.
  EXPECT_LT(a.validation.front(), 100);
  EXPECT_GT(a.validation.back(), 900);
}

TEST(SplitTest, EdgeSizes) {
  EXPECT_EQ(SplitIndices(10, 0.0, 1).validation.size(), 0u);
  EXPECT_EQ(SplitIndices(10, 0.01, 1).validation.size(), 1u);  // at least one
  EXPECT_EQ(SplitIndices(2, 0.99, 1).validation.size(), 1u);   // train keeps one
  EXPECT_EQ(SplitIndices(1, 0.5, 1).validation.size(), 0u);
  EXPECT_EQ(SplitIndices(1, 0.5, 1).train.size(), 1u);
  EXPECT_TRUE(SplitIndices(0, 0.5, 1).train.empty());
}

TEST(GatherColumnsTest, CopiesColumnsInOrderWithoutReallocating) {
  Matrix src(2, 4);
  src << 0, 1, 2, 3,
         10, 11, 12, 13;
  Matrix dst;
  const std::vector<int64_t> idx = {3, 0, 3};
  GatherColumns(src, idx, dst);
  Matrix expected(2, 3);
  expected << 3, 0, 3,
              13, 10, 13;
  EXPECT_EQ(dst, expected);
  const Scalar* storage = dst.data();
  GatherColumns(src, std::vector<int64_t>{1, 2, 1}, dst);
  EXPECT_EQ(dst.data(), storage);
  EXPECT_EQ(dst(1, 1), 12);
  GatherColumns(src, std::vector<int64_t>{2}, dst);  // a smaller last batch
  EXPECT_EQ(dst.cols(), 1);
  EXPECT_EQ(dst(0, 0), 2);
}

}  // namespace
}  // namespace trainyard
