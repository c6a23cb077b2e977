// Decompression of gzip streams (RFC 1952) held in memory, for uploaded data
// files such as MNIST's *.gz.
#ifndef TRAINYARD_CORE_DATA_GZIP_H_
#define TRAINYARD_CORE_DATA_GZIP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace trainyard {

// True when `data` starts with the gzip magic bytes 1f 8b.
bool IsGzip(std::string_view data);

// How Gunzip may use memory, and what it reports.
struct GunzipLimits {
  // Largest decompressed size; inflating stops as soon as it is passed.
  int64_t max_output_bytes = int64_t{4} << 30;
  // The limit's name for the error, e.g. "max_dataset_bytes".
  std::string limit_name;
  // Called before the output buffer grows by `bytes` (a server's memory
  // budget for parses in flight); a non-OK status ends Gunzip with it. Empty:
  // no accounting.
  std::function<absl::Status(int64_t bytes)> reserve;
};

struct GunzipStats {
  int64_t produced_bytes = 0;  // decompressed bytes written, including refused ones
  int64_t buffer_bytes = 0;    // largest size the output buffer reached
};

// Inflates a gzip stream (several concatenated members are joined, as gzip(1)
// does; trailing zero padding is ignored). Errors start with "gzip: ":
// INVALID_ARGUMENT for a corrupt or truncated stream, a CRC mismatch or
// trailing garbage; RESOURCE_EXHAUSTED naming the limit once the output
// passes limits.max_output_bytes (a zip-bomb guard: the buffer never grows
// past max_output_bytes + 1, and inflating stops there), or whatever
// limits.reserve returns. `stats`, when given, is filled on every return.
absl::StatusOr<std::string> Gunzip(std::string_view data, const GunzipLimits& limits,
                                   GunzipStats* stats = nullptr);
absl::StatusOr<std::string> Gunzip(std::string_view data, int64_t max_output_bytes);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATA_GZIP_H_
