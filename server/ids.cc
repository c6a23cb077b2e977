#include "server/ids.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "core/sha256.h"

namespace trainyard::server {
namespace {

std::string NewId(const char* prefix) {
  // absl::BitGen is seeded from the OS per instance; ids are rare enough that
  // constructing one per id costs nothing.
  absl::BitGen gen;
  return absl::StrFormat("%s%016x", prefix, absl::Uniform<uint64_t>(gen));
}

bool HasShape(std::string_view id, std::string_view prefix) {
  return id.substr(0, prefix.size()) == prefix && IsLowerHex(id.substr(prefix.size()), 16);
}

}  // namespace

std::string NewDatasetId() { return NewId("ds-"); }
std::string NewJobId() { return NewId("job-"); }
bool IsDatasetId(std::string_view id) { return HasShape(id, "ds-"); }
bool IsJobId(std::string_view id) { return HasShape(id, "job-"); }

}  // namespace trainyard::server
