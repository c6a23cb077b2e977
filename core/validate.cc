// Model-spec and loss/target validation, and the optimiser defaults that both
// validation and the optimisers need. Training-config checks live in
// validate_training.cc.
#include "core/validate.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace trainyard {
namespace {

// Deep enough for any sensible network, shallow enough that the recursive
// walks here and in the model builder cannot exhaust the stack.
constexpr int kMaxResidualNesting = 64;
constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();

// Saturating arithmetic: an absurd spec must report "too many parameters",
// never wrap around into a small or negative count that passes the limit.
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? kSaturated : r;
}
int64_t SatMul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kSaturated : r;
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, " ", what));
}

// Optional float fields (unset = default) only need checking when set.
bool FiniteNonNegative(float x) { return std::isfinite(x) && x >= 0; }
bool FinitePositive(float x) { return std::isfinite(x) && x > 0; }

// Walks a layer list, tracking the width and totals. Recursion depth is
// bounded by kMaxResidualNesting.
class SpecWalker {
 public:
  explicit SpecWalker(const ModelLimits& limits) : limits_(limits) {}

  int64_t params() const { return params_; }

  // `path` names the list, e.g. "layers" or "layers[2].residual.layers".
  // On entry *width is the list's input width, on success its output width.
  absl::Status Layers(
      const google::protobuf::RepeatedPtrField<v1::LayerSpec>& layers,
      const std::string& path, int depth, int* width) {
    if (layers.empty()) return Invalid(path, "must not be empty");
    for (int i = 0; i < layers.size(); ++i) {
      const std::string layer_path = absl::StrCat(path, "[", i, "]");
      if (++layer_count_ > limits_.max_layers) {
        return Invalid(layer_path,
                       absl::StrCat("is one layer too many: a model may have "
                                    "at most ",
                                    limits_.max_layers,
                                    " layers, counting those inside residual "
                                    "blocks"));
      }
      absl::Status status = Layer(layers[i], layer_path, depth, width);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Layer(const v1::LayerSpec& layer, const std::string& path,
                     int depth, int* width) {
    switch (layer.kind_case()) {
      case v1::LayerSpec::kDense:
        return Dense(layer.dense(), path + ".dense", width);
      case v1::LayerSpec::kActivation:
        return Activation(layer.activation(), path + ".activation");
      case v1::LayerSpec::kBatchNorm: {
        const auto& bn = layer.batch_norm();
        const std::string p = path + ".batch_norm";
        if (bn.has_momentum() && !(bn.momentum() >= 0 && bn.momentum() <= 1)) {
          return Invalid(p + ".momentum",
                         absl::StrCat("must be in [0, 1], got ", bn.momentum()));
        }
        if (bn.has_epsilon() && !FinitePositive(bn.epsilon())) {
          return Invalid(p + ".epsilon", absl::StrCat("must be > 0 and finite, got ",
                                                      bn.epsilon()));
        }
        params_ = SatAdd(params_, SatMul(2, *width));  // gamma, beta
        return absl::OkStatus();
      }
      case v1::LayerSpec::kLayerNorm: {
        const auto& ln = layer.layer_norm();
        if (ln.has_epsilon() && !FinitePositive(ln.epsilon())) {
          return Invalid(path + ".layer_norm.epsilon",
                         absl::StrCat("must be > 0 and finite, got ", ln.epsilon()));
        }
        params_ = SatAdd(params_, SatMul(2, *width));  // gain, bias
        return absl::OkStatus();
      }
      case v1::LayerSpec::kDropout: {
        const float rate = layer.dropout().rate();
        if (!(rate >= 0 && rate < 1)) {
          return Invalid(path + ".dropout.rate",
                         absl::StrCat("must be in [0, 1), got ", rate));
        }
        return absl::OkStatus();
      }
      case v1::LayerSpec::kResidual:
        return Residual(layer.residual(), path + ".residual", depth, width);
      case v1::LayerSpec::KIND_NOT_SET:
        break;
    }
    return Invalid(path + ".kind",
                   "must be set (one of dense, activation, batch_norm, "
                   "layer_norm, dropout, residual)");
  }

  absl::Status Dense(const v1::DenseLayer& dense, const std::string& path,
                     int* width) {
    if (dense.units() <= 0) {
      return Invalid(path + ".units", absl::StrCat("must be > 0, got ", dense.units()));
    }
    if (dense.units() > limits_.max_width) {
      return Invalid(path + ".units",
                     absl::StrCat("must be <= ", limits_.max_width, ", got ",
                                  dense.units()));
    }
    if (!v1::Initializer_IsValid(dense.init())) {
      return Invalid(path + ".init",
                     absl::StrCat("has unknown value ", dense.init()));
    }
    params_ = SatAdd(params_, SatMul(dense.units(), *width));
    if (!dense.no_bias()) params_ = SatAdd(params_, dense.units());
    *width = dense.units();
    return absl::OkStatus();
  }

  absl::Status Activation(const v1::ActivationLayer& act,
                          const std::string& path) {
    if (act.kind() == v1::ACTIVATION_UNSPECIFIED) {
      return Invalid(path + ".kind",
                     "must be set (one of SIGMOID, TANH, RELU, LEAKY_RELU, "
                     "IDENTITY)");
    }
    if (!v1::ActivationKind_IsValid(act.kind())) {
      return Invalid(path + ".kind", absl::StrCat("has unknown value ", act.kind()));
    }
    // Checked whatever the kind: a bad value is a mistake even where unused.
    if (act.has_alpha() && !FiniteNonNegative(act.alpha())) {
      return Invalid(path + ".alpha",
                     absl::StrCat("must be finite and >= 0, got ", act.alpha()));
    }
    return absl::OkStatus();
  }

  absl::Status Residual(const v1::ResidualBlock& block, const std::string& path,
                        int depth, int* width) {
    if (depth + 1 > kMaxResidualNesting) {
      return Invalid(path, absl::StrCat("is nested too deeply: at most ",
                                        kMaxResidualNesting,
                                        " residual blocks inside one another"));
    }
    if (block.has_scale() && !std::isfinite(block.scale())) {
      return Invalid(path + ".scale",
                     absl::StrCat("must be finite, got ", block.scale()));
    }
    int inner_width = *width;
    absl::Status status = Layers(block.layers(), path + ".layers", depth + 1,
                                 &inner_width);
    if (!status.ok()) return status;
    if (inner_width != *width) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": output width ", inner_width,
                       " differs from input width ", *width,
                       " (F(x) + scale * x needs equal widths)"));
    }
    return absl::OkStatus();
  }

  const ModelLimits& limits_;
  int layer_count_ = 0;
  int64_t params_ = 0;
};

std::string Plural(int n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

}  // namespace

absl::StatusOr<int> ValidateModelSpec(const v1::ModelSpec& spec,
                                      const ModelLimits& limits) {
  if (spec.input_dim() <= 0) {
    return Invalid("input_dim", absl::StrCat("must be > 0, got ", spec.input_dim()));
  }
  if (spec.input_dim() > limits.max_width) {
    return Invalid("input_dim", absl::StrCat("must be <= ", limits.max_width,
                                             ", got ", spec.input_dim()));
  }
  SpecWalker walker(limits);
  int width = spec.input_dim();
  absl::Status status = walker.Layers(spec.layers(), "layers", 0, &width);
  if (!status.ok()) return status;
  if (walker.params() > limits.max_params) {
    const std::string count = walker.params() == kSaturated
                                  ? std::string("more than 2^63")
                                  : absl::StrCat(walker.params());
    return absl::InvalidArgumentError(
        absl::StrCat("model has ", count, " parameters, more than the limit ",
                     limits.max_params));
  }
  return width;
}

int64_t CountParams(const v1::ModelSpec& spec) {
  // The same walk as validation, so the count can never disagree with the
  // limit check.
  ModelLimits unlimited;
  unlimited.max_params = kSaturated;
  unlimited.max_layers = std::numeric_limits<int>::max();
  unlimited.max_width = std::numeric_limits<int>::max();
  SpecWalker walker(unlimited);
  int width = spec.input_dim();
  walker.Layers(spec.layers(), "layers", 0, &width).IgnoreError();
  return walker.params();
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

double DefaultLearningRate(const v1::OptimizerSpec& spec) {
  switch (spec.kind_case()) {
    case v1::OptimizerSpec::kAdam:
    case v1::OptimizerSpec::kAdamw:
      return 1e-3;
    default:
      return 0.01;
  }
}

double EffectiveLearningRate(const v1::OptimizerSpec& spec) {
  return spec.has_learning_rate() ? spec.learning_rate()
                                  : DefaultLearningRate(spec);
}

double EffectiveWeightDecay(const v1::OptimizerSpec& spec) {
  if (spec.has_weight_decay()) return spec.weight_decay();
  return spec.kind_case() == v1::OptimizerSpec::kAdamw ? 0.01 : 0.0;
}

}  // namespace trainyard
