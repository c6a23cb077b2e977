// Behaviour of the layers, initialisers, thread pool and model buffers in the
// float build that users run. Gradients are checked in
// layers_gradcheck_f64_test.cc.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "core/init.h"
#include "core/layer.h"
#include "core/layers/norm_defaults.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "gtest/gtest.h"

// Counts every heap allocation of the process (operator new and Eigen both
// end in malloc), so the no-allocation test also sees Eigen's matrices.
//
// Under ASan (or TSan/MSan) the sanitizer owns malloc: a replacement that
// forwards to glibc hands the sanitizer's free() blocks it never allocated
// and the process crashes. There the sanitizer's own allocation hook counts
// instead (it sees operator new and malloc alike), so the test still runs.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TRAINYARD_SANITIZER_OWNS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define TRAINYARD_SANITIZER_OWNS_MALLOC 1
#endif
#endif

namespace {
std::atomic<int64_t> g_malloc_calls{0};
}  // namespace

#ifdef TRAINYARD_SANITIZER_OWNS_MALLOC
// Weak in the sanitizer runtime; called on every allocation.
extern "C" void __sanitizer_malloc_hook(const volatile void* /*ptr*/, size_t /*size*/) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
}
#else
extern "C" void* __libc_malloc(size_t size);
extern "C" void* malloc(size_t size) noexcept {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
#endif

namespace trainyard {
namespace {

Matrix RandomMatrix(int rows, int cols, Rng& rng, double mean = 0,
                    double stddev = 1) {
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) {
    m.data()[i] = static_cast<Scalar>(mean + stddev * rng.Normal());
  }
  return m;
}

// One layer with its own buffers, bound and initialised as a Model would.
struct BoundLayer {
  std::unique_ptr<Layer> layer;
  std::vector<Scalar> params, grads, state;

  explicit BoundLayer(const v1::LayerSpec& spec, int input_dim) {
    auto made = MakeLayer(spec, input_dim, v1::ACTIVATION_UNSPECIFIED);
    EXPECT_TRUE(made.ok()) << made.status();
    layer = *std::move(made);
    params.resize(layer->num_params());
    grads.resize(layer->num_params());
    state.resize(layer->num_state());
    layer->Bind(params.data(), grads.data(), state.data());
    Rng rng(1);
    layer->Initialize(rng);
  }
};

v1::LayerSpec Dense(int units, v1::Initializer init = v1::INITIALIZER_DEFAULT,
                    bool no_bias = false) {
  v1::LayerSpec spec;
  spec.mutable_dense()->set_units(units);
  spec.mutable_dense()->set_init(init);
  spec.mutable_dense()->set_no_bias(no_bias);
  return spec;
}
v1::LayerSpec Activation(v1::ActivationKind kind) {
  v1::LayerSpec spec;
  spec.mutable_activation()->set_kind(kind);
  return spec;
}
v1::LayerSpec BatchNorm(float momentum = 0.1f) {
  v1::LayerSpec spec;
  spec.mutable_batch_norm()->set_momentum(momentum);
  return spec;
}
v1::LayerSpec LayerNorm() {
  v1::LayerSpec spec;
  spec.mutable_layer_norm();
  return spec;
}
v1::LayerSpec Dropout(float rate) {
  v1::LayerSpec spec;
  spec.mutable_dropout()->set_rate(rate);
  return spec;
}
v1::LayerSpec Residual(std::vector<v1::LayerSpec> body,
                       std::optional<float> scale = std::nullopt) {
  v1::LayerSpec spec;
  for (auto& layer : body) *spec.mutable_residual()->add_layers() = layer;
  if (scale) spec.mutable_residual()->set_scale(*scale);
  return spec;
}
v1::ModelSpec ModelOf(int input_dim, std::vector<v1::LayerSpec> layers) {
  v1::ModelSpec spec;
  spec.set_input_dim(input_dim);
  for (auto& layer : layers) *spec.add_layers() = layer;
  return spec;
}

// ---------------------------------------------------------------- batch norm

TEST(BatchNorm, RunningStatisticsApproachTheDataAndDriveEvaluation) {
  BoundLayer bn(BatchNorm(0.1f), 3);
  Parallel parallel(1);
  PassContext train{Mode::kTrain, nullptr, &parallel};
  Rng rng(2);
  Matrix out;
  for (int step = 0; step < 300; ++step) {
    bn.layer->Forward(RandomMatrix(3, 64, rng, 5.0, 2.0), out, train);
  }
  // state = running mean (3), running var (3): data is N(5, 4).
  for (int f = 0; f < 3; ++f) {
    EXPECT_NEAR(bn.state[f], 5.0, 0.2) << f;
    EXPECT_NEAR(bn.state[3 + f], 4.0, 0.5) << f;
  }

  // A batch shifted far from the data: training mode re-centres it with its
  // own statistics, evaluation keeps the shift (running statistics).
  const Matrix shifted = RandomMatrix(3, 32, rng, 15.0, 2.0);
  Matrix train_out, eval_out;
  bn.layer->Forward(shifted, train_out, train);
  PassContext eval{Mode::kEval, nullptr, &parallel};
  bn.layer->Forward(shifted, eval_out, eval);
  for (int f = 0; f < 3; ++f) {
    EXPECT_NEAR(train_out.row(f).mean(), 0.0, 1e-4);
    EXPECT_GT(eval_out.row(f).mean(), 3.0);
    for (int j = 0; j < 32; ++j) {
      const double expected = (shifted(f, j) - bn.state[f]) /
                              std::sqrt(bn.state[3 + f] + 1e-5);
      EXPECT_NEAR(eval_out(f, j), expected, 1e-4);
    }
  }
}

// An unset epsilon is the shared default in both normalisation layers: the
// same output, bit for bit, as that value given explicitly, and not the
// output of another value (the input's variance, 1e-4, is small enough for
// epsilon to show).
TEST(NormLayers, UnsetEpsilonIsTheSharedDefault) {
  Parallel parallel(1);
  PassContext train{Mode::kTrain, nullptr, &parallel};
  Rng rng(4);
  const Matrix x = RandomMatrix(6, 8, rng, 0.0, 0.01);
  auto output = [&](v1::LayerSpec spec) {
    BoundLayer layer(spec, 6);
    Matrix out;
    layer.layer->Forward(x, out, train);
    return std::vector<Scalar>(out.data(), out.data() + out.size());
  };
  for (const bool batch : {true, false}) {
    SCOPED_TRACE(batch ? "batch norm" : "layer norm");
    const v1::LayerSpec unset = batch ? BatchNorm() : LayerNorm();
    auto with_epsilon = [&](float epsilon) {
      v1::LayerSpec spec = unset;
      if (batch) {
        spec.mutable_batch_norm()->set_epsilon(epsilon);
      } else {
        spec.mutable_layer_norm()->set_epsilon(epsilon);
      }
      return spec;
    };
    EXPECT_EQ(output(unset), output(with_epsilon(kDefaultNormEpsilon)));
    EXPECT_NE(output(unset), output(with_epsilon(2 * kDefaultNormEpsilon)));
  }
  EXPECT_EQ(kDefaultNormEpsilon, 1e-5f);
}

TEST(BatchNorm, RunningVarianceUsesUnbiasedBatchVariance) {
  BoundLayer bn(BatchNorm(1.0f), 1);  // momentum 1: running = batch
  Parallel parallel(1);
  PassContext train{Mode::kTrain, nullptr, &parallel};
  Matrix x(1, 4);
  x << 1, 2, 3, 6;  // mean 3, sum of squares 14: biased 3.5, unbiased 14/3
  Matrix out;
  bn.layer->Forward(x, out, train);
  EXPECT_FLOAT_EQ(bn.state[0], 3.0f);
  EXPECT_FLOAT_EQ(bn.state[1], 14.0f / 3.0f);
  // ...while the output is normalised with the biased variance.
  EXPECT_NEAR(out(0, 3), 3.0 / std::sqrt(3.5 + 1e-5), 1e-5);
}

// ---------------------------------------------------------------- dropout

TEST(Dropout, IdentityInEvaluation) {
  BoundLayer dropout(Dropout(0.5f), 10);
  Parallel parallel(1);
  Rng rng(3);
  PassContext eval{Mode::kEval, &rng, &parallel};
  const Matrix x = RandomMatrix(10, 20, rng);
  Matrix out;
  dropout.layer->Forward(x, out, eval);
  EXPECT_EQ(out, x);
}

TEST(Dropout, TrainingKeepsTheExpectedValue) {
  BoundLayer dropout(Dropout(0.3f), 200);
  Parallel parallel(1);
  Rng rng(4);
  PassContext train{Mode::kTrain, &rng, &parallel};
  const Matrix ones = Matrix::Ones(200, 500);
  Matrix out;
  dropout.layer->Forward(ones, out, train);
  const double zeros = (out.array() == 0).cast<double>().mean();
  EXPECT_NEAR(zeros, 0.3, 0.01);  // sd of the fraction is ~0.001
  EXPECT_NEAR(out.mean(), 1.0, 0.01);
  for (int64_t i = 0; i < out.size(); ++i) {
    const Scalar v = out.data()[i];
    ASSERT_TRUE(v == 0 || std::abs(v - 1 / 0.7f) < 1e-6) << v;
  }
  // Backward routes the gradient through the same mask.
  Matrix din;
  dropout.layer->Backward(ones, out, ones, &din, train);
  EXPECT_EQ(din, out);
}

TEST(Dropout, MonteCarloModeStaysStochastic) {
  BoundLayer dropout(Dropout(0.5f), 50);
  Parallel parallel(1);
  Rng rng(5);
  PassContext mc{Mode::kMonteCarlo, &rng, &parallel};
  const Matrix x = Matrix::Ones(50, 4);
  Matrix first, second;
  dropout.layer->Forward(x, first, mc);
  dropout.layer->Forward(x, second, mc);
  EXPECT_NE(first, second);
  EXPECT_GT((first.array() == 0).count(), 0);
}

// ---------------------------------------------------------------- residual

TEST(Residual, AddsTheScaledInput) {
  // With F's weights zero, F(x) = 0 and H(x) = scale * x.
  for (auto [scale, expected] :
       {std::pair<std::optional<float>, float>{std::nullopt, 1.0f},
        {0.5f, 0.5f}, {0.0f, 0.0f}}) {
    BoundLayer block(Residual({Dense(4, v1::ZEROS)}, scale), 4);
    Parallel parallel(1);
    PassContext eval{Mode::kEval, nullptr, &parallel};
    Rng rng(6);
    const Matrix x = RandomMatrix(4, 3, rng);
    Matrix out;
    block.layer->Forward(x, out, eval);
    EXPECT_TRUE(out.isApprox(expected * x) || (expected == 0 && out.isZero()))
        << "scale " << expected;
  }
}

// ---------------------------------------------------------------- model buffers

TEST(ModelBuffers, ParamCountMatchesHandCount) {
  // dense 3->4: 12+4; batch_norm(4): 8 (+8 state); dense 4->2 no bias: 8;
  // layer_norm(2): 4; residual[dense 2->2]: 4+2.
  auto model = Model::Create(ModelOf(
      3, {Dense(4), BatchNorm(), Activation(v1::RELU),
          Dense(2, v1::INITIALIZER_DEFAULT, true), LayerNorm(),
          Residual({Dense(2), Activation(v1::TANH)}, 0.5f)}));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_params(), 16 + 8 + 8 + 4 + 6);
  EXPECT_EQ((*model)->num_state(), 8);
  EXPECT_EQ((*model)->input_dim(), 3);
  EXPECT_EQ((*model)->output_dim(), 2);
  Rng rng(7);
  (*model)->Initialize(rng);
  // Batch-norm state is running mean 0 then running var 1.
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*model)->state()[i], 0.0f);
  for (int i = 4; i < 8; ++i) EXPECT_EQ((*model)->state()[i], 1.0f);
}

TEST(ModelBuffers, LayersReadAndWriteTheContiguousBuffers) {
  auto model_or = Model::Create(ModelOf(2, {Dense(2)}));
  ASSERT_TRUE(model_or.ok()) << model_or.status();
  Model& model = **model_or;
  // W (2x2) column-major, then b: W = [[1, 3], [2, 4]], b = [5, 6].
  const Scalar values[] = {1, 2, 3, 4, 5, 6};
  std::copy(values, values + 6, model.params());
  Matrix x(2, 1);
  x << 2, 3;
  Parallel parallel(1);
  PassContext train{Mode::kTrain, nullptr, &parallel};
  const Matrix& y = model.Forward(x, train);
  EXPECT_EQ(y(0, 0), 1 * 2 + 3 * 3 + 5);
  EXPECT_EQ(y(1, 0), 2 * 2 + 4 * 3 + 6);
  Matrix dy(2, 1);
  dy << 1, 0;
  model.Backward(dy, train);
  // dW = dy x^T = [[2, 3], [0, 0]] column-major, db = dy.
  const std::vector<Scalar> grads(model.grads(), model.grads() + 6);
  EXPECT_EQ(grads, (std::vector<Scalar>{2, 0, 3, 0, 1, 0}));
}

// ---------------------------------------------------------------- initialisers

TEST(Initializers, DefaultFollowsTheNextActivation) {
  EXPECT_EQ(ResolveInitializer(v1::INITIALIZER_DEFAULT, v1::RELU),
            v1::KAIMING_NORMAL);
  EXPECT_EQ(ResolveInitializer(v1::INITIALIZER_DEFAULT, v1::LEAKY_RELU),
            v1::KAIMING_NORMAL);
  for (auto kind : {v1::SIGMOID, v1::TANH, v1::IDENTITY,
                    v1::ACTIVATION_UNSPECIFIED}) {
    EXPECT_EQ(ResolveInitializer(v1::INITIALIZER_DEFAULT, kind),
              v1::XAVIER_NORMAL);
  }
  EXPECT_EQ(ResolveInitializer(v1::XAVIER_UNIFORM, v1::RELU),
            v1::XAVIER_UNIFORM);
}

double WeightVariance(const v1::ModelSpec& spec, int64_t count) {
  auto model = Model::Create(spec);
  EXPECT_TRUE(model.ok()) << model.status();
  Rng rng(8);
  (*model)->Initialize(rng);
  const ConstVectorMap w((*model)->params(), count);
  return (w.array().cast<double>().square()).mean();
}

TEST(Initializers, ModelPicksTheDefaultFromTheFollowingActivation) {
  const int64_t weights = 200 * 200;
  // Kaiming: 2/200 = 0.01, also when batch norm and dropout sit in between.
  EXPECT_NEAR(WeightVariance(ModelOf(200, {Dense(200), Activation(v1::RELU)}),
                             weights),
              0.01, 0.0005);
  EXPECT_NEAR(WeightVariance(ModelOf(200, {Dense(200), BatchNorm(), Dropout(0.1f),
                                           Activation(v1::LEAKY_RELU)}),
                             weights),
              0.01, 0.0005);
  // Xavier: 1/200 = 0.005 for tanh, and when nothing or another dense follows.
  EXPECT_NEAR(WeightVariance(ModelOf(200, {Dense(200), Activation(v1::TANH)}),
                             weights),
              0.005, 0.00025);
  EXPECT_NEAR(WeightVariance(ModelOf(200, {Dense(200), Dense(3),
                                           Activation(v1::RELU)}),
                             weights),
              0.005, 0.00025);
}

TEST(Initializers, SampleMomentsMatchTheFormulas) {
  constexpr int kFanIn = 1000;
  constexpr int64_t kCount = 1000 * 1000;
  struct Case {
    v1::Initializer init;
    double variance;
    double bound;  // 0 for unbounded
  };
  const Case cases[] = {
      {v1::XAVIER_NORMAL, 1.0 / kFanIn, 0},
      {v1::XAVIER_UNIFORM, 1.0 / kFanIn, std::sqrt(3.0 / kFanIn)},
      {v1::KAIMING_NORMAL, 2.0 / kFanIn, 0},
      {v1::KAIMING_UNIFORM, 2.0 / kFanIn, std::sqrt(6.0 / kFanIn)},
  };
  std::vector<Scalar> w(kCount);
  for (const Case& c : cases) {
    Rng rng(9);
    InitializeWeights(c.init, kFanIn, rng, w.data(), kCount);
    const auto a = ConstVectorMap(w.data(), kCount).array().cast<double>();
    const double mean = a.mean();
    const double variance = (a - mean).square().mean();
    // The sample mean has sd sqrt(var / n) ~ 4.5e-5 at most: allow 5 sd.
    EXPECT_NEAR(mean, 0.0, 5 * std::sqrt(c.variance / kCount))
        << v1::Initializer_Name(c.init);
    // The sample variance has relative sd <= sqrt(2 / n) ~ 0.14%: allow 1%.
    EXPECT_NEAR(variance, c.variance, 0.01 * c.variance)
        << v1::Initializer_Name(c.init);
    if (c.bound > 0) {
      EXPECT_LE(a.abs().maxCoeff(), c.bound) << v1::Initializer_Name(c.init);
      EXPECT_GT(a.abs().maxCoeff(), 0.99 * c.bound);
    }
  }
  std::fill(w.begin(), w.end(), Scalar(1));
  Rng rng(10);
  InitializeWeights(v1::ZEROS, kFanIn, rng, w.data(), kCount);
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](Scalar v) { return v == 0; }));
}

// ---------------------------------------------------------------- parallel

TEST(Parallel, ForCoversEveryIndexOnceInGrainAlignedChunks) {
  for (int threads : {1, 2, 3, 4}) {
    Parallel parallel(threads);
    for (int64_t n : {0, 1, 5, 17, 100, 1000, 4099}) {
      for (int64_t grain : {1, 3, 16, 64}) {
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        std::vector<int> hits(n, 0);
        std::set<std::thread::id> ids;
        parallel.For(n, grain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) ++hits[i];  // disjoint ranges
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace_back(begin, end);
          ids.insert(std::this_thread::get_id());
        });
        SCOPED_TRACE(testing::Message() << "threads " << threads << " n " << n
                                        << " grain " << grain);
        EXPECT_TRUE(std::all_of(hits.begin(), hits.end(),
                                [](int h) { return h == 1; }));
        EXPECT_LE(static_cast<int>(chunks.size()), threads);
        std::sort(chunks.begin(), chunks.end());
        for (size_t c = 0; c + 1 < chunks.size(); ++c) {
          EXPECT_EQ((chunks[c].second - chunks[c].first) % grain, 0);
        }
        // Every chunk ran on its own thread (workers really work).
        EXPECT_EQ(ids.size(), chunks.size());
        if (n >= threads * grain) {
          EXPECT_EQ(static_cast<int>(chunks.size()), threads);
        }
      }
    }
  }
}

// A model large enough that its products and element-wise work are split.
v1::ModelSpec WideSpec() {
  return ModelOf(64, {Dense(128), BatchNorm(), Activation(v1::RELU),
                      Dropout(0.1f), Dense(128), LayerNorm(),
                      Activation(v1::TANH),
                      Residual({Dense(128), Activation(v1::SIGMOID)}, 0.5f),
                      Dense(10)});
}

struct StepResult {
  Matrix out;
  std::vector<Scalar> grads;
};

StepResult TrainStep(int threads) {
  auto model = Model::Create(WideSpec());
  EXPECT_TRUE(model.ok()) << model.status();
  Rng rng(11);
  (*model)->Initialize(rng);
  Rng data_rng(12);
  const Matrix x = RandomMatrix(64, 256, data_rng);
  const Matrix dout = RandomMatrix(10, 256, data_rng);
  Parallel parallel(threads);
  Rng dropout_rng(13);
  PassContext ctx{Mode::kTrain, &dropout_rng, &parallel};
  StepResult result;
  result.out = (*model)->Forward(x, ctx);
  (*model)->Backward(dout, ctx);
  result.grads.assign((*model)->grads(),
                      (*model)->grads() + (*model)->num_params());
  return result;
}

TEST(Parallel, ModelStepIsReproducibleAndAgreesAcrossThreadCounts) {
  const StepResult two = TrainStep(2);
  const StepResult two_again = TrainStep(2);
  EXPECT_EQ(two.out, two_again.out);  // bit-identical
  EXPECT_EQ(two.grads, two_again.grads);

  const StepResult one = TrainStep(1);
  ASSERT_EQ(one.grads.size(), two.grads.size());
  EXPECT_TRUE(one.out.isApprox(two.out, 1e-5));
  for (size_t i = 0; i < one.grads.size(); ++i) {
    ASSERT_NEAR(one.grads[i], two.grads[i],
                1e-5 * std::max(1.0f, std::abs(one.grads[i])))
        << "grad " << i;
  }
}

// ---------------------------------------------------------------- allocation

TEST(Model, TrainingStepsAllocateNothingAfterTheFirst) {
  // Widths <= 64 and batch 32 keep Eigen's GEMM packing buffers on the stack
  // (EIGEN_STACK_ALLOCATION_LIMIT); what we test is that the layers and the
  // pool allocate nothing of their own once shapes are known.
  auto model_or = Model::Create(ModelOf(
      64, {Dense(64), BatchNorm(), Activation(v1::RELU), Dropout(0.2f),
           Dense(64), LayerNorm(), Activation(v1::TANH),
           Residual({Dense(64), Activation(v1::SIGMOID)}, 0.5f), Dense(8)}));
  ASSERT_TRUE(model_or.ok()) << model_or.status();
  Model& model = **model_or;
  Rng rng(14);
  model.Initialize(rng);
  const Matrix x = RandomMatrix(64, 32, rng);
  const Matrix dout = RandomMatrix(8, 32, rng);
  Parallel parallel(2);
  PassContext train{Mode::kTrain, &rng, &parallel};
  PassContext eval{Mode::kEval, &rng, &parallel};

  const int64_t at_start = g_malloc_calls.load();
  model.Forward(x, train);  // first step: buffers take their shapes
  model.Backward(dout, train);
  model.Forward(x, eval);
  const Scalar* out_data = model.Forward(x, train).data();

  const int64_t before = g_malloc_calls.load();
  ASSERT_GT(before, at_start);  // the counter does see the first step's buffers
  for (int step = 0; step < 3; ++step) {
    const Matrix& out = model.Forward(x, train);
    EXPECT_EQ(out.data(), out_data);
    model.Backward(dout, train);
    model.Forward(x, eval);
  }
  EXPECT_EQ(g_malloc_calls.load() - before, 0);
}

}  // namespace
}  // namespace trainyard
