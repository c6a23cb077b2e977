#include "core/data/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trainyard {
namespace {

// Owns a z_stream set up for gzip decoding, so every return path ends it.
class Inflater {
 public:
  Inflater() = default;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() {
    if (initialised_) inflateEnd(&z_);
  }

  bool Init() {
    // 16 + MAX_WBITS: expect a gzip header and trailer (checks the CRC-32).
    initialised_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;
    return initialised_;
  }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool initialised_ = false;
};

absl::Status ZlibError(const char* what, int code, const z_stream& z) {
  return absl::InvalidArgumentError(
      absl::StrCat("gzip: ", what, ": ", z.msg != nullptr ? z.msg : zError(code)));
}

}  // namespace

bool IsGzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

absl::StatusOr<std::string> Gunzip(std::string_view data, int64_t max_output_bytes) {
  GunzipLimits limits;
  limits.max_output_bytes = max_output_bytes;
  return Gunzip(data, limits);
}

absl::StatusOr<std::string> Gunzip(std::string_view data, const GunzipLimits& limits,
                                   GunzipStats* stats) {
  GunzipStats local_stats;
  GunzipStats& st = stats != nullptr ? *stats : local_stats;
  st = GunzipStats();
  if (!IsGzip(data)) {
    return absl::InvalidArgumentError("gzip: not a gzip stream (no 1f 8b magic)");
  }
  Inflater inflater;
  if (!inflater.Init()) return absl::InternalError("gzip: cannot initialise zlib");
  z_stream& z = inflater.z();

  const int64_t max_output = std::max<int64_t>(limits.max_output_bytes, 0);
  // One byte past the limit is enough to see that it is passed, so the
  // buffer never needs to be larger.
  const size_t cap = static_cast<size_t>(max_output) + 1;
  std::string out;
  // Grows the buffer to exactly `size` bytes, charging the growth first.
  // (std::string::resize may double its capacity past the request; a fresh
  // reserve from empty does not.)
  auto grow = [&](size_t size) -> absl::Status {
    if (size <= out.size()) return absl::OkStatus();
    if (limits.reserve) {
      if (absl::Status s = limits.reserve(static_cast<int64_t>(size - out.size())); !s.ok()) {
        return s;
      }
    }
    std::string bigger;
    bigger.reserve(size);
    bigger.assign(out);
    bigger.resize(size);
    out.swap(bigger);
    st.buffer_bytes = std::max<int64_t>(st.buffer_bytes, static_cast<int64_t>(out.capacity()));
    return absl::OkStatus();
  };
  // The last four bytes of a member hold its size mod 2^32: a good first size
  // for a single-member file (one byte more, so that inflate can reach the
  // end of the stream without another grow), capped so a lying trailer costs
  // little.
  size_t hint = size_t{1} << 20;
  if (data.size() >= 18) {
    const auto* t = reinterpret_cast<const unsigned char*>(data.data() + data.size() - 4);
    const uint64_t isize = t[0] | (t[1] << 8) | (t[2] << 16) | (uint64_t{t[3]} << 24);
    // Deflate cannot expand more than 1032:1.
    hint = static_cast<size_t>(std::min<uint64_t>(
        {isize + 1, uint64_t{data.size()} * 1032 + 1, uint64_t{256} << 20}));
  }
  if (absl::Status s = grow(std::min(std::max<size_t>(hint, 1), cap)); !s.ok()) return s;

  const unsigned char* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t in_left = data.size();
  size_t produced = 0;
  constexpr size_t kMaxChunk = std::numeric_limits<uInt>::max();
  for (;;) {
    if (produced == out.size()) {
      // Grow geometrically, but never past the limit (+1). produced == cap
      // cannot happen here: it passed the limit and returned below.
      if (absl::Status s = grow(std::min(std::max<size_t>(out.size() * 2, size_t{1} << 20), cap));
          !s.ok()) {
        return s;
      }
    }
    z.next_in = const_cast<unsigned char*>(in);
    z.avail_in = static_cast<uInt>(std::min(in_left, kMaxChunk));
    z.next_out = reinterpret_cast<unsigned char*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxChunk));
    const uInt in_before = z.avail_in;
    const uInt out_before = z.avail_out;
    const int rc = inflate(&z, Z_NO_FLUSH);
    in += in_before - z.avail_in;
    in_left -= in_before - z.avail_in;
    produced += out_before - z.avail_out;
    st.produced_bytes = static_cast<int64_t>(produced);
    if (static_cast<int64_t>(produced) > max_output) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "gzip: decompressed data exceeds the limit of ", max_output, " bytes",
          limits.limit_name.empty() ? "" : absl::StrCat(" (", limits.limit_name, ")")));
    }
    if (rc == Z_STREAM_END) {
      // Another member may follow (cat a.gz b.gz); zero padding may too.
      const std::string_view rest(reinterpret_cast<const char*>(in), in_left);
      if (rest.find_first_not_of('\0') == std::string_view::npos) break;
      if (!IsGzip(rest)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gzip: ", in_left, " bytes of trailing garbage after the stream"));
      }
      if (inflateReset(&z) != Z_OK) return ZlibError("reset", rc, z);
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      // No progress possible although output space was left: the input ran
      // out before the stream ended.
      return absl::InvalidArgumentError(
          "gzip: truncated stream (input ended before the end of the data)");
    }
    if (rc != Z_OK) return ZlibError("corrupt stream", rc, z);
    if (in_left == 0 && z.avail_out > 0) {
      return absl::InvalidArgumentError(
          "gzip: truncated stream (input ended before the end of the data)");
    }
  }
  out.resize(produced);
  return out;
}

}  // namespace trainyard
