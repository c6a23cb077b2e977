// Feature preprocessing fitted on a training split: x' = (x - offset) .* scale
// per feature. The same fitted values are applied to validation data and at
// prediction time, and stored in checkpoints (v1::PreprocessorState).
#ifndef TRAINYARD_CORE_PREPROCESS_H_
#define TRAINYARD_CORE_PREPROCESS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dataset.h"
#include "core/tensor.h"
#include "trainyard/v1/dataset.pb.h"

namespace trainyard {

struct Preprocessor {
  v1::Preprocessing kind = v1::PREPROCESSING_NONE;
  // (num_features) each; empty for PREPROCESSING_NONE.
  Vector offset;
  Vector scale;

  // batch: (num_features, B), transformed in place; vectorised, allocates
  // nothing. A no-op for PREPROCESSING_NONE.
  // REQUIRES: batch.rows() == offset.size() unless kind is NONE.
  void Apply(Eigen::Ref<Matrix> batch) const;
};

// The fitted values as stored in checkpoints.
v1::PreprocessorState PreprocessorToProto(const Preprocessor& preprocessor);

// Checks a stored state: a known kind; for NONE no values, otherwise offset
// and scale of equal length (== num_features when num_features >= 0), every
// value finite, no zero scale. Errors are INVALID_ARGUMENT naming the field
// ("preprocessor.scale[3] ...").
absl::StatusOr<Preprocessor> PreprocessorFromProto(const v1::PreprocessorState& state,
                                                   int num_features = -1);

// Fits dataset.preprocessing() on the samples `train_indices`:
//   SCALE_01: the global min and max over every feature of those samples;
//     offset = min for every feature, scale = 1 / (max - min), or 1 when
//     max == min.
//   STANDARDIZE: per feature mean and population standard deviation;
//     offset = mean, scale = 1 / std, or 1 when std == 0 (only centred).
// Statistics are accumulated in double. An empty index set gives offset 0 and
// scale 1. REQUIRES: every index in [0, dataset.num_samples()).
Preprocessor FitPreprocessor(const Dataset& dataset,
                             absl::Span<const int64_t> train_indices);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_PREPROCESS_H_
