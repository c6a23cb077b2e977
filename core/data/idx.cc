// IDX loading (LoadIdx in core/dataset.h), the format of MNIST and
// Fashion-MNIST: a big-endian header (0, 0, element type, number of
// dimensions, then one uint32 per dimension) followed by the values.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/data/gzip.h"
#include "core/dataset.h"

namespace trainyard {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

uint32_t ReadBigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Bytes per value of an IDX element type, 0 when the type is unknown.
int ElementSize(uint8_t type) {
  switch (type) {
    case 0x08: return 1;  // unsigned byte
    case 0x09: return 1;  // signed byte
    case 0x0B: return 2;  // short
    case 0x0C: return 4;  // int
    case 0x0D: return 4;  // float
    case 0x0E: return 8;  // double
    default: return 0;
  }
}

struct IdxFile {
  // The file's bytes: `raw` (the caller's input) or, when that was gzip, the
  // decompressed `storage`. Views are recomputed on access because moving a
  // short std::string would invalidate a view into it.
  std::string_view raw;
  std::string storage;
  bool inflated = false;
  size_t header_bytes = 0;
  uint8_t type = 0;
  std::vector<uint32_t> dims;
  uint64_t count = 0;       // dims[0]
  uint64_t per_sample = 1;  // product of dims[1:]

  std::string_view bytes() const { return inflated ? std::string_view(storage) : raw; }
  std::string_view data() const { return bytes().substr(header_bytes); }
};

absl::Status Error(std::string_view what, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(
      absl::string_view(what.data(), what.size()), " file: ",
      absl::string_view(message.data(), message.size())));
}

// Decompresses if needed and reads the header. `images` selects which magics
// are accepted.
absl::StatusOr<IdxFile> ReadIdx(std::string_view input, bool images,
                                const DataLimits& limits) {
  const std::string_view what = images ? "images" : "labels";
  IdxFile file;
  if (input.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " file is empty"));
  }
  if (IsGzip(input)) {
    GunzipLimits gunzip_limits;
    gunzip_limits.max_output_bytes = limits.max_decompressed_bytes;
    gunzip_limits.limit_name = limits.decompressed_limit_name;
    gunzip_limits.reserve = limits.reserve_memory;
    auto inflated = Gunzip(input, gunzip_limits);
    if (!inflated.ok()) {
      // The code stays: a passed limit is RESOURCE_EXHAUSTED, not bad input.
      return absl::Status(inflated.status().code(),
                          absl::StrCat(std::string(what), " file: ",
                                       std::string(inflated.status().message())));
    }
    file.storage = *std::move(inflated);
    file.inflated = true;
  } else {
    file.raw = input;
  }
  const std::string_view bytes = file.bytes();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4) {
    return Error(what, absl::StrCat("too short for an IDX header (", bytes.size(),
                                    " bytes)"));
  }
  const uint32_t magic = ReadBigEndian32(p);
  file.type = p[2];
  const int ndims = p[3];
  const bool magic_ok =
      images ? (magic == kImagesMagic ||
                (p[0] == 0 && p[1] == 0 && ElementSize(file.type) > 0 && ndims >= 2 &&
                 ndims <= 4))
             : magic == kLabelsMagic;
  if (!magic_ok) {
    // Two calls, each with a literal format: absl::StrFormat checks the
    // format against its arguments at compile time, which a ?: of two
    // literals defeats (clang refuses it; gcc let it through).
    std::string message =
        images ? absl::StrFormat(
                     "bad IDX magic 0x%08x: expected 0x00000803 (unsigned bytes, 3 "
                     "dimensions) or another IDX element type (0x08, 0x09, 0x0B-0x0E) "
                     "with 2-4 dimensions",
                     magic)
               : absl::StrFormat(
                     "bad IDX magic 0x%08x: expected 0x00000801 (unsigned bytes, 1 "
                     "dimension)",
                     magic);
    if (images && magic == kLabelsMagic) absl::StrAppend(&message, "; this looks like a labels file");
    if (!images && magic == kImagesMagic) absl::StrAppend(&message, "; this looks like an images file");
    return Error(what, message);
  }
  const uint64_t header_bytes = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < header_bytes) {
    return Error(what, absl::StrCat("too short for its IDX header: expected ", header_bytes,
                                    " bytes, got ", bytes.size()));
  }
  for (int d = 0; d < ndims; ++d) file.dims.push_back(ReadBigEndian32(p + 4 + 4 * d));
  file.count = file.dims[0];
  for (int d = 1; d < ndims; ++d) {
    // Each factor < 2^32 and the running product is kept <= max_values, so
    // this cannot overflow 64 bits.
    file.per_sample *= file.dims[d];
    if (file.per_sample > static_cast<uint64_t>(limits.max_values)) break;
  }
  const std::string shape = absl::StrJoin(file.dims, " x ");
  if (file.count == 0) return Error(what, absl::StrCat("has no ", std::string(what), " (dimensions ", shape, ")"));
  if (file.per_sample == 0) {
    return Error(what, absl::StrCat("samples have no values (dimensions ", shape, ")"));
  }
  const uint64_t max_values = static_cast<uint64_t>(limits.max_values);
  if (file.per_sample > max_values || file.count > max_values / file.per_sample) {
    return Error(what, absl::StrCat("dimensions ", shape, " exceed the limit of ",
                                    limits.max_values, " values"));
  }
  const int elem = ElementSize(file.type);
  const uint64_t expected = header_bytes + file.count * file.per_sample * elem;
  if (bytes.size() < expected) {
    return Error(what, absl::StrCat("expected ", expected, " bytes of data (", header_bytes,
                                    "-byte header and ", shape, " values of ", elem,
                                    " bytes), got ", bytes.size(), "; truncated?"));
  }
  if (bytes.size() > expected) {
    return Error(what, absl::StrCat(bytes.size() - expected,
                                    " unexpected bytes after the data (dimensions ", shape,
                                    " need ", expected, " bytes)"));
  }
  file.header_bytes = header_bytes;
  return file;
}

template <typename T>
T LoadBigEndian(const unsigned char* p) {
  using U = std::conditional_t<sizeof(T) == 2, uint16_t,
                               std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
  U u = 0;
  for (size_t i = 0; i < sizeof(T); ++i) u = static_cast<U>((u << 8) | p[i]);
  return std::bit_cast<T>(u);
}

// Converts big-endian values of type T into dst, checking they are finite as
// Scalar. Returns the index of the first bad value, or -1.
template <typename T>
int64_t ConvertBigEndian(std::string_view data, Scalar* dst, int64_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = static_cast<Scalar>(LoadBigEndian<T>(p + i * sizeof(T)));
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(dst[i])) return i;
    }
  }
  return -1;
}

absl::StatusOr<Matrix> ImageFeatures(const IdxFile& file) {
  const auto rows = static_cast<Eigen::Index>(file.per_sample);
  const auto cols = static_cast<Eigen::Index>(file.count);
  using ByteMatrix = Eigen::Matrix<uint8_t, Eigen::Dynamic, Eigen::Dynamic>;
  using SignedByteMatrix = Eigen::Matrix<int8_t, Eigen::Dynamic, Eigen::Dynamic>;
  if (file.type == 0x08) {
    return Eigen::Map<const ByteMatrix>(
               reinterpret_cast<const uint8_t*>(file.data().data()), rows, cols)
        .cast<Scalar>();
  }
  if (file.type == 0x09) {
    return Eigen::Map<const SignedByteMatrix>(
               reinterpret_cast<const int8_t*>(file.data().data()), rows, cols)
        .cast<Scalar>();
  }
  Matrix features(rows, cols);
  int64_t bad = -1;
  switch (file.type) {
    case 0x0B: bad = ConvertBigEndian<int16_t>(file.data(), features.data(), features.size()); break;
    case 0x0C: bad = ConvertBigEndian<int32_t>(file.data(), features.data(), features.size()); break;
    case 0x0D: bad = ConvertBigEndian<float>(file.data(), features.data(), features.size()); break;
    case 0x0E: bad = ConvertBigEndian<double>(file.data(), features.data(), features.size()); break;
  }
  if (bad >= 0) {
    return Error("images", absl::StrCat("value ", bad % rows, " of image ", bad / rows,
                                        " (0-based) is NaN, Inf or out of range"));
  }
  return features;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Dataset>> LoadIdx(
    std::string_view images, std::string_view labels,
    v1::Preprocessing preprocessing, const DataLimits& limits) {
  if (!v1::Preprocessing_IsValid(preprocessing)) {
    return absl::InvalidArgumentError(
        absl::StrCat("preprocessing: unknown value ", preprocessing));
  }
  auto image_file = ReadIdx(images, /*images=*/true, limits);
  if (!image_file.ok()) return image_file.status();
  auto label_file = ReadIdx(labels, /*images=*/false, limits);
  if (!label_file.ok()) return label_file.status();
  if (image_file->count != label_file->count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images file has ", image_file->count, " images but labels file has ",
        label_file->count, " labels"));
  }
  if (limits.reserve_memory) {
    const int64_t values = static_cast<int64_t>(image_file->count * (image_file->per_sample + 1));
    if (absl::Status s = limits.reserve_memory(values * static_cast<int64_t>(sizeof(Scalar)));
        !s.ok()) {
      return s;
    }
  }
  auto features = ImageFeatures(*image_file);
  if (!features.ok()) return features.status();
  using ByteRow = Eigen::Matrix<uint8_t, 1, Eigen::Dynamic>;
  Matrix targets = Eigen::Map<const ByteRow>(
                       reinterpret_cast<const uint8_t*>(label_file->data().data()), 1,
                       static_cast<Eigen::Index>(label_file->count))
                       .cast<Scalar>();
  return std::make_shared<const Dataset>(*std::move(features), std::move(targets),
                                         /*integer_labels=*/true, preprocessing);
}

}  // namespace trainyard
