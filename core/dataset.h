// An in-memory dataset: features and targets of N samples. Immutable once
// loaded and shared read-only (std::shared_ptr<const Dataset>) by every job
// that uses it, so it is held once however many jobs train on it.
#ifndef TRAINYARD_CORE_DATASET_H_
#define TRAINYARD_CORE_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "trainyard/v1/dataset.pb.h"

namespace trainyard {

class Dataset {
 public:
  // Takes ownership of features (num_features, N) and targets (target_dim, N).
  // REQUIRES: same number of columns, all values finite.
  Dataset(Matrix features, Matrix targets, bool integer_labels,
          v1::Preprocessing preprocessing);

  int64_t num_samples() const { return features_.cols(); }
  int num_features() const { return static_cast<int>(features_.rows()); }
  int target_dim() const { return static_cast<int>(targets_.rows()); }
  // True when loaded as CLASS_LABELS: one target row, every value an integer,
  // either all >= 0 (classes; num_classes() = max label + 1) or all in
  // {-1, +1} (signs, for PERCEPTRON and HINGE; num_classes() = 2).
  bool integer_labels() const { return integer_labels_; }
  int num_classes() const { return num_classes_; }
  double min_target() const;  // over all targets
  double max_target() const;
  // The preprocessing chosen when the data was loaded; the trainer computes
  // its statistics on the training split (core/preprocess.h).
  v1::Preprocessing preprocessing() const { return preprocessing_; }

  const Matrix& features() const { return features_; }  // (num_features, N)
  const Matrix& targets() const { return targets_; }    // (target_dim, N)

  // Bytes of memory held, for limits and listings.
  int64_t memory_bytes() const;

 private:
  Matrix features_;
  Matrix targets_;
  bool integer_labels_;
  int num_classes_ = 0;
  v1::Preprocessing preprocessing_;
};

// Parses CSV text per `options`. Errors are INVALID_ARGUMENT naming the place,
// e.g. "row 17, column 3 (\"petal_width\"): \"abc\" is not a number".
absl::StatusOr<std::shared_ptr<const Dataset>> LoadCsv(
    std::string_view text, const v1::CsvOptions& options);

// Parses an IDX images file and an IDX labels file (MNIST format), each raw or
// gzip-compressed (detected by the gzip magic). Images become
// rows*cols features per sample, labels integer classes.
absl::StatusOr<std::shared_ptr<const Dataset>> LoadIdx(
    std::string_view images, std::string_view labels,
    v1::Preprocessing preprocessing);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATASET_H_
