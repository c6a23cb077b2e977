#include "core/data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/rng.h"

namespace trainyard {

Split SplitIndices(int64_t n, double validation_fraction, uint64_t seed) {
  Split split;
  if (n <= 0) return split;
  int64_t num_validation = 0;
  if (validation_fraction > 0 && n >= 2) {
    const double fraction = std::min(validation_fraction, 1.0);
    num_validation = static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction));
    num_validation = std::clamp<int64_t>(num_validation, 1, n - 1);
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Partial Fisher-Yates: the first num_validation slots become a uniform
  // random subset.
  Rng rng(seed);
  for (int64_t i = 0; i < num_validation; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n - i)));
    std::swap(order[i], order[j]);
  }
  split.validation.assign(order.begin(), order.begin() + num_validation);
  split.train.assign(order.begin() + num_validation, order.end());
  std::sort(split.validation.begin(), split.validation.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

void GatherColumns(const Matrix& src, absl::Span<const int64_t> idx, Matrix& dst) {
  const Eigen::Index rows = src.rows();
  const auto cols = static_cast<Eigen::Index>(idx.size());
  if (dst.rows() != rows || dst.cols() != cols) dst.resize(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    eigen_assert(idx[j] >= 0 && idx[j] < src.cols());
    dst.col(j) = src.col(idx[j]);
  }
}

}  // namespace trainyard
