// MakeLayer: a layer from its spec, through the kind's registry entry (the
// defaults of unset optional fields live with each kind in core/layers/).
#include "core/layer.h"

#include "absl/status/status.h"
#include "core/layer_registry.h"

namespace trainyard {

absl::StatusOr<std::unique_ptr<Layer>> MakeLayer(
    const v1::LayerSpec& spec, const Shape& input_shape,
    v1::ActivationKind next_activation) {
  const LayerKind* kind = FindLayerKind(spec.kind_case());
  if (kind == nullptr) return absl::InvalidArgumentError("layer kind is not set");
  return kind->make(spec, input_shape, LayerMakeContext{next_activation});
}

absl::StatusOr<std::unique_ptr<Layer>> MakeLayer(
    const v1::LayerSpec& spec, int input_dim,
    v1::ActivationKind next_activation) {
  return MakeLayer(spec, Shape::Flat(input_dim), next_activation);
}

}  // namespace trainyard
