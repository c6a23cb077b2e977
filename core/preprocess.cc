#include "core/preprocess.h"

#include <cmath>
#include <algorithm>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trainyard {

void Preprocessor::Apply(Eigen::Ref<Matrix> batch) const {
  if (kind == v1::PREPROCESSING_NONE) return;
  eigen_assert(batch.rows() == offset.size());
  // One fused pass over the batch; each column is a sample.
  batch.array() = (batch.array().colwise() - offset.array()).colwise() * scale.array();
}

v1::PreprocessorState PreprocessorToProto(const Preprocessor& p) {
  const Vector& offset = p.offset;
  const Vector& scale = p.scale;
  v1::PreprocessorState state;
  state.set_kind(p.kind);
  state.mutable_offset()->Reserve(static_cast<int>(offset.size()));
  state.mutable_scale()->Reserve(static_cast<int>(scale.size()));
  for (Eigen::Index i = 0; i < offset.size(); ++i) {
    state.add_offset(static_cast<float>(offset[i]));
  }
  for (Eigen::Index i = 0; i < scale.size(); ++i) {
    state.add_scale(static_cast<float>(scale[i]));
  }
  return state;
}

absl::StatusOr<Preprocessor> PreprocessorFromProto(const v1::PreprocessorState& state,
                                                   int num_features) {
  if (!v1::Preprocessing_IsValid(state.kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("preprocessor.kind: unknown value ", state.kind()));
  }
  Preprocessor p;
  p.kind = state.kind();
  const int expected = p.kind == v1::PREPROCESSING_NONE ? 0
                       : num_features >= 0                ? num_features
                                                          : state.offset_size();
  if (state.offset_size() != expected || state.scale_size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "preprocessor: offset and scale must have ", expected, " values each, got ",
        state.offset_size(), " and ", state.scale_size()));
  }
  p.offset.resize(expected);
  p.scale.resize(expected);
  for (int i = 0; i < expected; ++i) {
    const float o = state.offset(i);
    const float s = state.scale(i);
    if (!std::isfinite(o)) {
      return absl::InvalidArgumentError(
          absl::StrCat("preprocessor.offset[", i, "] is not finite"));
    }
    if (!std::isfinite(s) || s == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("preprocessor.scale[", i, "] must be finite and non-zero, got ", s));
    }
    p.offset[i] = o;
    p.scale[i] = s;
  }
  return p;
}

namespace {

using VectorD = Eigen::VectorXd;

// A scale that keeps x' finite: 1 for a spread of 0 (or one too small to
// invert in Scalar).
Scalar InverseSpread(double spread) {
  if (!(spread > 0)) return 1;
  const double inv = 1.0 / spread;
  return std::isfinite(static_cast<Scalar>(inv)) ? static_cast<Scalar>(inv) : Scalar{1};
}

}  // namespace

Preprocessor FitPreprocessor(const Dataset& dataset,
                             absl::Span<const int64_t> train_indices) {
  Preprocessor p;
  p.kind = dataset.preprocessing();
  if (p.kind == v1::PREPROCESSING_NONE) return p;
  const int f = dataset.num_features();
  p.offset = Vector::Zero(f);
  p.scale = Vector::Ones(f);
  if (train_indices.empty() || f == 0) return p;
  const Matrix& x = dataset.features();

  if (p.kind == v1::SCALE_01) {
    // Per-feature running min/max (vectorised element-wise loops), then one
    // reduction; plain loops because GCC 12 warns falsely inside Eigen's
    // AVX-512 minCoeff()/maxCoeff().
    std::vector<Scalar> lo(x.col(train_indices[0]).begin(), x.col(train_indices[0]).end());
    std::vector<Scalar> hi = lo;
    for (int64_t j : train_indices) {
      const Scalar* col = x.col(j).data();
      for (int i = 0; i < f; ++i) {
        lo[i] = col[i] < lo[i] ? col[i] : lo[i];
        hi[i] = col[i] > hi[i] ? col[i] : hi[i];
      }
    }
    const Scalar min = *std::min_element(lo.begin(), lo.end());
    const Scalar max = *std::max_element(hi.begin(), hi.end());
    const double spread = static_cast<double>(max) - static_cast<double>(min);
    p.offset.setConstant(min);
    p.scale.setConstant(InverseSpread(spread));
    return p;
  }

  // STANDARDIZE, two passes (mean, then squared deviations) in double: the
  // one-pass sum of squares cancels badly for features with a large mean.
  const double n = static_cast<double>(train_indices.size());
  VectorD sum = VectorD::Zero(f);
  for (int64_t j : train_indices) sum += x.col(j).cast<double>();
  const VectorD mean = sum / n;
  VectorD squares = VectorD::Zero(f);
  for (int64_t j : train_indices) {
    squares += (x.col(j).cast<double>() - mean).array().square().matrix();
  }
  for (int i = 0; i < f; ++i) {
    p.offset[i] = static_cast<Scalar>(mean[i]);
    p.scale[i] = InverseSpread(std::sqrt(squares[i] / n));
  }
  return p;
}

}  // namespace trainyard
