// Server-made resource ids. Ids are random (not derived from content or
// names) so they reveal nothing and never collide across re-uploads; they are
// only ever used as database keys, never as file paths.
#ifndef TRAINYARD_SERVER_IDS_H_
#define TRAINYARD_SERVER_IDS_H_

#include <string>
#include <string_view>

namespace trainyard::server {

// "ds-" + 16 lower-case hex digits (64 random bits).
std::string NewDatasetId();
// "job-" + 16 lower-case hex digits (64 random bits).
std::string NewJobId();

// Shape checks, so a malformed id can be answered with INVALID_ARGUMENT
// naming the field instead of a store lookup.
bool IsDatasetId(std::string_view id);
bool IsJobId(std::string_view id);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_IDS_H_
