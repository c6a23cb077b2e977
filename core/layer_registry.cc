#include "core/layer_registry.h"

#include <string>

#include "absl/strings/str_join.h"
#include "core/layers/activation.h"
#include "core/layers/batch_norm.h"
#include "core/layers/dense.h"
#include "core/layers/dropout.h"
#include "core/layers/layer_norm.h"
#include "core/layers/residual.h"

namespace trainyard {
namespace {

// One line per kind, in the order of model.proto's LayerSpec oneof (the
// "must be set (one of ...)" message lists them in this order).
const LayerKind* const kLayerKinds[] = {
    &kDenseLayerKind,
    &kActivationLayerKind,
    &kBatchNormLayerKind,
    &kLayerNormLayerKind,
    &kDropoutLayerKind,
    &kResidualLayerKind,
};

std::string KindNames() {
  return absl::StrJoin(kLayerKinds, ", ", [](std::string* out, const LayerKind* k) {
    out->append(k->name);
  });
}

}  // namespace

const LayerKind* FindLayerKind(v1::LayerSpec::KindCase kind_case) {
  for (const LayerKind* kind : kLayerKinds) {
    if (kind->kind_case == kind_case) return kind;
  }
  return nullptr;
}

absl::Span<const LayerKind* const> AllLayerKinds() { return kLayerKinds; }

absl::StatusOr<Shape> LayerWalker::Walk(
    const google::protobuf::RepeatedPtrField<v1::LayerSpec>& layers,
    const std::string& path, const Shape& in) {
  if (layers.empty()) return InvalidField(path, "must not be empty");
  Shape shape = in;
  for (int i = 0; i < layers.size(); ++i) {
    const v1::LayerSpec& layer = layers[i];
    const std::string layer_path = absl::StrCat(path, "[", i, "]");
    if (++layer_count_ > limits_.max_layers) {
      return InvalidField(layer_path,
                          absl::StrCat("is one layer too many: a model may have "
                                       "at most ",
                                       limits_.max_layers,
                                       " layers, counting those inside residual "
                                       "blocks"));
    }
    const LayerKind* kind = FindLayerKind(layer.kind_case());
    if (kind == nullptr) {
      if (layer.kind_case() != v1::LayerSpec::KIND_NOT_SET) {
        return InvalidField(layer_path + ".kind",
                            absl::StrCat("has kind number ", layer.kind_case(),
                                         ", which this build does not support"));
      }
      return InvalidField(layer_path + ".kind",
                          absl::StrCat("must be set (one of ", KindNames(), ")"));
    }
    const std::string kind_path = absl::StrCat(layer_path, ".", kind->name);
    if (kind->nests) {
      if (depth_ + 1 > kMaxNesting) {
        return InvalidField(kind_path,
                            absl::StrCat("is nested too deeply: at most ", kMaxNesting,
                                         " ", kind->name, " blocks inside one another"));
      }
      ++depth_;
    }
    absl::StatusOr<Shape> out = kind->validate(layer, kind_path, shape, *this);
    if (kind->nests) --depth_;
    if (!out.ok()) return out.status();
    params_ = SaturatingAdd(params_, kind->num_params(layer, shape));
    state_ = SaturatingAdd(state_, kind->num_state(layer, shape));
    shape = *out;
  }
  return shape;
}

}  // namespace trainyard
