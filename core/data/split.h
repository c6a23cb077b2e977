// Train/validation splits and mini-batch gathering by sample index.
#ifndef TRAINYARD_CORE_DATA_SPLIT_H_
#define TRAINYARD_CORE_DATA_SPLIT_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/tensor.h"

namespace trainyard {

struct Split {
  std::vector<int64_t> train;       // sorted ascending
  std::vector<int64_t> validation;  // sorted ascending
};

// Splits the sample indices [0, n) at random (seeded, so the same seed gives
// the same split on every platform). validation gets round(n * fraction)
// samples, at least 1 when fraction > 0 and n >= 2, and at most n - 1 so that
// training keeps a sample; train gets the rest. Both are sorted so batches
// read memory in order. A fraction outside [0, 1) or NaN is clamped.
Split SplitIndices(int64_t n, double validation_fraction, uint64_t seed);

// dst = the columns idx of src, in that order: (src.rows(), idx.size()).
// Allocates nothing when dst already has that shape.
// REQUIRES: every index in [0, src.cols()).
void GatherColumns(const Matrix& src, absl::Span<const int64_t> idx, Matrix& dst);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATA_SPLIT_H_
