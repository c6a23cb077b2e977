// The checkpoint file decoder and its validation, as UploadCheckpoint reaches
// them (server/checkpoint_recorder.cc: DecodeCheckpoint, then AnalyzeModel
// with the server's limits), and what a valid checkpoint is then used for
// (a model of its spec with its weights, as Predict and init_from do).
//
//   byte 0 even:  the rest is a whole checkpoint file: the header checks
//                 (magic, version, flags, length, sha256) are fuzzed
//   byte 0 odd:   the rest is the payload (a serialized v1::Checkpoint); the
//                 harness frames it with EncodeCheckpoint, so that mutations
//                 get past the sha256 and fuzz the parse and
//                 ValidateCheckpoint, which a client reaches by sending a
//                 file with a correct digest
//
// make_seeds.cc writes real checkpoints of small trained models, both ways.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/checkpoint.h"
#include "core/model.h"
#include "core/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string file;
  if (data[0] & 1) {
    trainyard::v1::Checkpoint payload;
    if (!payload.ParseFromArray(input.data(), static_cast<int>(input.size()))) return 0;
    absl::StatusOr<std::string> encoded = trainyard::EncodeCheckpoint(payload);
    if (!encoded.ok()) return 0;
    file = *std::move(encoded);
  } else {
    file = std::string(input);
  }

  absl::StatusOr<trainyard::v1::Checkpoint> checkpoint = trainyard::DecodeCheckpoint(file);
  if (!checkpoint.ok()) return 0;
  // The server's limit on uploaded models, a small one here so that building
  // the model below stays cheap.
  trainyard::ModelLimits limits;
  limits.max_params = 1 << 16;
  limits.max_width = 1 << 12;
  absl::StatusOr<trainyard::ModelShape> shape =
      trainyard::AnalyzeModel(checkpoint->model(), limits);
  if (!shape.ok()) return 0;
  // A validated checkpoint's buffers fit its model (ValidateCheckpoint's
  // promise): the copy below must stay in bounds.
  absl::StatusOr<std::unique_ptr<trainyard::Model>> model =
      trainyard::Model::Create(checkpoint->model(), *shape);
  if (!model.ok()) return 0;
  if (checkpoint->params_size() != (*model)->num_params() ||
      checkpoint->layer_state_size() != (*model)->num_state()) {
    __builtin_trap();
  }
  std::copy(checkpoint->params().begin(), checkpoint->params().end(), (*model)->params());
  std::copy(checkpoint->layer_state().begin(), checkpoint->layer_state().end(),
            (*model)->state());
  // Encoding is deterministic: a decoded checkpoint encodes back to bytes
  // that decode to the same message.
  absl::StatusOr<std::string> again = trainyard::EncodeCheckpoint(*checkpoint);
  if (!again.ok()) __builtin_trap();
  absl::StatusOr<trainyard::v1::Checkpoint> twice = trainyard::DecodeCheckpoint(*again);
  if (!twice.ok() || twice->SerializeAsString() != checkpoint->SerializeAsString()) {
    __builtin_trap();
  }
  return 0;
}
