#include "core/data_check.h"

#include "absl/strings/str_format.h"
#include "core/validate.h"

namespace trainyard {

absl::Status CheckDataFitsModel(const Dataset& data, int input_dim,
                                int output_dim, const v1::LossSpec& loss,
                                std::string_view what) {
  return CheckDataFitsModel(data, Shape::Flat(input_dim), output_dim, loss, what);
}

absl::Status CheckDataFitsModel(const Dataset& data, const Shape& input,
                                int output_dim, const v1::LossSpec& loss,
                                std::string_view what) {
  if (data.num_samples() == 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has no samples", what));
  }
  if (data.num_features() != input.size()) {
    if (input.is_image()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model.input_shape %s has %d values but the %s has %d features",
          input.ToString(), input.size(), what, data.num_features()));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "model.input_dim is %d but the %s has %d features", input.size(), what,
        data.num_features()));
  }
  if (absl::Status s = ValidateLossForTargets(loss, output_dim, data.target_dim());
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s (%s)", s.message(), what));
  }
  const std::string kind = v1::LossKind_Name(loss.kind());
  switch (loss.kind()) {
    case v1::SOFTMAX_CROSS_ENTROPY:
      if (!data.integer_labels() || data.min_target() < 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "loss.kind %s needs integer class labels >= 0, but the %s's labels "
            "range over [%g, %g]%s",
            kind, what, data.min_target(), data.max_target(),
            data.integer_labels() ? "" : " and are not loaded as CLASS_LABELS"));
      }
      if (data.max_target() >= output_dim) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "the %s has class label %g but the model has only %d outputs "
            "(classes 0..%d)",
            what, data.max_target(), output_dim, output_dim - 1));
      }
      break;
    case v1::PERCEPTRON:
    case v1::HINGE:
      // Loaders accept negative class labels only as the exact set {-1, +1},
      // so min >= -1, max <= 1 and min != 0 rules out 0 and other values.
      if (!data.integer_labels() || data.min_target() < -1 ||
          data.max_target() > 1 || data.min_target() == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "loss.kind %s needs labels -1 and +1, but the %s's labels range "
            "over [%g, %g]",
            kind, what, data.min_target(), data.max_target()));
      }
      break;
    case v1::BCE_WITH_LOGITS:
      if (data.min_target() < 0 || data.max_target() > 1) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "loss.kind %s needs targets in [0, 1], but the %s's range over "
            "[%g, %g]",
            kind, what, data.min_target(), data.max_target()));
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace trainyard
