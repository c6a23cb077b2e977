// LoadIdx, as a dataset upload of format IDX reaches it (the upload's bytes
// split into images and labels by header.idx_parts, server/dataset_cache.cc),
// raw or gzip-compressed:
//
//   byte 0:      bit 0 gzip the images part here, bit 1 gzip the labels part
//                (so that mutations of the IDX headers inside a gzip stream
//                are reachable; seeds with ready-made gzip parts and these
//                bits clear fuzz the inflater's error paths instead),
//                bits 2-3 preprocessing (NONE, SCALE_01, STANDARDIZE)
//   bytes 1-2:   the images part's length, little-endian (clamped)
//   the rest:    images part, then labels part
//
// make_seeds.cc writes seeds in this layout.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dataset.h"

namespace {

// gzip (RFC 1952) of `data`, as `gzip -c` would write it.
std::string Gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    __builtin_trap();
  }
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t mode = static_cast<uint8_t>(input[0]);
  const size_t images_size = std::min<size_t>(
      static_cast<uint8_t>(input[1]) | (static_cast<size_t>(static_cast<uint8_t>(input[2])) << 8),
      size - 3);
  input.remove_prefix(3);
  std::string images(input.substr(0, images_size));
  std::string labels(input.substr(images_size));
  if (mode & 1) images = Gzip(images);
  if (mode & 2) labels = Gzip(labels);
  const auto preprocessing = static_cast<trainyard::v1::Preprocessing>(((mode >> 2) & 3) % 3);

  // Small limits, as a server sets them: a 1 MiB inflate budget keeps a
  // legitimate bomb from exhausting the fuzzer's memory.
  trainyard::DataLimits limits;
  limits.max_values = int64_t{1} << 20;
  limits.max_decompressed_bytes = int64_t{1} << 20;
  auto dataset = trainyard::LoadIdx(images, labels, preprocessing, limits);
  if (dataset.ok()) {
    const trainyard::Dataset& ds = **dataset;
    if (ds.features().cols() != ds.targets().cols()) __builtin_trap();
    if (!ds.integer_labels() || ds.target_dim() != 1) __builtin_trap();
    if (!ds.features().allFinite()) __builtin_trap();
  }
  return 0;
}
