// absl::Time <-> google.protobuf.Timestamp, for every proto the server fills
// (job times, event times, checkpoint and dataset creation times).
#ifndef TRAINYARD_SERVER_TIME_UTIL_H_
#define TRAINYARD_SERVER_TIME_UTIL_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace trainyard::server {

// Whole seconds rounded down and 0 <= nanos < 1e9, as Timestamp requires
// (also for times before the epoch).
inline void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

inline int64_t TimestampNanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_TIME_UTIL_H_
