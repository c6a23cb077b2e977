// Per-layer diagnostics (core/diagnostics.h): the values of one snapshot
// against a hand computation on a 2-2-1 net, the layer paths and buffer
// slices inside residual blocks, and that diagnostics never change training.
#include "core/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"
#include "tests/testing/trainer_state.h"

namespace trainyard {
namespace {

using testing::BlobsDataset;
using testing::FromJson;
using testing::Params;

// Keeps every snapshot (copies: the trainer reuses its own).
class Recorder final : public TrainingObserver {
 public:
  void OnStep(const StepMetrics& m) override { steps.push_back(m); }
  void OnDiagnostics(const v1::DiagnosticsSnapshot& s) override { snapshots.push_back(s); }
  std::vector<StepMetrics> steps;
  std::vector<v1::DiagnosticsSnapshot> snapshots;
};

double Norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// 2 -> dense(2) -> relu -> dense(1), MSE, plain SGD with lr 0.1, both samples
// in one batch, fixed weights: one step, its snapshot against the same step
// worked out here with scalar arithmetic.
TEST(DiagnosticsTest, OneSgdStepMatchesAHandComputation) {
  const v1::ModelSpec spec = FromJson<v1::ModelSpec>(R"({"inputDim": 2, "layers": [
      {"dense": {"units": 2}}, {"activation": {"kind": "RELU"}},
      {"dense": {"units": 1}}]})");
  const v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
      "loss": {"kind": "MSE"}, "optimizer": {"learningRate": 0.1, "sgd": {}},
      "batchSize": 2, "epochs": 1, "seed": 3, "logEverySteps": 1,
      "diagnostics": {"everySteps": 1, "histograms": true}})");
  // Samples as columns: x1 = (1, 2) -> 1, x2 = (-1, 0.5) -> -1.
  Matrix x(2, 2), t(1, 2);
  x << 1, -1,
       2, 0.5;
  t << 1, -1;
  auto data = std::make_shared<const Dataset>(x, t, false, v1::PREPROCESSING_NONE);
  auto trainer = Trainer::Create(spec, config, data, nullptr, TrainerOptions{});
  ASSERT_TRUE(trainer.ok()) << trainer.status();

  // W0 (2x2, column-major in the buffer), b0, W1 (1x2), b1.
  const double W0[2][2] = {{0.5, -0.25}, {-0.5, 0.75}};
  const double b0[2] = {0.1, -0.2};
  const double W1[2] = {0.6, -0.4};
  const double b1 = 0.05;
  v1::Checkpoint fixed = (*trainer)->MakeCheckpoint();
  ASSERT_EQ(fixed.params_size(), 9);
  const double flat[9] = {W0[0][0], W0[1][0], W0[0][1], W0[1][1], b0[0], b0[1],
                          W1[0],    W1[1],    b1};
  for (int i = 0; i < 9; ++i) fixed.set_params(i, static_cast<float>(flat[i]));
  ASSERT_TRUE((*trainer)->InitializeFrom(fixed).ok());

  Recorder rec;
  ASSERT_TRUE((*trainer)->Step(&rec).ok());
  ASSERT_EQ(rec.snapshots.size(), 1u);
  const v1::DiagnosticsSnapshot& snap = rec.snapshots[0];
  EXPECT_EQ(snap.step(), 1);
  EXPECT_EQ(snap.epoch(), 1);
  ASSERT_EQ(snap.layers_size(), 3);
  EXPECT_EQ(snap.layers(0).path(), "layers[0].dense");
  EXPECT_EQ(snap.layers(1).path(), "layers[1].activation");
  EXPECT_EQ(snap.layers(2).path(), "layers[2].dense");

  // Forward, loss gradient dL/dy = 2 (y - t) / B, backward, by hand.
  const double xs[2][2] = {{1, 2}, {-1, 0.5}};
  const double ts[2] = {1, -1};
  double gW0[2][2] = {}, gb0[2] = {}, gW1[2] = {}, gb1 = 0;
  std::vector<double> relu_out;
  for (int n = 0; n < 2; ++n) {
    double h[2], a[2];
    for (int i = 0; i < 2; ++i) {
      h[i] = W0[i][0] * xs[n][0] + W0[i][1] * xs[n][1] + b0[i];
      a[i] = h[i] > 0 ? h[i] : 0;
      relu_out.push_back(a[i]);
    }
    const double y = W1[0] * a[0] + W1[1] * a[1] + b1;
    const double dy = 2 * (y - ts[n]) / 2;
    gb1 += dy;
    for (int i = 0; i < 2; ++i) {
      gW1[i] += dy * a[i];
      const double dh = h[i] > 0 ? dy * W1[i] : 0;
      gb0[i] += dh;
      for (int j = 0; j < 2; ++j) gW0[i][j] += dh * xs[n][j];
    }
  }
  // h = (0.1, 0.8) and (-0.525, 0.675): one dead unit of four.
  const std::vector<double> g0 = {gW0[0][0], gW0[0][1], gW0[1][0], gW0[1][1], gb0[0], gb0[1]};
  const std::vector<double> w0 = {W0[0][0], W0[0][1], W0[1][0], W0[1][1], b0[0], b0[1]};
  const std::vector<double> g2 = {gW1[0], gW1[1], gb1};
  const std::vector<double> w2 = {W1[0], W1[1], b1};
  constexpr double kTol = 1e-6;  // float training, double reference

  const v1::ParameterDiagnostics& p0 = snap.layers(0).parameters();
  EXPECT_NEAR(p0.grad_norm(), Norm(g0), kTol);
  EXPECT_NEAR(p0.weight_norm(), Norm(w0), kTol);
  // SGD: ||dw|| = lr ||g||.
  EXPECT_NEAR(p0.update_ratio(), 0.1 * Norm(g0) / Norm(w0), kTol);
  const v1::ParameterDiagnostics& p2 = snap.layers(2).parameters();
  EXPECT_NEAR(p2.grad_norm(), Norm(g2), kTol);
  EXPECT_NEAR(p2.weight_norm(), Norm(w2), kTol);
  EXPECT_NEAR(p2.update_ratio(), 0.1 * Norm(g2) / Norm(w2), kTol);
  EXPECT_FALSE(snap.layers(0).has_activation());
  EXPECT_FALSE(snap.layers(1).has_parameters());

  // The ReLU's outputs: 0.1, 0.8, 0, 0.675.
  const v1::ActivationDiagnostics& a = snap.layers(1).activation();
  const double mean = (0.1 + 0.8 + 0 + 0.675) / 4;
  double var = 0;
  for (double v : relu_out) var += (v - mean) * (v - mean);
  EXPECT_NEAR(a.mean(), mean, kTol);
  EXPECT_NEAR(a.std(), std::sqrt(var / 4), kTol);
  EXPECT_DOUBLE_EQ(a.zero_fraction(), 0.25);
  // 20 bins over [0, 0.8], width 0.04: 0 -> bin 0, 0.1 -> bin 2,
  // 0.675 -> bin 16, 0.8 (the max) -> the last bin.
  ASSERT_TRUE(a.has_histogram());
  EXPECT_NEAR(a.histogram().min(), 0, kTol);
  EXPECT_NEAR(a.histogram().max(), 0.8, kTol);
  std::vector<int64_t> want(kDiagnosticsHistogramBins, 0);
  want[0] = want[2] = want[16] = want[19] = 1;
  EXPECT_THAT(a.histogram().counts(), ::testing::ElementsAreArray(want));
}

TEST(DiagnosticsTest, HistogramOfConstantValuesFillsTheFirstBin) {
  Matrix m = Matrix::Constant(3, 2, 0.5f);
  v1::ActivationDiagnostics a;
  v1::Histogram h;
  SummarizeActivation(m, &a, &h);
  EXPECT_DOUBLE_EQ(a.mean(), 0.5);
  EXPECT_DOUBLE_EQ(a.std(), 0);
  EXPECT_DOUBLE_EQ(a.zero_fraction(), 0);
  EXPECT_EQ(h.min(), 0.5);
  EXPECT_EQ(h.max(), 0.5);
  ASSERT_EQ(h.counts_size(), kDiagnosticsHistogramBins);
  EXPECT_EQ(h.counts(0), 6);
  EXPECT_EQ(std::accumulate(h.counts().begin(), h.counts().end(), int64_t{0}), 6);
}

// Batch norm, dropout and a residual block with a batch norm inside: every
// layer named by its spec path, each parameter slice its own (the squared
// layer norms add up to the global gradient norm), and batch norm's running
// statistics read from its own slice of the state.
TEST(DiagnosticsTest, PathsAndSlicesInsideResidualBlocks) {
  const v1::ModelSpec spec = FromJson<v1::ModelSpec>(R"({"inputDim": 4, "layers": [
      {"dense": {"units": 6}}, {"batchNorm": {}}, {"activation": {"kind": "RELU"}},
      {"residual": {"layers": [{"dense": {"units": 6}}, {"batchNorm": {}},
                               {"activation": {"kind": "TANH"}}]}},
      {"dropout": {"rate": 0.5}}, {"dense": {"units": 3}}]})");
  const v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
      "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
      "batchSize": 8, "epochs": 1, "seed": 5, "logEverySteps": 1,
      "diagnostics": {"everySteps": 3}})");
  auto trainer = Trainer::Create(spec, config, BlobsDataset(48, 4, 2), nullptr,
                                 TrainerOptions{});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  Recorder rec;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*trainer)->Step(&rec).ok());
  ASSERT_EQ(rec.snapshots.size(), 1u);  // at step 3 only
  const v1::DiagnosticsSnapshot& snap = rec.snapshots[0];
  EXPECT_EQ(snap.step(), 3);
  std::vector<std::string> paths;
  for (const auto& l : snap.layers()) paths.push_back(l.path());
  EXPECT_THAT(paths, ::testing::ElementsAre(
                         "layers[0].dense", "layers[1].batch_norm", "layers[2].activation",
                         "layers[3].residual.layers[0].dense",
                         "layers[3].residual.layers[1].batch_norm",
                         "layers[3].residual.layers[2].activation", "layers[4].dropout",
                         "layers[5].dense"));

  double squares = 0;
  for (const auto& l : snap.layers()) {
    if (l.has_parameters()) squares += l.parameters().grad_norm() * l.parameters().grad_norm();
  }
  const double global = rec.steps.back().grad_norm;
  EXPECT_NEAR(std::sqrt(squares), global, 1e-5 * global);

  // Dropout at rate 0.5 zeroes about half its outputs (and ReLU's zeros).
  EXPECT_GT(snap.layers(6).activation().zero_fraction(), 0.3);
  EXPECT_FALSE(snap.layers(6).activation().has_histogram());  // not asked for

  // State: [bn1 mean(6), bn1 var(6), bn2 mean(6), bn2 var(6)].
  const std::vector<Scalar> state = testing::LayerState(**trainer);
  ASSERT_EQ(state.size(), 24u);
  auto expect_summary = [&](const v1::LayerDiagnostics& l, size_t begin) {
    ASSERT_EQ(l.state_size(), 2);
    EXPECT_EQ(l.state(0).name(), "running_mean");
    EXPECT_EQ(l.state(1).name(), "running_var");
    for (int part = 0; part < 2; ++part) {
      auto first = state.begin() + static_cast<ptrdiff_t>(begin + 6 * part);
      const double sum = std::accumulate(first, first + 6, 0.0);
      EXPECT_NEAR(l.state(part).summary().mean(), sum / 6, 1e-6) << l.path() << " " << part;
      EXPECT_EQ(l.state(part).summary().min(), *std::min_element(first, first + 6));
      EXPECT_EQ(l.state(part).summary().max(), *std::max_element(first, first + 6));
    }
  };
  expect_summary(snap.layers(1), 0);
  expect_summary(snap.layers(4), 12);
}

// A model touching every piece diagnostics could disturb (dropout's RNG,
// batch norm's statistics, Adam's moments), trained for two epochs with and
// without diagnostics at every step: the same parameters and state, bit for
// bit; without diagnostics, no snapshot at all.
TEST(DiagnosticsTest, DoNotChangeTrainingAndAreOffByDefault) {
  const v1::ModelSpec spec = FromJson<v1::ModelSpec>(R"({"inputDim": 4, "layers": [
      {"dense": {"units": 8}}, {"batchNorm": {}}, {"activation": {"kind": "RELU"}},
      {"dropout": {"rate": 0.3}},
      {"residual": {"layers": [{"dense": {"units": 8}}, {"activation": {"kind": "TANH"}}]}},
      {"dense": {"units": 3}}]})");
  v1::TrainingConfig plain = FromJson<v1::TrainingConfig>(R"({
      "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
      "batchSize": 8, "epochs": 2, "seed": 9, "logEverySteps": 1})");
  v1::TrainingConfig diagnosed = plain;
  diagnosed.mutable_diagnostics()->set_every_steps(1);
  diagnosed.mutable_diagnostics()->set_histograms(true);
  auto data = BlobsDataset(60, 4, 4);

  auto a = Trainer::Create(spec, plain, data, nullptr, TrainerOptions{});
  auto b = Trainer::Create(spec, diagnosed, data, nullptr, TrainerOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  Recorder ra, rb;
  ASSERT_TRUE((*a)->Run(&ra, nullptr).ok());
  ASSERT_TRUE((*b)->Run(&rb, nullptr).ok());
  EXPECT_TRUE(ra.snapshots.empty());
  ASSERT_EQ(rb.snapshots.size(), 16u);  // 8 steps per epoch, every step
  EXPECT_EQ(rb.snapshots.back().step(), 16);
  EXPECT_EQ(rb.snapshots.back().epoch(), 2);
  EXPECT_EQ(Params(**a), Params(**b));
  EXPECT_EQ(testing::LayerState(**a), testing::LayerState(**b));
  ASSERT_EQ(ra.steps.size(), rb.steps.size());
  for (size_t i = 0; i < ra.steps.size(); ++i) {
    EXPECT_EQ(ra.steps[i].loss, rb.steps[i].loss) << "step " << i + 1;
  }
}

}  // namespace
}  // namespace trainyard
