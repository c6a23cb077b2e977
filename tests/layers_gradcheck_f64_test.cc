// Finite-difference gradient checks of every layer kind and of a whole model,
// in double precision (this test links trainyard_core_f64).
//
// The loss is a random linear functional of the output, L = sum(R .* out), so
// dL/dout = R exercises every output element with a different weight.
//
// Tolerance: central differences with h = 1e-6 have truncation error
// ~h^2 |f'''| ~ 1e-12 and round-off ~ eps |L| / h ~ 1e-16 * 10 / 1e-6 = 1e-9
// for the |L| <~ 10 of these small problems. We accept
// |analytic - numeric| <= 1e-6 * max(1, |numeric|), three orders above that
// noise yet far below any real bug (a wrong term changes a gradient by O(1e-2)
// or more).
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/layer.h"
#include "core/layers/sequential.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

static_assert(sizeof(Scalar) == sizeof(double), "links the f64 core");

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;
constexpr uint64_t kDropoutSeed = 1234;

Matrix RandomMatrix(int rows, int cols, Rng& rng, double scale = 1.0) {
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.Normal();
  return m;
}

// Entries at least `margin` away from zero, so that ReLU-type kinks are never
// crossed by a finite-difference step.
Matrix AwayFromZero(int rows, int cols, Rng& rng, double margin = 0.1) {
  Matrix m = RandomMatrix(rows, cols, rng);
  for (int64_t i = 0; i < m.size(); ++i) {
    double& v = m.data()[i];
    v = v >= 0 ? v + margin : v - margin;
  }
  return m;
}

// Compares analytic and numeric gradients of `values` (perturbed in place)
// for loss(); `what` names the checked quantity in failure messages.
// `stride` > 1 samples every stride-th entry of a large tensor.
void ExpectGradientMatches(const std::string& what, double* values, int64_t n,
                           const double* analytic,
                           const std::function<double()>& loss,
                           int64_t stride = 1) {
  ASSERT_GT(n, 0) << what;
  int64_t checked = 0;
  for (int64_t i = 0; i < n; i += stride) {
    const double saved = values[i];
    values[i] = saved + kStep;
    const double plus = loss();
    values[i] = saved - kStep;
    const double minus = loss();
    values[i] = saved;
    const double numeric = (plus - minus) / (2 * kStep);
    EXPECT_NEAR(analytic[i], numeric,
                kTolerance * std::max(1.0, std::abs(numeric)))
        << what << " entry " << i;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// One layer with its own buffers, as a Model would bind it.
struct BoundLayer {
  std::unique_ptr<Layer> layer;
  std::vector<double> params, grads, state;

  explicit BoundLayer(std::unique_ptr<Layer> l) : layer(std::move(l)) {
    params.resize(layer->num_params());
    grads.resize(layer->num_params());
    state.resize(layer->num_state());
    layer->Bind(params.data(), grads.data(), state.data());
    Rng init_rng(7);
    layer->Initialize(init_rng);
  }
};

std::unique_ptr<Layer> Make(const std::string& text_kind, int input_dim,
                            const v1::LayerSpec& spec) {
  auto layer = MakeLayer(spec, input_dim, v1::ACTIVATION_UNSPECIFIED);
  EXPECT_TRUE(layer.ok()) << text_kind << ": " << layer.status();
  return layer.ok() ? *std::move(layer) : nullptr;
}

// Checks dL/din and dL/dparams of `layer` at input x in kTrain mode.
// Parameters are first moved off their initial values (gamma = 1, beta = 0
// would hide errors in terms that they multiply).
void CheckLayer(const std::string& name, std::unique_ptr<Layer> layer_ptr,
                Matrix x, int threads = 1, int64_t stride = 1) {
  ASSERT_NE(layer_ptr, nullptr) << name;
  BoundLayer bound(std::move(layer_ptr));
  Layer& layer = *bound.layer;
  Rng rng(99);
  for (double& p : bound.params) p += 0.3 * rng.Normal();
  const Matrix r = RandomMatrix(layer.output_dim(), x.cols(), rng);

  Parallel parallel(threads);
  Rng dropout_rng(kDropoutSeed);
  PassContext ctx{Mode::kTrain, &dropout_rng, &parallel};
  Matrix out;
  auto loss = [&]() {
    dropout_rng = Rng(kDropoutSeed);  // the same dropout mask every time
    layer.Forward(x, out, ctx);
    return (r.array() * out.array()).sum();
  };

  loss();
  ASSERT_EQ(out.rows(), layer.output_dim()) << name;
  ASSERT_EQ(out.cols(), x.cols()) << name;
  Matrix din;
  layer.Backward(x, out, r, &din, ctx);
  ASSERT_EQ(din.rows(), x.rows()) << name;
  ASSERT_EQ(din.cols(), x.cols()) << name;
  const std::vector<double> grads = bound.grads;  // before FD runs overwrite

  ExpectGradientMatches(name + " dL/din", x.data(), x.size(), din.data(), loss,
                        stride);
  if (layer.num_params() > 0) {
    ExpectGradientMatches(name + " dL/dparams", bound.params.data(),
                          layer.num_params(), grads.data(), loss, stride);
  }
}

v1::LayerSpec Dense(int units, bool no_bias = false) {
  v1::LayerSpec spec;
  spec.mutable_dense()->set_units(units);
  spec.mutable_dense()->set_no_bias(no_bias);
  return spec;
}

v1::LayerSpec Activation(v1::ActivationKind kind) {
  v1::LayerSpec spec;
  spec.mutable_activation()->set_kind(kind);
  return spec;
}

v1::LayerSpec Residual(std::vector<v1::LayerSpec> body, float scale) {
  v1::LayerSpec spec;
  for (auto& layer : body) *spec.mutable_residual()->add_layers() = layer;
  spec.mutable_residual()->set_scale(scale);
  return spec;
}

v1::LayerSpec Dropout(float rate) {
  v1::LayerSpec spec;
  spec.mutable_dropout()->set_rate(rate);
  return spec;
}

v1::LayerSpec BatchNorm() {
  v1::LayerSpec spec;
  spec.mutable_batch_norm();
  return spec;
}

v1::LayerSpec LayerNorm() {
  v1::LayerSpec spec;
  spec.mutable_layer_norm();
  return spec;
}

TEST(LayerGradCheck, DenseWithBias) {
  Rng rng(1);
  CheckLayer("dense", Make("dense", 5, Dense(4)), RandomMatrix(5, 6, rng));
}

TEST(LayerGradCheck, DenseWithoutBias) {
  Rng rng(2);
  auto layer = Make("dense", 5, Dense(3, /*no_bias=*/true));
  ASSERT_EQ(layer->num_params(), 15);
  CheckLayer("dense no bias", std::move(layer), RandomMatrix(5, 4, rng));
}

// Large enough that the products are split over two threads, by columns
// (batch 64) and by rows (batch 2); a sample of the entries is checked.
TEST(LayerGradCheck, DenseSplitOverThreads) {
  Rng rng(3);
  CheckLayer("dense 2 threads wide", Make("dense", 64, Dense(64)),
             RandomMatrix(64, 64, rng), /*threads=*/2, /*stride=*/37);
  CheckLayer("dense 2 threads narrow", Make("dense", 300, Dense(256)),
             RandomMatrix(300, 2, rng), /*threads=*/2, /*stride=*/41);
}

TEST(LayerGradCheck, SmoothActivations) {
  for (auto kind : {v1::SIGMOID, v1::TANH, v1::IDENTITY}) {
    Rng rng(4);
    CheckLayer(v1::ActivationKind_Name(kind), Make("act", 6, Activation(kind)),
               RandomMatrix(6, 5, rng, 2.0));
  }
}

TEST(LayerGradCheck, ReluFamilyAwayFromKink) {
  Rng rng(5);
  CheckLayer("relu", Make("relu", 6, Activation(v1::RELU)),
             AwayFromZero(6, 5, rng));
  CheckLayer("leaky default", Make("leaky", 6, Activation(v1::LEAKY_RELU)),
             AwayFromZero(6, 5, rng));
  v1::LayerSpec leaky = Activation(v1::LEAKY_RELU);
  leaky.mutable_activation()->set_alpha(0.2f);
  CheckLayer("leaky 0.2", Make("leaky", 6, leaky), AwayFromZero(6, 5, rng));
}

TEST(LayerGradCheck, BatchNormWithBatchStatistics) {
  Rng rng(6);
  // Shifted and scaled input so the normalisation does real work.
  Matrix x = (RandomMatrix(4, 7, rng, 3.0).array() + 2.0).matrix();
  CheckLayer("batch_norm", Make("bn", 4, BatchNorm()), x);
}

TEST(LayerGradCheck, LayerNorm) {
  Rng rng(7);
  Matrix x = (RandomMatrix(5, 4, rng, 2.0).array() - 1.0).matrix();
  CheckLayer("layer_norm", Make("ln", 5, LayerNorm()), x);
}

TEST(LayerGradCheck, DropoutWithFixedMask) {
  Rng rng(8);
  CheckLayer("dropout", Make("dropout", 6, Dropout(0.4f)),
             RandomMatrix(6, 8, rng));
}

TEST(LayerGradCheck, ResidualScaleOneAndHalf) {
  for (float scale : {1.0f, 0.5f}) {
    Rng rng(9);
    auto spec = Residual({Dense(4), Activation(v1::TANH), Dense(4)}, scale);
    CheckLayer("residual scale " + std::to_string(scale),
               Make("residual", 4, spec), RandomMatrix(4, 5, rng));
  }
}

TEST(LayerGradCheck, NestedResidual) {
  Rng rng(10);
  auto inner = Residual({Dense(4), Activation(v1::SIGMOID)}, 0.5f);
  auto outer = Residual(
      {Dense(4), Activation(v1::TANH), inner, LayerNorm(), Dense(4, true)},
      1.0f);
  CheckLayer("nested residual", Make("residual", 4, outer),
             RandomMatrix(4, 6, rng));
}

// An image-shaped input (2x2x3 = 12 values per sample) through the layers
// that accept images: layer norm over all C*H*W values, a residual block
// keeping the shape, dropout, and a dense layer that flattens it.
TEST(LayerGradCheck, ImageShapedInput) {
  Rng rng(13);
  v1::ModelSpec spec;
  spec.mutable_input_shape()->set_channels(2);
  spec.mutable_input_shape()->set_height(2);
  spec.mutable_input_shape()->set_width(3);
  for (const auto& layer :
       {LayerNorm(), Residual({LayerNorm(), Activation(v1::TANH)}, 0.5f), Dropout(0.25f),
        Dense(4), BatchNorm(), Activation(v1::SIGMOID)}) {
    *spec.add_layers() = layer;
  }
  auto net = MakeSequential(spec.layers(), Shape::Image(2, 2, 3));
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ((*net)->layer(0).output_shape(), Shape::Image(2, 2, 3));
  EXPECT_EQ((*net)->layer(3).output_shape(), Shape::Flat(4));
  Matrix x = (RandomMatrix(12, 5, rng, 2.0).array() + 1.0).matrix();
  CheckLayer("image network", *std::move(net), x);
}

v1::ModelSpec MixedSpec() {
  v1::ModelSpec spec;
  spec.set_input_dim(5);
  for (const auto& layer :
       {Dense(6), BatchNorm(), Activation(v1::TANH), Dropout(0.25f),
        Residual({Dense(6), LayerNorm(), Activation(v1::SIGMOID)}, 0.5f),
        Dense(6, true), Activation(v1::SIGMOID),
        Residual({Dense(6), Activation(v1::TANH)}, 1.0f), Dense(3)}) {
    *spec.add_layers() = layer;
  }
  return spec;
}

// Input gradients of the whole mixed network, through the same builder the
// model uses (Model itself never computes dL/dx).
TEST(LayerGradCheck, MixedNetworkInputGradient) {
  const v1::ModelSpec spec = MixedSpec();
  auto net = MakeSequential(spec.layers(), spec.input_dim());
  ASSERT_TRUE(net.ok()) << net.status();
  Rng rng(11);
  CheckLayer("mixed network", *std::move(net), RandomMatrix(5, 8, rng));
}

TEST(LayerGradCheck, WholeModelParameterGradients) {
  auto model_or = Model::Create(MixedSpec());
  ASSERT_TRUE(model_or.ok()) << model_or.status();
  Model& model = **model_or;
  Rng rng(12);
  model.Initialize(rng);
  for (int64_t i = 0; i < model.num_params(); ++i) {
    model.params()[i] += 0.2 * rng.Normal();
  }
  const Matrix x = RandomMatrix(5, 8, rng);
  const Matrix r = RandomMatrix(3, 8, rng);
  Parallel parallel(1);
  Rng dropout_rng(kDropoutSeed);
  PassContext ctx{Mode::kTrain, &dropout_rng, &parallel};
  auto loss = [&]() {
    dropout_rng = Rng(kDropoutSeed);
    const Matrix& out = model.Forward(x, ctx);
    return (r.array() * out.array()).sum();
  };
  loss();
  model.Backward(r, ctx);
  const std::vector<double> grads(model.grads(),
                                  model.grads() + model.num_params());
  ExpectGradientMatches("model dL/dparams", model.params(), model.num_params(),
                        grads.data(), loss);
}

}  // namespace
}  // namespace trainyard
