// Encoding and decoding of the checkpoint container (docs/checkpoint-format.md).
// ValidateCheckpoint lives in checkpoint_validate.cc.
#include "core/checkpoint.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"
#include "core/data/file_util.h"
#include "core/sha256.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace trainyard {
namespace {

// Header field offsets; all integers are little-endian.
constexpr size_t kVersionOffset = 8;
constexpr size_t kFlagsOffset = 12;
constexpr size_t kLengthOffset = 16;
constexpr size_t kDigestOffset = 24;
static_assert(kDigestOffset + 32 == kCheckpointHeaderSize);

void PutLittleEndian(uint64_t value, int bytes, std::string& out) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

uint64_t GetLittleEndian(std::string_view bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[offset + i]))
             << (8 * i);
  }
  return value;
}

// Serializes with deterministic output so equal checkpoints hash equal.
bool SerializeDeterministic(const v1::Checkpoint& checkpoint, std::string& out) {
  out.clear();
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!checkpoint.SerializeToCodedStream(&coded)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> EncodeCheckpoint(const v1::Checkpoint& checkpoint) {
  const size_t size = checkpoint.ByteSizeLong();
  if (size > kMaxCheckpointPayloadBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint is larger than the format's 2 GiB limit (payload ", size,
        " bytes, at most ", kMaxCheckpointPayloadBytes, ")"));
  }
  std::string payload;
  if (!SerializeDeterministic(checkpoint, payload)) {
    return absl::InternalError("serialization failed");
  }
  Sha256Digest digest = Sha256(payload);

  std::string file;
  file.reserve(kCheckpointHeaderSize + payload.size());
  file.append(kCheckpointMagic);
  PutLittleEndian(kCheckpointFormatVersion, 4, file);
  PutLittleEndian(0, 4, file);  // flags: none defined in version 1
  PutLittleEndian(payload.size(), 8, file);
  file.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  file.append(payload);
  return file;
}

absl::StatusOr<v1::Checkpoint> DecodeCheckpoint(std::string_view bytes) {
  if (bytes.size() < kCheckpointMagic.size() ||
      bytes.substr(0, kCheckpointMagic.size()) != kCheckpointMagic) {
    return absl::InvalidArgumentError("not a trainyard checkpoint (bad magic)");
  }
  if (bytes.size() < kCheckpointHeaderSize) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint is truncated: the header needs ", kCheckpointHeaderSize,
        " bytes, file has ", bytes.size()));
  }
  uint64_t version = GetLittleEndian(bytes, kVersionOffset, 4);
  if (version != kCheckpointFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint format version ", version,
        " is not supported (this build reads ", kCheckpointFormatVersion, ")"));
  }
  uint64_t flags = GetLittleEndian(bytes, kFlagsOffset, 4);
  if (flags != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "checkpoint header flags 0x%x are not supported (this build reads "
        "format version %d with no flags)",
        flags, kCheckpointFormatVersion));
  }
  uint64_t declared = GetLittleEndian(bytes, kLengthOffset, 8);
  uint64_t actual = bytes.size() - kCheckpointHeaderSize;
  if (declared != actual) {
    return absl::DataLossError(absl::StrCat(
        declared > actual ? "checkpoint is truncated"
                          : "checkpoint has trailing bytes",
        ": header says ", declared, " payload bytes, file has ", actual));
  }
  if (actual > kMaxCheckpointPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint payload is ", actual, " bytes, above the format's limit of ",
        kMaxCheckpointPayloadBytes));
  }
  std::string_view payload = bytes.substr(kCheckpointHeaderSize);
  Sha256Digest digest = Sha256(payload);
  if (std::memcmp(digest.data(), bytes.data() + kDigestOffset, digest.size()) !=
      0) {
    return absl::DataLossError(
        "checkpoint payload sha256 mismatch (file altered or corrupt)");
  }
  v1::Checkpoint checkpoint;
  if (!checkpoint.ParseFromArray(payload.data(),
                                 static_cast<int>(payload.size()))) {
    return absl::DataLossError(
        "checkpoint payload does not parse as a trainyard.v1.Checkpoint "
        "(written by a broken writer?)");
  }
  if (absl::Status status = ValidateCheckpoint(checkpoint); !status.ok()) {
    return status;
  }
  return checkpoint;
}

absl::Status WriteCheckpointFile(const std::string& path,
                                 const v1::Checkpoint& checkpoint) {
  size_t size = checkpoint.ByteSizeLong();
  if (size > kMaxCheckpointPayloadBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot write checkpoint ", path, ": its payload would be ", size,
        " bytes, above the format's limit of ", kMaxCheckpointPayloadBytes));
  }
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(checkpoint);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(), absl::StrCat("cannot write checkpoint ", path,
                                                            ": ", bytes.status().message()));
  }
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<v1::Checkpoint> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<v1::Checkpoint> checkpoint = DecodeCheckpoint(*bytes);
  if (!checkpoint.ok()) {
    return absl::Status(checkpoint.status().code(),
                        absl::StrCat(path, ": ", checkpoint.status().message()));
  }
  return checkpoint;
}

}  // namespace trainyard
