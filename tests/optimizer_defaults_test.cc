// Float-typed hyper-parameters (issue 9, class 11): writing PyTorch's defaults
// out explicitly must train bit-identically to leaving them unset, and a set
// value must be the decimal the user wrote, not the widened float
// (HyperParameter, core/training_defaults.h).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/optimizer.h"
#include "core/training_defaults.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

TEST(HyperParameterTest, IsTheShortestDecimalOfTheFloat) {
  EXPECT_EQ(HyperParameter(0.999f), 0.999);
  EXPECT_NE(static_cast<double>(0.999f), 0.999);  // what widening gave
  EXPECT_EQ(HyperParameter(0.9f), 0.9);
  EXPECT_EQ(HyperParameter(0.99f), 0.99);
  EXPECT_EQ(HyperParameter(1e-8f), 1e-8);
  EXPECT_EQ(HyperParameter(1e-10f), 1e-10);
  EXPECT_EQ(HyperParameter(0.01f), 0.01);
  // Floats whose value is a short decimal already are unchanged.
  EXPECT_EQ(HyperParameter(0.5f), 0.5);
  EXPECT_EQ(HyperParameter(0.0f), 0.0);
  EXPECT_EQ(HyperParameter(3.0f), 3.0);
  EXPECT_TRUE(std::isnan(HyperParameter(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(HyperParameter(std::numeric_limits<float>::infinity()),
            std::numeric_limits<double>::infinity());
}

TEST(HyperParameterTest, RoundsBackToTheSameFloat) {
  // The mapping loses nothing: the double rounds to the float it came from,
  // so validation on the float and training on the double agree (a float
  // just below 1 stays below 1).
  const float probes[] = {0.99999994f, 1e-45f, 1.17549435e-38f, 0.1f, 0.3f,
                          123456.789f, 3.4028235e38f, -0.7f};
  for (float f : probes) {
    EXPECT_EQ(static_cast<float>(HyperParameter(f)), f) << f;
  }
  EXPECT_LT(HyperParameter(0.99999994f), 1.0);
  uint32_t bits = 0x3f000000;  // 0.5f; a sweep of neighbours and beyond
  for (int i = 0; i < 200000; ++i, bits += 37) {
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    ASSERT_EQ(static_cast<float>(HyperParameter(f)), f) << "bits " << bits;
  }
}

// Runs `steps` updates of mixed-sign gradients and returns the parameters.
std::vector<Scalar> Train(const v1::OptimizerSpec& spec, int steps = 25) {
  const int n = 7;
  auto opt = Optimizer::Create(spec, n);
  EXPECT_TRUE(opt.ok()) << opt.status();
  if (!opt.ok()) return {};
  std::vector<Scalar> p(n), g(n);
  for (int i = 0; i < n; ++i) p[i] = static_cast<Scalar>(0.4 * i - 1.1);
  for (int k = 0; k < steps; ++k) {
    for (int i = 0; i < n; ++i) {
      g[i] = static_cast<Scalar>(std::sin(0.3 + 0.9 * i + 1.7 * k) * (1 + 0.25 * i));
    }
    g[3] = k % 3 == 0 ? Scalar(0) : g[3];  // exercises epsilon
    (*opt)->Step(p.data(), g.data(), (*opt)->base_learning_rate());
  }
  return p;
}

// Each optimiser, its defaults written out as a user would (PyTorch's
// defaults, through JSON into the float fields), against the unset spec.
TEST(OptimizerDefaultsTest, ExplicitPyTorchDefaultsTrainLikeUnset) {
  struct Case {
    std::string name;
    v1::OptimizerSpec unset, explicit_defaults;
  };
  std::vector<Case> cases(5);

  cases[0].name = "sgd";
  cases[0].unset.mutable_sgd();
  cases[0].explicit_defaults.set_learning_rate(0.01);
  cases[0].explicit_defaults.set_weight_decay(0);
  cases[0].explicit_defaults.mutable_sgd()->set_momentum(0.0f);
  cases[0].explicit_defaults.mutable_sgd()->set_dampening(0.0f);

  cases[1].name = "adagrad";
  cases[1].unset.mutable_adagrad();
  cases[1].explicit_defaults.set_learning_rate(0.01);
  cases[1].explicit_defaults.set_weight_decay(0);
  cases[1].explicit_defaults.mutable_adagrad()->set_epsilon(1e-10f);
  cases[1].explicit_defaults.mutable_adagrad()->set_initial_accumulator_value(0.0f);

  cases[2].name = "rmsprop";
  cases[2].unset.mutable_rmsprop();
  cases[2].explicit_defaults.set_learning_rate(0.01);
  cases[2].explicit_defaults.set_weight_decay(0);
  cases[2].explicit_defaults.mutable_rmsprop()->set_alpha(0.99f);
  cases[2].explicit_defaults.mutable_rmsprop()->set_epsilon(1e-8f);
  cases[2].explicit_defaults.mutable_rmsprop()->set_momentum(0.0f);

  for (int i : {3, 4}) {
    const bool w = i == 4;
    cases[i].name = w ? "adamw" : "adam";
    (w ? cases[i].unset.mutable_adamw() : cases[i].unset.mutable_adam());
    v1::OptimizerSpec& e = cases[i].explicit_defaults;
    e.set_learning_rate(0.001);
    e.set_weight_decay(w ? 0.01 : 0.0);
    v1::AdamOptimizer* a = w ? e.mutable_adamw() : e.mutable_adam();
    a->set_beta1(0.9f);
    a->set_beta2(0.999f);
    a->set_epsilon(1e-8f);
  }

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<Scalar> unset = Train(c.unset);
    ASSERT_FALSE(unset.empty());
    EXPECT_EQ(Train(c.explicit_defaults), unset);
  }
}

// The same on paths that are not all-default: a default value written out
// next to a non-default one still equals leaving it unset.
TEST(OptimizerDefaultsTest, SetValuesAreTheirDecimals) {
  v1::OptimizerSpec a, b;
  a.mutable_adam()->set_beta1(0.8f);
  b.mutable_adam()->set_beta1(0.8f);
  b.mutable_adam()->set_beta2(0.999f);
  EXPECT_EQ(Train(a), Train(b));
  // RMSprop alpha 0.99 with momentum: the same against unset alpha.
  v1::OptimizerSpec r1, r2;
  r1.mutable_rmsprop()->set_momentum(0.9f);
  r2.mutable_rmsprop()->set_momentum(0.9f);
  r2.mutable_rmsprop()->set_alpha(0.99f);
  r2.mutable_rmsprop()->set_epsilon(1e-8f);
  EXPECT_EQ(Train(r1), Train(r2));
}

}  // namespace
}  // namespace trainyard
