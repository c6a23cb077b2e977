// Losses in double precision: analytic gradients against central finite
// differences, hand-computed values, numerical stability at extreme logits,
// the perceptron-rule equivalence, accuracy counting and spec validation.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/loss.h"
#include "core/optimizer.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

static_assert(std::is_same_v<Scalar, double>, "gradient checks need the f64 core");

std::unique_ptr<Loss> MakeLoss(v1::LossKind kind, float huber_delta = 0) {
  v1::LossSpec spec;
  spec.set_kind(kind);
  if (huber_delta > 0) spec.set_huber_delta(huber_delta);
  absl::StatusOr<std::unique_ptr<Loss>> loss = Loss::Create(spec);
  EXPECT_TRUE(loss.ok()) << loss.status();
  return std::move(*loss);
}

Matrix FromRows(std::initializer_list<std::initializer_list<double>> rows) {
  Matrix m(static_cast<Eigen::Index>(rows.size()),
           static_cast<Eigen::Index>(rows.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& row : rows) {
    Eigen::Index j = 0;
    for (double v : row) m(i, j++) = v;
    ++i;
  }
  return m;
}

// Deterministic, irregular outputs of shape (k, b) in (-scale, scale).
Matrix Outputs(int k, int b, double scale) {
  Matrix m(k, b);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < b; ++j) m(i, j) = scale * std::sin(1.7 * i + 0.9 * j + 0.3);
  }
  return m;
}

// Central differences: (L(o + h e_ij) - L(o - h e_ij)) / 2h against grad(i, j).
//
// Tolerance: with h = 1e-6 the truncation error is h^2/6 |L'''| ~ 1e-13 for
// these smooth pieces and the rounding error is ~ eps |L| / h ~ 1e-16 * 10 /
// 1e-6 = 1e-9, so 1e-7 absolute (+1e-6 relative) holds comfortably, while
// gradient entries are of order 1/(K B) ~ 0.05: any real mistake (a missing
// 1/B, a wrong sign, softmax off by one column) is off by > 1e-3.
void ExpectGradMatchesFiniteDifferences(const Loss& loss, const Matrix& outputs,
                                        const Matrix& targets) {
  Matrix grad;
  const double value = loss.Compute(outputs, targets, &grad);
  ASSERT_TRUE(std::isfinite(value));
  ASSERT_EQ(grad.rows(), outputs.rows());
  ASSERT_EQ(grad.cols(), outputs.cols());
  // The value without a gradient is the same number.
  EXPECT_NEAR(loss.Compute(outputs, targets, nullptr), value, 1e-14 * std::abs(value));
  const double h = 1e-6;
  for (Eigen::Index i = 0; i < outputs.rows(); ++i) {
    for (Eigen::Index j = 0; j < outputs.cols(); ++j) {
      Matrix plus = outputs, minus = outputs;
      plus(i, j) += h;
      minus(i, j) -= h;
      const double numeric = (loss.Compute(plus, targets, nullptr) -
                              loss.Compute(minus, targets, nullptr)) / (2 * h);
      EXPECT_NEAR(grad(i, j), numeric, 1e-7 + 1e-6 * std::abs(numeric))
          << "element (" << i << ", " << j << ")";
    }
  }
}

// ---- finite differences -------------------------------------------------------

TEST(LossGradCheck, Mse) {
  const Matrix out = Outputs(4, 5, 2.0);
  const Matrix t = Outputs(5, 5, 1.5).topRows(4).reverse();
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::MSE), out, t);
}

TEST(LossGradCheck, SoftmaxCrossEntropy) {
  const Matrix out = Outputs(4, 6, 3.0);
  Matrix labels(1, 6);
  for (int j = 0; j < 6; ++j) labels(0, j) = (j * 3) % 4;
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::SOFTMAX_CROSS_ENTROPY), out, labels);
}

TEST(LossGradCheck, SoftmaxCrossEntropyLargeLogits) {
  // exp(1000) overflows a double; log-sum-exp must not.
  const Matrix out = FromRows({{1000, -1000, 3}, {999, 1000, -1000}, {0, 998, -999}});
  const Matrix labels = FromRows({{1, 2, 0}});
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::SOFTMAX_CROSS_ENTROPY), out, labels);
}

TEST(LossGradCheck, BceWithLogits) {
  const Matrix out = Outputs(3, 5, 4.0);
  Matrix t(3, 5);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 5; ++j) t(i, j) = (i + 2 * j) % 3 == 0 ? 1 : 0;
  }
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::BCE_WITH_LOGITS), out, t);
}

TEST(LossGradCheck, HuberBothSidesOfDelta) {
  for (float delta : {1.0f, 0.5f}) {
    SCOPED_TRACE(delta);
    const Matrix t = Matrix::Zero(2, 4);
    // |d| < delta and |d| > delta, both signs, none within 1e-3 of the kink.
    const Matrix out = FromRows({{0.3, -0.2, 2.5, -1.7}, {0.45, -3.0, 0.7, -0.9}});
    for (Eigen::Index k = 0; k < out.size(); ++k) {
      ASSERT_GT(std::abs(std::abs(out(k)) - delta), 1e-3);
    }
    ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::HUBER, delta), out, t);
  }
}

TEST(LossGradCheck, PerceptronAwayFromZero) {
  const Matrix out = FromRows({{0.8, -1.3, 2.2, -0.4, 0.05}});
  const Matrix y = FromRows({{1, 1, -1, -1, -1}});  // right, wrong, wrong, right, wrong
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::PERCEPTRON), out, y);
}

TEST(LossGradCheck, HingeAwayFromTheMargin) {
  const Matrix out = FromRows({{0.8, -1.3, 2.2, -0.4, 1.5, -3.0}});
  const Matrix y = FromRows({{1, 1, -1, -1, 1, -1}});
  for (Eigen::Index j = 0; j < out.cols(); ++j) ASSERT_GT(std::abs(y(j) * out(j) - 1), 1e-3);
  ExpectGradMatchesFiniteDifferences(*MakeLoss(v1::HINGE), out, y);
}

// ---- hand-computed values ------------------------------------------------------

TEST(LossValues, CrossEntropyOfEqualLogitsIsLogK) {
  auto ce = MakeLoss(v1::SOFTMAX_CROSS_ENTROPY);
  Matrix grad;
  EXPECT_NEAR(ce->Compute(FromRows({{0}, {0}}), FromRows({{0}}), &grad), std::log(2.0), 1e-15);
  EXPECT_NEAR(grad(0, 0), -0.5, 1e-15);  // softmax 0.5 - onehot 1
  EXPECT_NEAR(grad(1, 0), 0.5, 1e-15);
  // Batch of two: the mean, and the gradient divided by B = 2.
  EXPECT_NEAR(ce->Compute(FromRows({{0, 0}, {0, 0}, {0, 0}}), FromRows({{2, 1}}), &grad),
              std::log(3.0), 1e-15);
  EXPECT_NEAR(grad(2, 0), (1.0 / 3 - 1) / 2, 1e-15);
  EXPECT_NEAR(grad(0, 0), (1.0 / 3) / 2, 1e-15);
}

TEST(LossValues, CrossEntropyStaysExactAtHugeLogits) {
  auto ce = MakeLoss(v1::SOFTMAX_CROSS_ENTROPY);
  Matrix grad;
  // [1000, 999, 0], label 1: 1000 + log(1 + e^-1 + e^-1000) - 999.
  const double want = 1 + std::log1p(std::exp(-1.0));
  EXPECT_NEAR(ce->Compute(FromRows({{1000}, {999}, {0}}), FromRows({{1}}), &grad), want, 1e-13);
  EXPECT_TRUE(grad.allFinite());
  EXPECT_NEAR(grad(0, 0), 1 / (1 + std::exp(-1.0)), 1e-15);
  EXPECT_NEAR(grad(1, 0), std::exp(-1.0) / (1 + std::exp(-1.0)) - 1, 1e-15);
  EXPECT_EQ(grad(2, 0), 0.0);  // e^-1000 underflows to exactly 0, not NaN
  // Equal huge logits: still log 2; a confident right answer costs ~0, a
  // confident wrong one exactly the gap.
  EXPECT_NEAR(ce->Compute(FromRows({{1000}, {1000}}), FromRows({{0}}), nullptr),
              std::log(2.0), 1e-15);
  EXPECT_NEAR(ce->Compute(FromRows({{1000}, {-1000}}), FromRows({{0}}), nullptr), 0.0, 1e-15);
  EXPECT_NEAR(ce->Compute(FromRows({{-1000}, {1000}}), FromRows({{0}}), nullptr), 2000.0,
              1e-12);
}

TEST(LossValues, Mse) {
  Matrix grad;
  // Mean over K B = 2 elements: (1 + 4) / 2; grad 2 d / 2.
  EXPECT_DOUBLE_EQ(MakeLoss(v1::MSE)->Compute(FromRows({{1}, {2}}), FromRows({{0}, {0}}), &grad),
                   2.5);
  EXPECT_DOUBLE_EQ(grad(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(grad(1, 0), 2.0);
}

TEST(LossValues, BceWithLogitsIsStable) {
  auto bce = MakeLoss(v1::BCE_WITH_LOGITS);
  Matrix grad;
  EXPECT_NEAR(bce->Compute(FromRows({{0}}), FromRows({{1}}), &grad), std::log(2.0), 1e-15);
  EXPECT_NEAR(grad(0, 0), -0.5, 1e-15);
  // Large scores: softplus must neither overflow nor lose the tiny term.
  EXPECT_NEAR(bce->Compute(FromRows({{800}}), FromRows({{0}}), &grad), 800.0, 1e-12);
  EXPECT_NEAR(grad(0, 0), 1.0, 1e-15);
  EXPECT_NEAR(bce->Compute(FromRows({{-800}}), FromRows({{1}}), &grad), 800.0, 1e-12);
  EXPECT_NEAR(grad(0, 0), -1.0, 1e-15);
  EXPECT_NEAR(bce->Compute(FromRows({{-40}}), FromRows({{0}}), &grad), std::exp(-40.0),
              1e-30);
  EXPECT_GT(grad(0, 0), 0.0);
}

TEST(LossValues, HuberMatchesPyTorchPieces) {
  Matrix grad;
  // delta 1: 0.5 * 0.5^2 = 0.125; 1 * (3 - 0.5) = 2.5; mean over 2.
  EXPECT_DOUBLE_EQ(
      MakeLoss(v1::HUBER)->Compute(FromRows({{0.5, 3}}), FromRows({{0, 0}}), &grad),
      (0.125 + 2.5) / 2);
  EXPECT_DOUBLE_EQ(grad(0, 0), 0.25);
  EXPECT_DOUBLE_EQ(grad(0, 1), 0.5);
  // delta 2: d = -3 -> 2 * (3 - 1) = 4, grad -2.
  EXPECT_DOUBLE_EQ(MakeLoss(v1::HUBER, 2.0f)->Compute(FromRows({{-3}}), FromRows({{0}}), &grad),
                   4.0);
  EXPECT_DOUBLE_EQ(grad(0, 0), -2.0);
}

TEST(LossValues, PerceptronAndHinge) {
  Matrix grad;
  auto perceptron = MakeLoss(v1::PERCEPTRON);
  // max(0, -y s): 2 (wrong) and 0 (right), mean over 2.
  EXPECT_DOUBLE_EQ(perceptron->Compute(FromRows({{-2, 3}}), FromRows({{1, 1}}), &grad), 1.0);
  EXPECT_DOUBLE_EQ(grad(0, 0), -0.5);  // -y / B
  EXPECT_DOUBLE_EQ(grad(0, 1), 0.0);
  auto hinge = MakeLoss(v1::HINGE);
  // max(0, 1 - y s): 0.5, 0, 3.
  EXPECT_DOUBLE_EQ(hinge->Compute(FromRows({{0.5, -1, 2}}), FromRows({{1, -1, -1}}), &grad),
                   3.5 / 3);
  EXPECT_DOUBLE_EQ(grad(0, 0), -1.0 / 3);
  EXPECT_DOUBLE_EQ(grad(0, 1), 0.0);  // exactly on the margin: 0
  EXPECT_DOUBLE_EQ(grad(0, 2), 1.0 / 3);
}

// ---- the perceptron rule ----------------------------------------------------

// One SGD step with rate lr on the perceptron loss of one sample, for the
// linear unit s = w.x, is the lecture's rule w += eta (y - f(x)) x with
// f(x) = sign(w.x) and eta = lr / 2 (see PerceptronLoss in core/loss.cc),
// including the undecided case w.x = 0.
TEST(PerceptronRule, SgdStepIsTheLectureRule) {
  auto loss = MakeLoss(v1::PERCEPTRON);
  v1::OptimizerSpec spec;
  spec.mutable_sgd();
  const double lr = 0.3;
  spec.set_learning_rate(lr);
  struct Case {
    std::vector<double> w, x;
    double y;
  };
  const std::vector<Case> cases = {
      {{0.5, -1.0, 2.0}, {1.0, 2.0, -0.5}, 1},   // s = -2.5: mistake
      {{0.5, -1.0, 2.0}, {1.0, 2.0, -0.5}, -1},  // s = -2.5: right
      {{0.5, -1.0, 2.0}, {-1.0, 0.5, 1.0}, -1},  // s = 1: mistake
      {{0.0, 0.0, 0.0}, {1.0, 2.0, 3.0}, 1},     // s = 0: zero initialisation
      {{1.0, 1.0, 0.0}, {1.0, -1.0, 4.0}, -1},   // s = 0
  };
  for (const Case& c : cases) {
    Eigen::Map<const Vector> x(c.x.data(), 3);
    Vector w = Eigen::Map<const Vector>(c.w.data(), 3);
    const double s = w.dot(x);
    const double f = (s > 0) - (s < 0);
    const Vector want = w + (lr / 2) * (c.y - f) * x;

    Matrix grad_s;
    loss->Compute(FromRows({{s}}), FromRows({{c.y}}), &grad_s);
    const Vector grad_w = grad_s(0, 0) * x;  // ds/dw = x
    auto opt = *Optimizer::Create(spec, 3);
    opt->Step(w.data(), grad_w.data(), opt->base_learning_rate());
    for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(w(i), want(i)) << "s = " << s << ", i = " << i;
  }
}

// ---- accuracy ---------------------------------------------------------------------

TEST(LossCountCorrect, EachTargetKind) {
  auto ce = MakeLoss(v1::SOFTMAX_CROSS_ENTROPY);
  EXPECT_EQ(ce->target_kind(), TargetKind::kClassIndex);
  // argmax per column: 1, 0, 2 (ties go to the first); labels 1, 2, 2.
  EXPECT_EQ(ce->CountCorrect(FromRows({{0, 5, 1}, {3, 5, 1}, {1, 1, 2}}), FromRows({{1, 1, 2}})),
            2);

  auto bce = MakeLoss(v1::BCE_WITH_LOGITS);
  EXPECT_EQ(bce->target_kind(), TargetKind::kBinary);
  // Columns: both right; first right second wrong; 0 counts as negative.
  EXPECT_EQ(bce->CountCorrect(FromRows({{2, 2, 0}, {-1, 1, -3}}), FromRows({{1, 1, 0}, {0, 0, 0}})),
            2);

  for (v1::LossKind kind : {v1::PERCEPTRON, v1::HINGE}) {
    auto l = MakeLoss(kind);
    EXPECT_EQ(l->target_kind(), TargetKind::kSign);
    // sign(s) == y; s == 0 is a mistake for either label.
    EXPECT_EQ(l->CountCorrect(FromRows({{0.5, -2, 0, 0, 3}}), FromRows({{1, -1, 1, -1, -1}})), 2);
  }
  EXPECT_EQ(MakeLoss(v1::MSE)->target_kind(), TargetKind::kRegression);
  EXPECT_EQ(MakeLoss(v1::HUBER)->target_kind(), TargetKind::kRegression);
}

// ---- bad input ------------------------------------------------------------------

TEST(LossCreate, RejectsBadSpecsByField) {
  v1::LossSpec spec;
  absl::StatusOr<std::unique_ptr<Loss>> loss = Loss::Create(spec);
  ASSERT_FALSE(loss.ok());
  EXPECT_EQ(loss.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loss.status().message().find("loss.kind"), 0u) << loss.status();

  spec.set_kind(v1::HUBER);
  for (float delta : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity()}) {
    spec.set_huber_delta(delta);
    loss = Loss::Create(spec);
    ASSERT_FALSE(loss.ok());
    EXPECT_EQ(loss.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(loss.status().message().find("loss.huber_delta"), 0u) << loss.status();
  }
}

TEST(LossCompute, BadTargetsGiveNaNNotACrash) {
  auto ce = MakeLoss(v1::SOFTMAX_CROSS_ENTROPY);
  Matrix grad;
  const Matrix out = Outputs(3, 2, 1.0);
  EXPECT_TRUE(std::isnan(ce->Compute(out, FromRows({{0, 3}}), &grad)));    // out of range
  EXPECT_TRUE(std::isnan(ce->Compute(out, FromRows({{0, -1}}), &grad)));
  EXPECT_TRUE(std::isnan(ce->Compute(out, FromRows({{0.5, 1}}), &grad)));  // not an integer
  EXPECT_TRUE(std::isnan(ce->Compute(out, FromRows({{0, 1, 2}}), &grad)));  // wrong batch
  EXPECT_TRUE(std::isnan(MakeLoss(v1::MSE)->Compute(out, Outputs(2, 2, 1.0), &grad)));
  EXPECT_TRUE(std::isnan(MakeLoss(v1::HINGE)->Compute(out, FromRows({{1, -1}}), &grad)));
}

TEST(LossCompute, ReusesTheGradientBuffer) {
  // Same shape, same storage: no allocation per training step.
  for (v1::LossKind kind : {v1::MSE, v1::SOFTMAX_CROSS_ENTROPY, v1::BCE_WITH_LOGITS, v1::HUBER}) {
    auto loss = MakeLoss(kind);
    const Matrix out = Outputs(3, 4, 1.0);
    const Matrix t = kind == v1::SOFTMAX_CROSS_ENTROPY ? FromRows({{0, 1, 2, 1}})
                                                       : Matrix(Outputs(3, 4, 0.5).cwiseAbs());
    Matrix grad;
    loss->Compute(out, t, &grad);
    const double* data = grad.data();
    loss->Compute(out * 2, t, &grad);
    EXPECT_EQ(grad.data(), data);
  }
}

}  // namespace
}  // namespace trainyard
