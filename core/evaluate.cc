#include "core/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/checkpoint.h"
#include "core/data/split.h"
#include "core/data_check.h"

namespace trainyard {
namespace {

// A 64-bit key of column j's raw values (their bit patterns, with -0 read as
// +0 since the model cannot tell them apart), mixed with splitmix64's
// finaliser: Monte-Carlo dropout's per-row stream id.
uint64_t RowKey(const Matrix& features, int64_t j) {
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int64_t i = 0; i < features.rows(); ++i) {
    Scalar v = features(i, j);
    if (v == Scalar(0)) v = Scalar(0);
    uint64_t bits = 0;
    static_assert(sizeof(v) <= sizeof(bits));
    std::memcpy(&bits, &v, sizeof(v));
    h = mix(h ^ bits) + 0x9e3779b97f4a7c15ULL;
  }
  return h;
}

}  // namespace

EvalMetrics EvaluateModel(Model& model, const Loss& loss,
                          const Preprocessor& preprocessor, const Dataset& data,
                          absl::Span<const int64_t> indices, Parallel& parallel,
                          int batch_size) {
  std::vector<int64_t> all;
  if (indices.empty()) {
    all.resize(data.num_samples());
    for (int64_t i = 0; i < data.num_samples(); ++i) all[i] = i;
    indices = all;
  }
  const PassContext ctx{Mode::kEval, nullptr, &parallel};
  const bool has_accuracy = loss.target_kind() != TargetKind::kRegression;
  // Class labels are indices, not values to compare with outputs; MSE/MAE are
  // only meaningful when targets and outputs have the same shape.
  const bool elementwise = data.target_dim() == model.output_dim() &&
                           loss.target_kind() != TargetKind::kClassIndex;
  Matrix x, y;
  double loss_sum = 0, se = 0, ae = 0;
  int64_t correct = 0;
  const int64_t n = static_cast<int64_t>(indices.size());
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min<int64_t>(begin + batch_size, n);
    const absl::Span<const int64_t> idx = indices.subspan(begin, end - begin);
    GatherColumns(data.features(), idx, x);
    preprocessor.Apply(x);
    GatherColumns(data.targets(), idx, y);
    const Matrix& out = model.Forward(x, ctx);
    loss_sum += loss.Compute(out, y, nullptr) * static_cast<double>(end - begin);
    if (has_accuracy) correct += loss.CountCorrect(out, y);
    if (elementwise) {
      se += (out - y).squaredNorm();
      ae += (out - y).cwiseAbs().sum();
    }
  }
  EvalMetrics m;
  m.samples = n;
  m.loss = n > 0 ? loss_sum / n : 0;
  m.accuracy = has_accuracy && n > 0 ? static_cast<double>(correct) / n : -1;
  const double elems = static_cast<double>(n) * model.output_dim();
  m.mse = elementwise && n > 0 ? se / elems : 0;
  m.mae = elementwise && n > 0 ? ae / elems : 0;
  return m;
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::Create(
    const v1::Checkpoint& checkpoint, int threads) {
  if (absl::Status s = ValidateCheckpoint(checkpoint); !s.ok()) return s;
  std::unique_ptr<Predictor> p(new Predictor());
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(checkpoint.model());
  if (!model.ok()) return model.status();
  p->model_ = *std::move(model);
  std::copy(checkpoint.params().begin(), checkpoint.params().end(),
            p->model_->params());
  std::copy(checkpoint.layer_state().begin(), checkpoint.layer_state().end(),
            p->model_->state());
  absl::StatusOr<std::unique_ptr<Loss>> loss = Loss::Create(checkpoint.training().loss());
  if (!loss.ok()) return loss.status();
  p->loss_ = *std::move(loss);
  p->loss_spec_ = checkpoint.training().loss();
  absl::StatusOr<Preprocessor> pre = PreprocessorFromProto(checkpoint.preprocessor());
  if (!pre.ok()) return pre.status();
  p->preprocessor_ = *std::move(pre);
  p->parallel_ = std::make_unique<Parallel>(threads);
  return p;
}

absl::StatusOr<Prediction> Predictor::Predict(const Matrix& features,
                                              int mc_samples, uint64_t seed) {
  if (features.rows() != model_->input_dim()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "features: each row needs %d values (the model's input_dim), got %d",
        model_->input_dim(), features.rows()));
  }
  if (mc_samples < 0 || mc_samples > 10000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mc_samples must be in [0, 10000], got %d", mc_samples));
  }
  for (int64_t j = 0; j < features.cols(); ++j) {
    if (!features.col(j).allFinite()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("features: row %d has a NaN or Inf value", j));
    }
  }
  Matrix x = features;
  preprocessor_.Apply(x);
  Prediction p;
  if (mc_samples == 0) {
    p.mean = model_->Forward(x, PassContext{Mode::kEval, nullptr, parallel_.get()});
    return p;
  }
  // A row's result must not depend on the other rows of the request: its
  // dropout masks come from a stream of its own, forked from the seed by the
  // row's values (not its position), and its passes are run as a batch of
  // copies of that row alone, so that the arithmetic too (Eigen picks GEMV or
  // GEMM kernels, and their summation order, by batch width) is the same
  // whoever shares the request. Passes go kPassesPerForward at a time, which
  // bounds the activations at width x kPassesPerForward.
  constexpr int kPassesPerForward = 64;
  const int64_t outputs = model_->output_dim();
  const Rng base(seed);
  // Welford's running mean and variance over the passes, in double so that
  // many passes do not lose precision.
  Eigen::MatrixXd mean = Eigen::MatrixXd::Zero(outputs, x.cols());
  Eigen::MatrixXd m2 = Eigen::MatrixXd::Zero(outputs, x.cols());
  Matrix copies;
  for (int64_t j = 0; j < x.cols(); ++j) {
    Rng rng = base.Fork(RowKey(features, j));
    const PassContext ctx{Mode::kMonteCarlo, &rng, parallel_.get()};
    Eigen::VectorXd row_mean = Eigen::VectorXd::Zero(outputs);
    Eigen::VectorXd row_m2 = Eigen::VectorXd::Zero(outputs);
    int k = 0;
    for (int done = 0; done < mc_samples; done += kPassesPerForward) {
      const int passes = std::min(kPassesPerForward, mc_samples - done);
      copies = x.col(j).replicate(1, passes);
      const Eigen::MatrixXd out = model_->Forward(copies, ctx).cast<double>();
      for (int c = 0; c < passes; ++c) {
        ++k;
        const Eigen::VectorXd delta = out.col(c) - row_mean;
        row_mean += delta / k;
        row_m2.array() += delta.array() * (out.col(c) - row_mean).array();
      }
    }
    mean.col(j) = row_mean;
    m2.col(j) = row_m2;
  }
  p.mean = mean.cast<Scalar>();
  p.stddev = (m2 / mc_samples).cwiseSqrt().cast<Scalar>();
  return p;
}

absl::StatusOr<Prediction> Predictor::PredictInChunks(const Matrix& features, int mc_samples,
                                                      uint64_t seed, int64_t max_rows) {
  // Eigen computes a column of a matrix product with a different kernel
  // (and so, in float, possibly different last bits) depending on where it
  // falls: a full group of SIMD columns, the group left over at the end, a
  // matrix-vector product for one column, a coefficient-wise product for
  // tiny shapes. Chunks that are whole multiples of kChunkAlign columns, with
  // the remainder in the last one, put every column in the same place as in
  // one pass over all of them, so the outputs are bit-identical.
  constexpr int64_t kChunkAlign = 32;
  const int64_t n = features.cols();
  const int64_t step = std::max(kChunkAlign, max_rows / kChunkAlign * kChunkAlign);
  if (n < 2 * step) return Predict(features, mc_samples, seed);
  // Checked on the whole matrix first, so that a bad row is named by its
  // index in the request rather than in its chunk.
  for (int64_t j = 0; j < n; ++j) {
    if (!features.col(j).allFinite()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("features: row %d has a NaN or Inf value", j));
    }
  }
  Prediction all;
  for (int64_t begin = 0; begin < n;) {
    const int64_t rows = n - begin < 2 * step ? n - begin : step;
    absl::StatusOr<Prediction> part =
        Predict(features.middleCols(begin, rows), mc_samples, seed);
    if (!part.ok()) return part.status();
    if (begin == 0) {
      all.mean.resize(part->mean.rows(), n);
      if (part->stddev.size() > 0) all.stddev.resize(part->stddev.rows(), n);
    }
    all.mean.middleCols(begin, rows) = part->mean;
    if (all.stddev.size() > 0) all.stddev.middleCols(begin, rows) = part->stddev;
    begin += rows;
  }
  return all;
}

absl::StatusOr<EvalMetrics> Predictor::Evaluate(const Dataset& data, int batch_size) {
  if (absl::Status s = CheckDataFitsModel(data, model_->input_shape(),
                                          model_->output_dim(), loss_spec_,
                                          "dataset");
      !s.ok()) {
    return s;
  }
  return EvaluateModel(*model_, *loss_, preprocessor_, data, {}, *parallel_,
                       std::max(1, batch_size));
}

}  // namespace trainyard
