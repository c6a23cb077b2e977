// The layer registry: one LayerKind entry per LayerSpec kind, holding
// everything the rest of the core needs to know about that kind — how to
// validate it and what shape it outputs, how many parameters and state
// scalars it has, and how to build it. The validator (core/validate.cc), the
// model builder (core/layer.cc, core/layers/sequential.cc), the checkpoint
// checks and the parameter counter all go through here, so adding a layer
// kind is one file pair in core/layers/ plus one line in layer_registry.cc
// (and its message in model.proto); docs/adding-a-layer.md shows how.
//
// Nesting kinds (a residual block) walk their inner layer list with the
// LayerWalker they are given, which applies the limits (layer count, nesting
// depth) and keeps the saturating parameter totals in one place.
#ifndef TRAINYARD_CORE_LAYER_REGISTRY_H_
#define TRAINYARD_CORE_LAYER_REGISTRY_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/layer.h"
#include "core/shape.h"
#include "core/validate.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "trainyard/v1/model.pb.h"

namespace trainyard {

class LayerWalker;

// What building a layer needs besides its spec and input shape.
struct LayerMakeContext {
  // The activation the layer feeds (a dense layer's default initialiser
  // follows it), or ACTIVATION_UNSPECIFIED.
  v1::ActivationKind next_activation = v1::ACTIVATION_UNSPECIFIED;
};

struct LayerKind {
  // The LayerSpec oneof field, e.g. "dense": messages and docs use it.
  const char* name;
  v1::LayerSpec::KindCase kind_case;

  // Checks the kind's fields for a layer taking samples of `in` and returns
  // the shape it outputs. `path` names the kind's message (e.g.
  // "layers[2].dense"); every error is INVALID_ARGUMENT and starts with it or
  // with a field below it ("layers[2].dense.units must be > 0, got 0").
  absl::StatusOr<Shape> (*validate)(const v1::LayerSpec& spec,
                                    const std::string& path, const Shape& in,
                                    LayerWalker& walker);
  // The layer's own trainable and state (Layer::num_state) scalars, not
  // counting the layers nested inside it, which the walker counts as it
  // walks them. May saturate (SaturatingMul) but never wrap.
  // REQUIRES: validate accepted (spec, in).
  int64_t (*num_params)(const v1::LayerSpec& spec, const Shape& in);
  int64_t (*num_state)(const v1::LayerSpec& spec, const Shape& in);
  // Builds the layer. REQUIRES: validate accepted (spec, in).
  absl::StatusOr<std::unique_ptr<Layer>> (*make)(const v1::LayerSpec& spec,
                                                 const Shape& in,
                                                 const LayerMakeContext& ctx);

  // Whether the layer holds a nested layer list (walked with walker.Walk);
  // nesting kinds count towards the nesting depth limit.
  bool nests = false;
  // Whether a dense layer's default initialiser looks past this layer for
  // the activation it feeds: normalisation rescales anyway and dropout is
  // mean-preserving; anything else ends the search.
  bool transparent_for_init = false;
  // For the activation kind only: the activation the spec applies, which is
  // what ends a default initialiser's search.
  v1::ActivationKind (*activation)(const v1::LayerSpec& spec) = nullptr;

  // For nesting kinds: the nested layer list of `spec`, whose built layers are
  // Layer::nested() (per-layer diagnostics name them by it).
  const google::protobuf::RepeatedPtrField<v1::LayerSpec>& (*nested_layers)(
      const v1::LayerSpec& spec) = nullptr;
  // Per-layer diagnostics (core/diagnostics.h): whether the layer's output is
  // summarised like an activation's (mean, std, zeros, histogram).
  bool diagnose_output = false;
  // Names of the equal-length parts the layer's state is made of, each
  // summarised over its features by the diagnostics (batch norm:
  // running_mean, running_var). Empty: the state is not summarised.
  absl::Span<const char* const> state_parts = {};
};

// The entry for `kind_case`, or null (KIND_NOT_SET, or a kind this build's
// registry lacks, which tests/layer_registry_test.cc rules out).
const LayerKind* FindLayerKind(v1::LayerSpec::KindCase kind_case);
// Every entry, in the order of model.proto's oneof.
absl::Span<const LayerKind* const> AllLayerKinds();

// Walks a layer list: validates each layer through its entry, applies the
// model limits, tracks the shape and totals the parameters and state.
class LayerWalker {
 public:
  // Deep enough for any sensible network, shallow enough that the recursive
  // walks here and in the model builder cannot exhaust the stack — and
  // reachable over the wire: each residual level is two protobuf message
  // levels (LayerSpec -> ResidualBlock -> LayerSpec), so protobuf's recursion
  // limit of 100 refuses a SubmitJobRequest with 49 nested blocks before
  // this check runs. 32 leaves room for the messages that wrap a model
  // (Job in ListJobsResponse, checkpoints) in every client's parser too.
  // model.proto documents the limit; tests/service_wire_errors_test.cc
  // checks that its message comes back over the wire.
  static constexpr int kMaxNesting = 32;

  explicit LayerWalker(const ModelLimits& limits) : limits_(limits) {}
  LayerWalker(const LayerWalker&) = delete;
  LayerWalker& operator=(const LayerWalker&) = delete;

  // Validates `layers`, applied in order to samples of `in`, and adds their
  // parameters and state to the totals. `path` names the list, e.g. "layers"
  // or "layers[2].residual.layers". Returns the list's output shape.
  absl::StatusOr<Shape> Walk(
      const google::protobuf::RepeatedPtrField<v1::LayerSpec>& layers,
      const std::string& path, const Shape& in);

  const ModelLimits& limits() const { return limits_; }
  // Totals over the layers walked so far (saturated at INT64_MAX).
  int64_t params() const { return params_; }
  int64_t state() const { return state_; }

 private:
  const ModelLimits& limits_;
  int depth_ = 0;  // nesting kinds enclosing the list being walked
  int layer_count_ = 0;
  int64_t params_ = 0;
  int64_t state_ = 0;
};

// ---- Helpers for the kinds' validate and count functions.

inline constexpr int64_t kSaturatedCount = std::numeric_limits<int64_t>::max();

// Saturating arithmetic: an absurd spec must report "too many parameters",
// never wrap around into a small or negative count that passes the limit.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? kSaturatedCount : r;
}
inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kSaturatedCount : r;
}

// INVALID_ARGUMENT "<path> <what>".
inline absl::Status InvalidField(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, " ", what));
}

// Optional float fields (unset = default) only need checking when set.
inline bool FiniteNonNegative(float x) { return std::isfinite(x) && x >= 0; }
inline bool FinitePositive(float x) { return std::isfinite(x) && x > 0; }

// Count functions for kinds without parameters or state.
inline int64_t NoScalars(const v1::LayerSpec&, const Shape&) { return 0; }

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYER_REGISTRY_H_
