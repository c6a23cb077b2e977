// The optimisers against PyTorch (tests/data/optimizer_reference.txt, made by
// scripts/gen_optimizer_reference.py with torch.optim), plus ClipGradNorm,
// checkpoint-style resume and spec validation. Float build: the precision
// users train with.
#include "core/optimizer.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/schedule.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

// ---- the reference file -----------------------------------------------------

struct RefCase {
  std::string name;
  std::string kind;
  std::map<std::string, double> keys;
  std::vector<double> lrs;                  // per step
  std::vector<std::vector<float>> expects;  // params after each step
};

struct Reference {
  std::vector<float> initial;
  std::vector<std::vector<float>> grads;  // per step
  std::vector<RefCase> cases;
};

std::vector<float> ReadFloats(std::istringstream& in) {
  std::vector<float> v;
  std::string tok;
  while (in >> tok) v.push_back(std::strtof(tok.c_str(), nullptr));
  return v;
}

Reference LoadReference() {
  Reference ref;
  std::ifstream file(TRAINYARD_SOURCE_DIR "/tests/data/optimizer_reference.txt");
  EXPECT_TRUE(file.good()) << "missing tests/data/optimizer_reference.txt";
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    int step = 0;
    if (tag == "params") {
      ref.initial = ReadFloats(in);
    } else if (tag == "grad") {
      in >> step;
      ref.grads.push_back(ReadFloats(in));
    } else if (tag == "case") {
      RefCase c;
      in >> c.name >> c.kind;
      std::string kv;
      while (in >> kv) {
        const size_t eq = kv.find('=');
        c.keys[kv.substr(0, eq)] = std::strtod(kv.c_str() + eq + 1, nullptr);
      }
      ref.cases.push_back(c);
    } else if (tag == "lr") {
      std::string value;
      in >> step >> value;
      ref.cases.back().lrs.push_back(std::strtod(value.c_str(), nullptr));
    } else if (tag == "expect") {
      in >> step;
      ref.cases.back().expects.push_back(ReadFloats(in));
    }
  }
  return ref;
}

// Fills the OptimizerSpec from the file's key=value pairs; absent keys stay
// unset, so the C++ defaults are what is compared.
v1::OptimizerSpec SpecFor(const RefCase& c) {
  v1::OptimizerSpec spec;
  auto has = [&](const char* k) { return c.keys.count(k) > 0; };
  auto f = [&](const char* k) { return static_cast<float>(c.keys.at(k)); };
  if (has("learning_rate")) spec.set_learning_rate(c.keys.at("learning_rate"));
  if (has("weight_decay")) spec.set_weight_decay(c.keys.at("weight_decay"));
  if (c.kind == "sgd") {
    auto* s = spec.mutable_sgd();
    if (has("momentum")) s->set_momentum(f("momentum"));
    if (has("dampening")) s->set_dampening(f("dampening"));
    if (has("nesterov")) s->set_nesterov(c.keys.at("nesterov") != 0);
  } else if (c.kind == "adagrad") {
    auto* s = spec.mutable_adagrad();
    if (has("epsilon")) s->set_epsilon(f("epsilon"));
    if (has("initial_accumulator_value")) {
      s->set_initial_accumulator_value(f("initial_accumulator_value"));
    }
  } else if (c.kind == "rmsprop") {
    auto* s = spec.mutable_rmsprop();
    if (has("alpha")) s->set_alpha(f("alpha"));
    if (has("epsilon")) s->set_epsilon(f("epsilon"));
    if (has("momentum")) s->set_momentum(f("momentum"));
    if (has("centered")) s->set_centered(c.keys.at("centered") != 0);
  } else {
    auto* s = c.kind == "adam" ? spec.mutable_adam() : spec.mutable_adamw();
    if (has("beta1")) s->set_beta1(f("beta1"));
    if (has("beta2")) s->set_beta2(f("beta2"));
    if (has("epsilon")) s->set_epsilon(f("epsilon"));
  }
  return spec;
}

// The schedules behind the reference cases whose rate changes per step.
std::map<std::string, v1::ScheduleSpec> ScheduledCases() {
  std::map<std::string, v1::ScheduleSpec> m;
  v1::ScheduleSpec cosine;
  cosine.mutable_cosine()->set_t_max(3);
  cosine.mutable_cosine()->set_eta_min(0.001);
  cosine.mutable_warmup()->set_steps(2);
  m["adam_cosine_warmup"] = cosine;
  v1::ScheduleSpec step;
  step.mutable_step_decay()->set_step_size(2);
  step.mutable_step_decay()->set_gamma(0.5f);
  m["sgd_momentum_step_decay"] = step;
  return m;
}

// Tolerance: both sides compute in float32 with the same operation order and
// bit-identical inputs; what may differ is FMA contraction (PyTorch's
// vectorised add uses fused multiply-add, GCC contracts where it likes) and
// the division/sqrt order inside one expression, each worth <= 1 ulp
// (6e-8 relative) per operation, over 5 steps of ~5 operations. 1e-6 relative
// (~8 ulp) covers that with margin and is still far below the size of any
// real mistake (a wrong default, epsilon placement or bias correction moves
// the result by >= 1e-4 relative); 1e-7 absolute covers values that pass
// near 0.
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-7;

TEST(OptimizerTest, MatchesPyTorchTrajectories) {
  const Reference ref = LoadReference();
  ASSERT_EQ(ref.initial.size(), 6u);
  ASSERT_EQ(ref.grads.size(), 5u);
  ASSERT_EQ(ref.cases.size(), 20u);
  const auto scheduled = ScheduledCases();
  int scheduled_seen = 0;
  for (const RefCase& c : ref.cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.lrs.size(), 5u);
    ASSERT_EQ(c.expects.size(), 5u);
    absl::StatusOr<std::unique_ptr<Optimizer>> opt =
        Optimizer::Create(SpecFor(c), static_cast<int64_t>(ref.initial.size()));
    ASSERT_TRUE(opt.ok()) << opt.status();
    const auto sched = scheduled.find(c.name);
    if (sched == scheduled.end()) {
      // The rate PyTorch used is the C++ base rate, defaults included.
      EXPECT_DOUBLE_EQ((*opt)->base_learning_rate(), c.lrs[0]);
    } else {
      ++scheduled_seen;
    }
    std::vector<Scalar> params(ref.initial.begin(), ref.initial.end());
    for (int k = 0; k < 5; ++k) {
      SCOPED_TRACE("step " + std::to_string(k + 1));
      double lr = (*opt)->base_learning_rate();
      if (sched != scheduled.end()) {
        lr = LearningRateAt(sched->second, (*opt)->base_learning_rate(), k,
                            /*steps_per_epoch=*/10);
        EXPECT_NEAR(lr, c.lrs[k], 1e-15);
      }
      std::vector<Scalar> grads(ref.grads[k].begin(), ref.grads[k].end());
      (*opt)->Step(params.data(), grads.data(), lr);
      EXPECT_EQ((*opt)->steps(), k + 1);
      for (size_t i = 0; i < params.size(); ++i) {
        const double want = c.expects[k][i];
        EXPECT_NEAR(params[i], want, kRelTol * std::abs(want) + kAbsTol) << "param " << i;
      }
    }
  }
  EXPECT_EQ(scheduled_seen, 2);
}

TEST(OptimizerTest, DefaultsFollowTheProto) {
  v1::OptimizerSpec spec;
  spec.mutable_sgd();
  auto sgd = Optimizer::Create(spec, 1);
  ASSERT_TRUE(sgd.ok());
  EXPECT_DOUBLE_EQ((*sgd)->base_learning_rate(), 0.01);
  EXPECT_DOUBLE_EQ((*sgd)->weight_decay(), 0.0);
  spec.mutable_adamw();
  auto adamw = Optimizer::Create(spec, 1);
  ASSERT_TRUE(adamw.ok());
  EXPECT_DOUBLE_EQ((*adamw)->base_learning_rate(), 1e-3);
  EXPECT_DOUBLE_EQ((*adamw)->weight_decay(), 0.01);
  spec.set_weight_decay(0);  // explicitly set to 0 is not "unset"
  adamw = Optimizer::Create(spec, 1);
  ASSERT_TRUE(adamw.ok());
  EXPECT_DOUBLE_EQ((*adamw)->weight_decay(), 0.0);
}

TEST(OptimizerTest, StateBuffersAreNamedAndSized) {
  v1::OptimizerSpec spec;
  spec.mutable_sgd();
  EXPECT_TRUE((*Optimizer::Create(spec, 7))->StateBuffers().empty());
  spec.mutable_rmsprop()->set_centered(true);
  spec.mutable_rmsprop()->set_momentum(0.5f);
  auto rms = *Optimizer::Create(spec, 7);
  std::vector<std::string> names;
  for (auto& [name, buf] : rms->StateBuffers()) {
    names.push_back(name);
    EXPECT_EQ(buf->size(), 7u);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"square_avg", "momentum_buffer", "grad_avg"}));
  spec.mutable_adam();
  auto adam = *Optimizer::Create(spec, 3);
  ASSERT_EQ(adam->StateBuffers().size(), 2u);
  EXPECT_EQ(adam->StateBuffers()[0].first, "exp_avg");
  EXPECT_EQ(adam->StateBuffers()[1].first, "exp_avg_sq");
}

// A checkpoint stores the state buffers and steps(); restoring them into a
// fresh optimiser must continue bit-identically (this catches state that lives
// outside StateBuffers, e.g. a "first step" flag).
TEST(OptimizerTest, RestoredStateContinuesExactly) {
  std::vector<v1::OptimizerSpec> specs(4);
  specs[0].mutable_sgd()->set_momentum(0.9f);
  specs[1].mutable_rmsprop()->set_centered(true);
  specs[1].mutable_rmsprop()->set_momentum(0.3f);
  specs[2].mutable_adam();
  specs[3].mutable_adagrad()->set_initial_accumulator_value(0.5f);
  const int n = 5;
  for (const v1::OptimizerSpec& spec : specs) {
    SCOPED_TRACE(spec.ShortDebugString());
    auto straight = *Optimizer::Create(spec, n);
    auto first = *Optimizer::Create(spec, n);
    std::vector<Scalar> p1(n), p2;
    for (int i = 0; i < n; ++i) p1[i] = static_cast<Scalar>(0.3 * i - 0.5);
    p2 = p1;
    auto grad = [&](int k) {
      std::vector<Scalar> g(n);
      for (int i = 0; i < n; ++i) g[i] = static_cast<Scalar>(std::cos(1.0 + i + 2.0 * k));
      return g;
    };
    for (int k = 0; k < 5; ++k) straight->Step(p1.data(), grad(k).data(), 0.05);
    for (int k = 0; k < 2; ++k) first->Step(p2.data(), grad(k).data(), 0.05);
    auto resumed = *Optimizer::Create(spec, n);
    auto from = first->StateBuffers();
    auto to = resumed->StateBuffers();
    ASSERT_EQ(from.size(), to.size());
    for (size_t b = 0; b < from.size(); ++b) *to[b].second = *from[b].second;
    resumed->set_steps(first->steps());
    for (int k = 2; k < 5; ++k) resumed->Step(p2.data(), grad(k).data(), 0.05);
    EXPECT_EQ(p1, p2);
  }
}

// ---- ClipGradNorm --------------------------------------------------------------

TEST(ClipGradNormTest, ScalesDownToMaxNorm) {
  std::vector<Scalar> g = {3, 4};  // norm 5
  EXPECT_NEAR(ClipGradNorm(g.data(), 2, 1.0), 5.0, 1e-12);
  // factor = 1 / (5 + 1e-6), as torch.nn.utils.clip_grad_norm_.
  EXPECT_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0, 1e-6);
}

TEST(ClipGradNormTest, LeavesSmallGradientsAlone) {
  std::vector<Scalar> g = {3, 4};
  EXPECT_NEAR(ClipGradNorm(g.data(), 2, 10.0), 5.0, 1e-12);
  EXPECT_EQ(g, (std::vector<Scalar>{3, 4}));
  // max_norm <= 0 only measures.
  EXPECT_NEAR(ClipGradNorm(g.data(), 2, 0.0), 5.0, 1e-12);
  EXPECT_EQ(g, (std::vector<Scalar>{3, 4}));
}

TEST(ClipGradNormTest, NormSpansManyBlocks) {
  // 10001 values of 0.01 and one of 1: norm sqrt(10001 * 1e-4 + 1) ~ 1.4142489.
  std::vector<Scalar> g(10002, Scalar(0.01));
  g[9000] = 1;
  const double want = std::sqrt(10001 * 1e-4 + 1);
  EXPECT_NEAR(ClipGradNorm(g.data(), static_cast<int64_t>(g.size()), 0.5), want, 1e-6);
  EXPECT_NEAR(g[9000], 0.5 / (want + 1e-6), 1e-7);
  EXPECT_NEAR(g[0], 0.01 * 0.5 / (want + 1e-6), 1e-9);
}

TEST(ClipGradNormTest, NonFiniteNormIsReportedNotSpread) {
  std::vector<Scalar> g = {1, std::numeric_limits<Scalar>::infinity()};
  EXPECT_TRUE(std::isinf(ClipGradNorm(g.data(), 2, 1.0)));
  EXPECT_EQ(g[0], 1);  // left for the trainer's non-finite check
}

// ---- validation ----------------------------------------------------------------

void ExpectInvalid(const v1::OptimizerSpec& spec, const std::string& field) {
  SCOPED_TRACE(spec.ShortDebugString());
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(spec, 3);
  ASSERT_FALSE(opt.ok());
  EXPECT_EQ(opt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(opt.status().message().find(field), 0u)
      << "message should start with " << field << ": " << opt.status().message();
}

TEST(OptimizerValidationTest, RejectsEachBadFieldByPath) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  v1::OptimizerSpec spec;
  ExpectInvalid(spec, "optimizer.kind must be set");

  for (double lr : {0.0, -0.1, nan, inf}) {
    spec.Clear();
    spec.mutable_sgd();
    spec.set_learning_rate(lr);
    ExpectInvalid(spec, "optimizer.learning_rate");
  }
  spec.Clear();
  spec.mutable_adam();
  spec.set_weight_decay(-1);
  ExpectInvalid(spec, "optimizer.weight_decay");

  spec.Clear();
  spec.mutable_sgd()->set_momentum(1.0f);
  ExpectInvalid(spec, "optimizer.sgd.momentum");
  spec.Clear();
  spec.mutable_sgd()->set_dampening(-0.1f);
  ExpectInvalid(spec, "optimizer.sgd.dampening");
  spec.Clear();
  spec.mutable_sgd()->set_nesterov(true);
  ExpectInvalid(spec, "optimizer.sgd.nesterov");
  spec.mutable_sgd()->set_momentum(0.9f);
  spec.mutable_sgd()->set_dampening(0.1f);
  ExpectInvalid(spec, "optimizer.sgd.nesterov");

  spec.Clear();
  spec.mutable_adagrad()->set_epsilon(0);
  ExpectInvalid(spec, "optimizer.adagrad.epsilon");
  spec.Clear();
  spec.mutable_adagrad()->set_initial_accumulator_value(-1);
  ExpectInvalid(spec, "optimizer.adagrad.initial_accumulator_value");

  spec.Clear();
  spec.mutable_rmsprop()->set_alpha(1.0f);
  ExpectInvalid(spec, "optimizer.rmsprop.alpha");
  spec.Clear();
  spec.mutable_rmsprop()->set_epsilon(-1e-8f);
  ExpectInvalid(spec, "optimizer.rmsprop.epsilon");
  spec.Clear();
  spec.mutable_rmsprop()->set_momentum(1.5f);
  ExpectInvalid(spec, "optimizer.rmsprop.momentum");

  spec.Clear();
  spec.mutable_adam()->set_beta1(1.0f);
  ExpectInvalid(spec, "optimizer.adam.beta1 must be in [0, 1)");
  spec.Clear();
  spec.mutable_adam()->set_beta2(std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(spec, "optimizer.adam.beta2");
  spec.Clear();
  spec.mutable_adam()->set_epsilon(0);
  ExpectInvalid(spec, "optimizer.adam.epsilon");
  spec.Clear();
  spec.mutable_adamw()->set_beta1(-0.1f);
  ExpectInvalid(spec, "optimizer.adamw.beta1");
}

TEST(OptimizerValidationTest, AcceptsBoundaryValues) {
  v1::OptimizerSpec spec;
  spec.mutable_sgd()->set_momentum(0.0f);
  spec.set_weight_decay(0);
  spec.set_learning_rate(1e-12);
  EXPECT_TRUE(Optimizer::Create(spec, 3).ok());
  spec.mutable_adam()->set_beta1(0.0f);
  EXPECT_TRUE(Optimizer::Create(spec, 0).ok());
}

}  // namespace
}  // namespace trainyard
