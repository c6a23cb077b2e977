// Whether a dataset fits a model and its loss: the checks shared by the
// trainer, evaluation and the service's submit-time validation.
#ifndef TRAINYARD_CORE_DATA_CHECK_H_
#define TRAINYARD_CORE_DATA_CHECK_H_

#include <string_view>

#include "absl/status/status.h"
#include "core/dataset.h"
#include "core/shape.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard {

// INVALID_ARGUMENT, naming `what` (e.g. "dataset", "validation dataset"), when
// the feature count differs from the input's size, or the targets do not suit the
// loss: class labels beyond the model's outputs, labels other than -1/+1 for
// PERCEPTRON and HINGE, targets outside [0, 1] for BCE_WITH_LOGITS, a target
// count that differs from the outputs for regression losses.
absl::Status CheckDataFitsModel(const Dataset& data, const Shape& input,
                                int output_dim, const v1::LossSpec& loss,
                                std::string_view what);
// The same for a flat input of input_dim features.
absl::Status CheckDataFitsModel(const Dataset& data, int input_dim,
                                int output_dim, const v1::LossSpec& loss,
                                std::string_view what);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATA_CHECK_H_
