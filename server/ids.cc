#include "server/ids.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace trainyard::server {
namespace {

std::string NewId(const char* prefix) {
  // absl::BitGen is seeded from the OS per instance; ids are rare enough that
  // constructing one per id costs nothing.
  absl::BitGen gen;
  return absl::StrFormat("%s%016x", prefix, absl::Uniform<uint64_t>(gen));
}

bool HasShape(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 16 || id.substr(0, prefix.size()) != prefix) return false;
  for (char c : id.substr(prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string NewDatasetId() { return NewId("ds-"); }
std::string NewJobId() { return NewId("job-"); }
bool IsDatasetId(std::string_view id) { return HasShape(id, "ds-"); }
bool IsJobId(std::string_view id) { return HasShape(id, "job-"); }

}  // namespace trainyard::server
