// The reconnecting WatchJob loop, kept apart from gRPC so that its one
// promise — after any number of reconnects the caller sees every event
// exactly once, in seq order — is unit-tested with a fake stream.
#ifndef TRAINYARD_CLIENT_WATCH_H_
#define TRAINYARD_CLIENT_WATCH_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// Drops what the caller must not see: heartbeats (they are not events) and
// any event with seq <= the last one delivered (a replay after a reconnect).
class EventDeduper {
 public:
  // Events with seq <= after_seq count as already seen.
  explicit EventDeduper(int64_t after_seq) : last_seq_(after_seq) {}

  // True when `event` is new; then it becomes the last seen.
  bool Accept(const v1::JobEvent& event);

  // The seq to reconnect with (WatchJobRequest.after_seq).
  int64_t last_seq() const { return last_seq_; }

 private:
  int64_t last_seq_;
};

// One WatchJob call: Read until false, then Finish for its status.
class EventStream {
 public:
  virtual ~EventStream() = default;
  virtual bool Read(v1::JobEvent* event) = 0;
  virtual absl::Status Finish() = 0;
};

// Opens a stream of the events with seq > after_seq.
using EventStreamOpener =
    std::function<std::unique_ptr<EventStream>(int64_t after_seq)>;

struct WatchRetryPolicy {
  // Consecutive failed connections before giving up; a stream that delivered
  // at least one message resets the count.
  int max_attempts = 8;
  // Wait before the first retry, doubled after each failure up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(8);
  // How to wait; tests pass a no-op. Null: absl::SleepFor.
  std::function<void(absl::Duration)> sleep;
};

struct WatchCallbacks {
  // Each new event, in seq order, exactly once. Required.
  std::function<void(const v1::JobEvent&)> on_event;
  // A heartbeat arrived (the connection is alive). Optional.
  std::function<void()> on_heartbeat;
  // The stream broke with `status` (UNAVAILABLE) and is reopened after
  // `backoff` from after_seq = last seq seen. Optional.
  std::function<void(const absl::Status& status, absl::Duration backoff)>
      on_reconnect;
};

// Watches until the stream ends OK (the server ends it after the event that
// moves the job to a terminal state). UNAVAILABLE — a dropped connection or a
// restarting server — reconnects with the last seq seen; any other error, or
// too many failed attempts in a row, is returned.
absl::Status RunWatch(const EventStreamOpener& open, int64_t after_seq,
                      const WatchCallbacks& callbacks,
                      const WatchRetryPolicy& policy);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_WATCH_H_
