// The checkpoint file: a fixed 56-byte header (magic, format version, flags,
// payload length, SHA-256 of the payload) followed by the serialized
// trainyard.v1.Checkpoint. The layout, versioning policy and load checks are
// written up in docs/checkpoint-format.md.
//
// Load errors (status code, message):
//   INVALID_ARGUMENT "not a trainyard checkpoint (bad magic)"
//   INVALID_ARGUMENT "checkpoint format version 7 is not supported (this build reads 1)"
//   INVALID_ARGUMENT "checkpoint header flags 0x4 are not supported ..."
//   DATA_LOSS        "checkpoint is truncated: header says N payload bytes, file has M"
//                    (or "has trailing bytes: ..." when the file is longer)
//   DATA_LOSS        "checkpoint payload sha256 mismatch (file altered or corrupt)"
//   DATA_LOSS        the payload does not parse as a Checkpoint
//   INVALID_ARGUMENT the payload parses but is inconsistent (ValidateCheckpoint)
// No input crashes or aborts the process.
#ifndef TRAINYARD_CORE_CHECKPOINT_H_
#define TRAINYARD_CORE_CHECKPOINT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/validate.h"
#include "trainyard/v1/checkpoint.pb.h"

namespace trainyard {

// The 8 bytes every checkpoint file starts with.
inline constexpr std::string_view kCheckpointMagic{"TYCHKPT\n", 8};
// The format version this build writes and the only one it reads.
inline constexpr uint32_t kCheckpointFormatVersion = 1;
// magic (8) + version (4) + flags (4) + payload length (8) + sha256 (32).
inline constexpr size_t kCheckpointHeaderSize = 56;
// Protobuf parses at most 2 GiB - 1 per message, so this is the largest
// payload the format can hold (about 170M parameters with Adam's two moments).
inline constexpr uint64_t kMaxCheckpointPayloadBytes = 0x7fffffff;

// Checks that `checkpoint` is internally consistent, so that it can be resumed
// or used to initialise a model: the model spec and training config validate,
// every buffer has the length the model implies, counters are in range and
// all stored values are finite. Errors are INVALID_ARGUMENT naming the field:
//   "checkpoint: params has 10 values, the model needs 12".
absl::Status ValidateCheckpoint(const v1::Checkpoint& checkpoint,
                                const ModelLimits& limits = {});

// The same checks of `checkpoint`'s buffers and counters against a model of
// `shape` (AnalyzeModel's result) trained with `training` instead of the specs
// stored in it: whether a run with that spec and config can continue from the
// checkpoint's state (a resumed job may bring its own config). The caller has
// analysed the spec and validated `training` (ValidateTrainingConfig), so
// neither is checked again. Messages are ValidateCheckpoint's.
absl::Status ValidateCheckpointFor(const v1::Checkpoint& checkpoint,
                                   const ModelShape& shape,
                                   const v1::TrainingConfig& training);

// The bytes of a checkpoint file holding `checkpoint`. Serialization is
// deterministic, so equal checkpoints give equal bytes (and equal sha256 in a
// content-addressed store). RESOURCE_EXHAUSTED when the payload would exceed
// kMaxCheckpointPayloadBytes (the format's 2 GiB limit); INTERNAL if
// serialization fails.
absl::StatusOr<std::string> EncodeCheckpoint(const v1::Checkpoint& checkpoint);

// Parses and verifies a checkpoint file's bytes (header, length, sha256,
// payload, then ValidateCheckpoint). See the error list above.
absl::StatusOr<v1::Checkpoint> DecodeCheckpoint(std::string_view bytes);

// Writes `checkpoint` to `path` atomically (core/atomic_file.h): a reader
// sees the old file or the new one, never a partial one. Does not validate;
// RESOURCE_EXHAUSTED when the payload exceeds kMaxCheckpointPayloadBytes, and
// the file errors of WriteFileAtomically.
absl::Status WriteCheckpointFile(const std::string& path,
                                 const v1::Checkpoint& checkpoint);

// Reads and decodes the checkpoint file at `path`; file errors name the path,
// decode errors are prefixed with it.
absl::StatusOr<v1::Checkpoint> ReadCheckpointFile(const std::string& path);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_CHECKPOINT_H_
