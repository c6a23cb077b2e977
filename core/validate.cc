// Model-spec analysis (the input shape, then the layers through the layer
// registry) and loss/target validation. Training-config checks live in
// validate_training.cc, the defaults in training_defaults.cc.
#include "core/validate.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/layer_registry.h"

namespace trainyard {
namespace {

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return InvalidField(path, what);
}

std::string Plural(int n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

// Walks the whole spec. `*shape` receives what was found, even on failure
// (CountParams reports the count of an invalid spec as far as it got).
absl::Status Analyze(const v1::ModelSpec& spec, const ModelLimits& limits,
                     ModelShape* shape) {
  absl::StatusOr<Shape> input = InputShape(spec, limits);
  if (!input.ok()) return input.status();
  shape->input = *input;
  LayerWalker walker(limits);
  absl::StatusOr<Shape> output = walker.Walk(spec.layers(), "layers", *input);
  shape->num_params = walker.params();
  shape->num_state = walker.state();
  if (!output.ok()) return output.status();
  shape->output = *output;
  if (walker.params() > limits.max_params) {
    const std::string count = walker.params() == kSaturatedCount
                                  ? std::string("more than 2^63")
                                  : absl::StrCat(walker.params());
    return absl::InvalidArgumentError(
        absl::StrCat("model has ", count, " parameters, more than the limit ",
                     limits.max_params));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Shape> InputShape(const v1::ModelSpec& spec, const ModelLimits& limits) {
  if (!spec.has_input_shape()) {
    if (spec.input_dim() <= 0) {
      return Invalid("input_dim", absl::StrCat("must be > 0, got ", spec.input_dim()));
    }
    if (spec.input_dim() > limits.max_width) {
      return Invalid("input_dim", absl::StrCat("must be <= ", limits.max_width,
                                               ", got ", spec.input_dim()));
    }
    return Shape::Flat(spec.input_dim());
  }
  const v1::TensorShape& s = spec.input_shape();
  const struct {
    const char* name;
    int32_t value;
  } dims[] = {{"channels", s.channels()}, {"height", s.height()}, {"width", s.width()}};
  for (const auto& dim : dims) {
    if (dim.value <= 0) {
      return Invalid(absl::StrCat("input_shape.", dim.name),
                     absl::StrCat("must be > 0, got ", dim.value));
    }
  }
  const Shape shape = Shape::Image(s.channels(), s.height(), s.width());
  if (spec.input_dim() != 0 && spec.input_dim() != shape.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_shape ", shape.ToString(), " has ", shape.size(),
        " values but input_dim is ", spec.input_dim(),
        ": they must agree (or set only input_shape)"));
  }
  if (shape.size() > limits.max_width) {
    return Invalid("input_shape",
                   absl::StrCat("must have at most ", limits.max_width, " values, got ",
                                shape.ToString(), " = ",
                                shape.size() == kSaturatedCount
                                    ? std::string("more than 2^63")
                                    : absl::StrCat(shape.size())));
  }
  return shape;
}

absl::StatusOr<ModelShape> AnalyzeModel(const v1::ModelSpec& spec,
                                        const ModelLimits& limits) {
  ModelShape shape;
  if (absl::Status s = Analyze(spec, limits, &shape); !s.ok()) return s;
  return shape;
}

absl::StatusOr<int> ValidateModelSpec(const v1::ModelSpec& spec,
                                      const ModelLimits& limits) {
  absl::StatusOr<ModelShape> shape = AnalyzeModel(spec, limits);
  if (!shape.ok()) return shape.status();
  return shape->output_dim();
}

int64_t CountParams(const v1::ModelSpec& spec) {
  // The same walk as validation, so the count can never disagree with the
  // limit check.
  ModelLimits unlimited;
  unlimited.max_params = kSaturatedCount;
  unlimited.max_layers = std::numeric_limits<int>::max();
  unlimited.max_width = std::numeric_limits<int>::max();
  ModelShape shape;
  // A spec that fails even without limits is outside the REQUIRES; it gets
  // the count of the layers before its first error.
  Analyze(spec, unlimited, &shape).IgnoreError();
  return shape.num_params;
}

absl::Status ValidateLossForTargets(const v1::LossSpec& loss, int output_dim,
                                    int target_dim) {
  const v1::LossKind kind = loss.kind();
  if (kind == v1::LOSS_UNSPECIFIED || !v1::LossKind_IsValid(kind)) {
    return Invalid("loss.kind", "must be set (one of MSE, SOFTMAX_CROSS_ENTROPY, "
                                "BCE_WITH_LOGITS, HUBER, PERCEPTRON, HINGE)");
  }
  const std::string name = absl::StrCat("loss.kind ", v1::LossKind_Name(kind));
  const std::string model_has =
      absl::StrCat("the model has ", Plural(output_dim, "output"));
  const std::string data_has =
      absl::StrCat(Plural(target_dim, "target column"));
  switch (kind) {
    case v1::SOFTMAX_CROSS_ENTROPY:
      if (output_dim < 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " needs at least 2 outputs (one per class): ", model_has));
      }
      if (target_dim != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " needs 1 target column holding the class index: the data has ",
            data_has));
      }
      return absl::OkStatus();
    case v1::MSE:
    case v1::HUBER:
    case v1::BCE_WITH_LOGITS:
      if (output_dim != target_dim) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " needs one output per target: ", model_has,
                         " for ", data_has));
      }
      return absl::OkStatus();
    case v1::PERCEPTRON:
    case v1::HINGE:
      if (output_dim != 1 || target_dim != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " needs 1 output and 1 target column of -1/+1 "
                               "labels: ", model_has, " for ", data_has));
      }
      return absl::OkStatus();
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(name, " is not supported"));
}

}  // namespace trainyard
