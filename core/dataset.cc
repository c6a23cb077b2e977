#include "core/dataset.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace trainyard {

Dataset::Dataset(Matrix features, Matrix targets, bool integer_labels,
                 v1::Preprocessing preprocessing)
    : features_(std::move(features)),
      targets_(std::move(targets)),
      integer_labels_(integer_labels),
      preprocessing_(preprocessing) {
  eigen_assert(features_.cols() == targets_.cols());
  if (targets_.size() > 0) {
    // A plain loop rather than minCoeff()/maxCoeff(): GCC 12 reports a false
    // -Wmaybe-uninitialized inside Eigen's AVX-512 min/max reductions.
    const Scalar* t = targets_.data();
    Scalar lo = t[0], hi = t[0];
    for (Eigen::Index i = 1; i < targets_.size(); ++i) {
      lo = std::min(lo, t[i]);
      hi = std::max(hi, t[i]);
    }
    min_target_ = lo;
    max_target_ = hi;
  }
  if (integer_labels_ && targets_.size() > 0) {
    // The loaders only admit a negative label when every label is -1 or +1.
    sign_labels_ = min_target_ < 0;
    num_classes_ = sign_labels_ ? 2 : static_cast<int>(max_target_) + 1;
  }
}

int64_t Dataset::memory_bytes() const {
  return static_cast<int64_t>(sizeof(Scalar)) *
             (features_.size() + targets_.size()) +
         static_cast<int64_t>(sizeof(Dataset));
}

}  // namespace trainyard
