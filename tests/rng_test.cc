#include "core/rng.h"

#include <cmath>

#include "gtest/gtest.h"

namespace trainyard {
namespace {

TEST(RngTest, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.NextU64();
    EXPECT_EQ(x, b.NextU64());
    EXPECT_NE(x, c.NextU64());
  }
}

TEST(RngTest, StateRoundTripContinuesTheStream) {
  Rng a(7);
  a.NextU64();
  Rng b;
  b.set_state(a.state());
  EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, NormalHasUnitMoments) {
  Rng rng(1);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / n;
  // Standard error of the mean is 1/sqrt(n) ~ 0.0022; 5 sigma.
  EXPECT_NEAR(mean, 0.0, 0.011);
  EXPECT_NEAR(sum_sq / n - mean * mean, 1.0, 0.02);
}

TEST(RngTest, BelowStaysInRangeAndCoversIt) {
  Rng rng(3);
  int counts[5] = {};
  for (int i = 0; i < 5000; ++i) {
    const uint64_t v = rng.Below(5);
    ASSERT_LT(v, 5u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_GT(c, 850);
}

TEST(RngTest, ForkedStreamsDifferAndLeaveParentAlone) {
  Rng parent(9);
  const Rng::State before = parent.state();
  Rng f1 = parent.Fork(1), f2 = parent.Fork(2);
  EXPECT_EQ(parent.state(), before);
  EXPECT_NE(f1.NextU64(), f2.NextU64());
}

}  // namespace
}  // namespace trainyard
