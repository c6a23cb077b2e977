// An in-memory dataset: features and targets of N samples. Immutable once
// loaded and shared read-only (std::shared_ptr<const Dataset>) by every job
// that uses it, so it is held once however many jobs train on it.
#ifndef TRAINYARD_CORE_DATASET_H_
#define TRAINYARD_CORE_DATASET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "trainyard/v1/dataset.pb.h"

namespace trainyard {

class Dataset {
 public:
  // Takes ownership of features (num_features, N) and targets (target_dim, N).
  // REQUIRES: same number of columns, all values finite; when integer_labels,
  // one target row of integers, all >= 0 or all in {-1, +1}.
  Dataset(Matrix features, Matrix targets, bool integer_labels,
          v1::Preprocessing preprocessing);

  int64_t num_samples() const { return features_.cols(); }
  int num_features() const { return static_cast<int>(features_.rows()); }
  int target_dim() const { return static_cast<int>(targets_.rows()); }
  // True when loaded as CLASS_LABELS: one target row, every value an integer,
  // either all >= 0 (classes; num_classes() = max label + 1) or all in
  // {-1, +1} (signs, for PERCEPTRON and HINGE; num_classes() = 2).
  bool integer_labels() const { return integer_labels_; }
  // True when integer_labels() and the labels are signs (some label is -1).
  bool sign_labels() const { return sign_labels_; }
  int num_classes() const { return num_classes_; }
  double min_target() const { return min_target_; }  // over all targets; 0 if none
  double max_target() const { return max_target_; }
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
  bool sign_labels_ = false;
  int num_classes_ = 0;
  double min_target_ = 0;
  double max_target_ = 0;
  v1::Preprocessing preprocessing_;
};

// Size guards for loaders, so that a hostile or broken file is an error and
// not an out-of-memory crash. A service may tighten them.
struct DataLimits {
  // Largest decompressed size of one gzip stream (a zip-bomb guard): counted
  // while inflating, which stops as soon as it is passed (RESOURCE_EXHAUSTED
  // naming the file and decompressed_limit_name).
  int64_t max_decompressed_bytes = int64_t{4} << 30;
  // What to call that limit in errors (a server names its own option).
  std::string decompressed_limit_name = "max_decompressed_bytes";
  // Called before a loader allocates `bytes` more of its large buffers (the
  // decompression buffer, the feature and target matrices); a non-OK status
  // ends the load with it. Empty: no accounting. For a server's memory budget
  // over parses in flight.
  std::function<absl::Status(int64_t bytes)> reserve_memory;
  // Largest number of feature values (num_features * N) of one dataset.
  int64_t max_values = int64_t{1} << 30;
};

// Parses CSV text per `options`. Errors are INVALID_ARGUMENT naming the place
// with 1-based file lines and columns, e.g.
//   line 17, column 3 ("petal_width"): "abc" is not a number
// Blank lines are skipped (line numbers still count them); "\r\n" endings, a
// UTF-8 byte-order mark and spaces around numbers are accepted; quoted fields
// are not (a '"' is an error).
absl::StatusOr<std::shared_ptr<const Dataset>> LoadCsv(
    std::string_view text, const v1::CsvOptions& options,
    const DataLimits& limits = {});

// Parses an IDX images file and an IDX labels file (MNIST format), each raw or
// gzip-compressed (detected by the gzip magic 1f 8b). Images (magic 0x00000803,
// or any IDX element type 0x08/0x09/0x0B/0x0C/0x0D/0x0E with 2-4 dimensions)
// become prod(dims[1:]) raw-valued features per sample; labels (0x00000801)
// become integer classes. Errors are INVALID_ARGUMENT naming the file
// ("images file: ..." / "labels file: ..."), except RESOURCE_EXHAUSTED for
// a gzip part that decompresses past limits.max_decompressed_bytes or a
// refused limits.reserve_memory.
absl::StatusOr<std::shared_ptr<const Dataset>> LoadIdx(
    std::string_view images, std::string_view labels,
    v1::Preprocessing preprocessing, const DataLimits& limits = {});

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATASET_H_
