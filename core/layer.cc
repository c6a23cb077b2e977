// Builds layers from their specs (the defaults of unset optional fields live
// here and in model.proto's comments).
#include "core/layer.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/init.h"
#include "core/layers/activation.h"
#include "core/layers/batch_norm.h"
#include "core/layers/dense.h"
#include "core/layers/dropout.h"
#include "core/layers/layer_norm.h"
#include "core/layers/residual.h"
#include "core/layers/sequential.h"

namespace trainyard {
namespace {

constexpr float kDefaultLeakyAlpha = 0.01f;  // PyTorch's default
constexpr float kDefaultMomentum = 0.1f;
constexpr float kDefaultEpsilon = 1e-5f;
constexpr float kDefaultResidualScale = 1.0f;

// The activation that a dense layer at `index` feeds: the first activation
// after it, looking past layers that do not change what the initialiser
// should preserve (normalisation rescales anyway, dropout is mean-preserving);
// another dense or a residual block ends the search.
v1::ActivationKind NextActivation(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
    int index) {
  for (int j = index + 1; j < specs.size(); ++j) {
    const v1::LayerSpec& next = specs[j];
    switch (next.kind_case()) {
      case v1::LayerSpec::kActivation:
        return next.activation().kind();
      case v1::LayerSpec::kBatchNorm:
      case v1::LayerSpec::kLayerNorm:
      case v1::LayerSpec::kDropout:
        continue;
      default:
        return v1::ACTIVATION_UNSPECIFIED;
    }
  }
  return v1::ACTIVATION_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeLayer(
    const v1::LayerSpec& spec, int input_dim,
    v1::ActivationKind next_activation) {
  switch (spec.kind_case()) {
    case v1::LayerSpec::kDense: {
      const v1::DenseLayer& dense = spec.dense();
      return std::make_unique<DenseLayer>(
          input_dim, dense.units(), !dense.no_bias(),
          ResolveInitializer(dense.init(), next_activation));
    }
    case v1::LayerSpec::kActivation: {
      const v1::ActivationLayer& act = spec.activation();
      if (act.kind() == v1::ACTIVATION_UNSPECIFIED) {
        return absl::InvalidArgumentError("activation.kind must be set");
      }
      const float alpha = act.has_alpha() ? act.alpha() : kDefaultLeakyAlpha;
      return std::make_unique<ActivationLayer>(input_dim, act.kind(),
                                               static_cast<Scalar>(alpha));
    }
    case v1::LayerSpec::kBatchNorm: {
      const v1::BatchNormLayer& bn = spec.batch_norm();
      return std::make_unique<BatchNormLayer>(
          input_dim,
          static_cast<Scalar>(bn.has_momentum() ? bn.momentum()
                                                : kDefaultMomentum),
          static_cast<Scalar>(bn.has_epsilon() ? bn.epsilon()
                                               : kDefaultEpsilon));
    }
    case v1::LayerSpec::kLayerNorm: {
      const v1::LayerNormLayer& ln = spec.layer_norm();
      return std::make_unique<LayerNormLayer>(
          input_dim, static_cast<Scalar>(ln.has_epsilon() ? ln.epsilon()
                                                          : kDefaultEpsilon));
    }
    case v1::LayerSpec::kDropout:
      return std::make_unique<DropoutLayer>(
          input_dim, static_cast<Scalar>(spec.dropout().rate()));
    case v1::LayerSpec::kResidual: {
      const v1::ResidualBlock& block = spec.residual();
      absl::StatusOr<std::unique_ptr<Sequential>> body =
          MakeSequential(block.layers(), input_dim);
      if (!body.ok()) return body.status();
      if ((*body)->output_dim() != input_dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "residual block maps ", input_dim, " features to ",
            (*body)->output_dim(), "; it must keep the width"));
      }
      return std::make_unique<ResidualLayer>(
          input_dim, *std::move(body),
          static_cast<Scalar>(block.has_scale() ? block.scale()
                                                : kDefaultResidualScale));
    }
    case v1::LayerSpec::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("layer kind is not set");
}

absl::StatusOr<std::unique_ptr<Sequential>> MakeSequential(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& specs,
    int input_dim) {
  std::vector<std::unique_ptr<Layer>> layers;
  layers.reserve(specs.size());
  int width = input_dim;
  for (int i = 0; i < specs.size(); ++i) {
    absl::StatusOr<std::unique_ptr<Layer>> layer =
        MakeLayer(specs[i], width, NextActivation(specs, i));
    if (!layer.ok()) {
      return absl::Status(layer.status().code(),
                          absl::StrCat("layers[", i, "]: ",
                                       layer.status().message()));
    }
    width = (*layer)->output_dim();
    layers.push_back(*std::move(layer));
  }
  return std::make_unique<Sequential>(input_dim, std::move(layers));
}

}  // namespace trainyard
