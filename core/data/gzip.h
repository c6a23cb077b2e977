// Decompression of gzip streams (RFC 1952) held in memory, for uploaded data
// files such as MNIST's *.gz.
#ifndef TRAINYARD_CORE_DATA_GZIP_H_
#define TRAINYARD_CORE_DATA_GZIP_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace trainyard {

// True when `data` starts with the gzip magic bytes 1f 8b.
bool IsGzip(std::string_view data);

// Inflates a gzip stream (several concatenated members are joined, as gzip(1)
// does; trailing zero padding is ignored). Errors are INVALID_ARGUMENT starting
// with "gzip: ": a corrupt or truncated stream, a CRC mismatch, trailing
// garbage, or output beyond `max_output_bytes` (a zip-bomb guard).
absl::StatusOr<std::string> Gunzip(std::string_view data,
                                   int64_t max_output_bytes);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_DATA_GZIP_H_
