#include "client/watch.h"

#include <algorithm>

namespace trainyard::client {

bool EventDeduper::Accept(const v1::JobEvent& event) {
  if (event.has_heartbeat()) return false;
  if (event.seq() <= last_seq_) return false;
  last_seq_ = event.seq();
  return true;
}

absl::Status RunWatch(const EventStreamOpener& open, int64_t after_seq,
                      const WatchCallbacks& callbacks,
                      const WatchRetryPolicy& policy) {
  EventDeduper dedup(after_seq);
  int failures = 0;
  absl::Duration backoff = policy.initial_backoff;
  while (true) {
    std::unique_ptr<EventStream> stream = open(dedup.last_seq());
    bool got_message = false;
    v1::JobEvent event;
    while (stream->Read(&event)) {
      got_message = true;
      if (event.has_heartbeat()) {
        if (callbacks.on_heartbeat) callbacks.on_heartbeat();
        continue;
      }
      if (dedup.Accept(event)) callbacks.on_event(event);
    }
    absl::Status status = stream->Finish();
    if (status.ok()) return status;
    if (status.code() != absl::StatusCode::kUnavailable) return status;
    if (got_message) {
      // The connection worked for a while: this is a fresh outage.
      failures = 0;
      backoff = policy.initial_backoff;
    }
    if (++failures > policy.max_attempts) return status;
    if (callbacks.on_reconnect) callbacks.on_reconnect(status, backoff);
    if (policy.sleep) {
      policy.sleep(backoff);
    } else {
      absl::SleepFor(backoff);
    }
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace trainyard::client
