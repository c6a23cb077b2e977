// The lecture's gradient-descent demonstration on J(theta) = theta^2 / 2 with
// the real SGD optimiser. The gradient is theta, so one step is
// theta <- (1 - lr) theta: the learning rate alone decides between monotone
// convergence (0 < lr < 1), one-step convergence (lr = 1), oscillating
// convergence (1 < lr < 2), a stable oscillation (lr = 2) and divergence
// (lr > 2).
#include <cmath>
#include <memory>
#include <vector>

#include "core/optimizer.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

// theta_0 = 1, then `steps` SGD steps with gradient theta; returns theta_0..n.
std::vector<double> Descend(double lr, int steps) {
  v1::OptimizerSpec spec;
  spec.mutable_sgd();
  spec.set_learning_rate(lr);
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(spec, 1);
  EXPECT_TRUE(opt.ok()) << opt.status();
  Scalar theta = 1;
  std::vector<double> path = {theta};
  for (int k = 0; k < steps; ++k) {
    const Scalar grad = theta;  // dJ/dtheta
    (*opt)->Step(&theta, &grad, (*opt)->base_learning_rate());
    path.push_back(theta);
  }
  return path;
}

TEST(LectureGradientDescentTest, SmallRatesShrinkMonotonicallyWithoutChangingSign) {
  for (double lr : {0.05, 0.3, 0.5, 0.9}) {
    SCOPED_TRACE(lr);
    const std::vector<double> path = Descend(lr, 40);
    for (size_t k = 1; k < path.size(); ++k) {
      EXPECT_GT(path[k], 0) << "step " << k;
      EXPECT_LT(path[k], path[k - 1]) << "step " << k;
      EXPECT_NEAR(path[k], (1 - lr) * path[k - 1], 1e-6 * path[k - 1]);
    }
  }
}

TEST(LectureGradientDescentTest, RateOneReachesTheMinimumInOneStep) {
  const std::vector<double> path = Descend(1.0, 3);
  EXPECT_EQ(path[1], 0.0);
  EXPECT_EQ(path[3], 0.0);
}

TEST(LectureGradientDescentTest, RatesBetweenOneAndTwoOscillateAndConverge) {
  for (double lr : {1.2, 1.5, 1.9}) {
    SCOPED_TRACE(lr);
    const std::vector<double> path = Descend(lr, 300);
    for (size_t k = 1; k < path.size() && std::abs(path[k]) > 1e-30; ++k) {
      EXPECT_LT(path[k] * path[k - 1], 0) << "sign must flip at step " << k;
      EXPECT_LT(std::abs(path[k]), std::abs(path[k - 1])) << "step " << k;
    }
    EXPECT_LT(std::abs(path.back()), 1e-12);  // 0.9^300 ~ 2e-14 for the slowest
  }
}

TEST(LectureGradientDescentTest, RateTwoOscillatesForever) {
  const std::vector<double> path = Descend(2.0, 10);
  for (size_t k = 0; k < path.size(); ++k) EXPECT_EQ(path[k], k % 2 == 0 ? 1.0 : -1.0);
}

TEST(LectureGradientDescentTest, RatesAboveTwoDiverge) {
  for (double lr : {2.1, 2.5, 4.0}) {
    SCOPED_TRACE(lr);
    const std::vector<double> path = Descend(lr, 60);
    for (size_t k = 1; k < path.size(); ++k) {
      EXPECT_LT(path[k] * path[k - 1], 0) << "step " << k;
      EXPECT_GT(std::abs(path[k]), std::abs(path[k - 1])) << "step " << k;
    }
    EXPECT_GT(std::abs(path.back()), 100.0);  // 1.1^60 ~ 304 for the slowest
  }
}

}  // namespace
}  // namespace trainyard
