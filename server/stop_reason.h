// Why a running job was asked to stop, and what the end of its run records.
//
// A running job keeps every stop request it received (StopRequests, a small
// set of StopReasons). Their precedence, weakest first, is
//
//   kNone < kShutdown < kClientPause < kAbandon < kClientCancel < kCrash
//
// (Strongest(): a crash beats everything, a client's cancel beats a shutdown
// that ran out of grace (abandon), abandon beats a client's pause, and a
// client's pause beats a graceful shutdown). Pause-type reasons (kShutdown,
// kClientPause) ask the trainer to stop at a step boundary with a
// checkpoint; the others ask it to stop without one.
//
// EndingFor then maps the trainer's RunOutcome and the set of requests to the
// state the worker records. It reads the set, not just its strongest member,
// because the outcome and the strongest request can disagree when a request
// lands after the trainer returned (e.g. kPaused for a shutdown, then a
// client's cancel: the run paused, so it is requeued with a SHUTDOWN
// checkpoint, as before). For every outcome and every set of requests this is
// exactly the table the server had when the requests were five booleans
// (tests/server_scheduler_test.cc checks all of them against that table).
#ifndef TRAINYARD_SERVER_STOP_REASON_H_
#define TRAINYARD_SERVER_STOP_REASON_H_

#include <cstdint>
#include <string_view>

#include "core/trainer.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

enum class StopReason {
  kNone = 0,
  kShutdown,     // Backend::Shutdown: SHUTDOWN checkpoint, back to QUEUED
  kClientPause,  // PauseJob: PAUSE checkpoint, -> PAUSED
  kAbandon,      // shutdown grace expired: no checkpoint, back to QUEUED
  kClientCancel, // CancelJob: -> CANCELLED
  kCrash,        // ~Backend: no checkpoint, nothing recorded (recovery requeues)
};

// The stronger of the two (see the order above).
StopReason Stronger(StopReason a, StopReason b);

// True when `reason` asks for a stop with a checkpoint (StopToken::RequestPause);
// false when it asks for a stop without one (RequestCancel). kNone: false.
bool StopsWithCheckpoint(StopReason reason);

// The stop requests one run received, in any order. A single reason converts
// to the set holding just it (kNone: the empty set).
class StopRequests {
 public:
  constexpr StopRequests() = default;
  constexpr StopRequests(StopReason reason)  // NOLINT: implicit on purpose
      : bits_(Bit(reason)) {}

  void Add(StopReason reason) { bits_ |= Bit(reason); }
  bool Has(StopReason reason) const { return reason != StopReason::kNone && (bits_ & Bit(reason)); }
  bool empty() const { return bits_ == 0; }
  // The strongest request (kNone when empty).
  StopReason Strongest() const;
  bool operator==(const StopRequests& o) const { return bits_ == o.bits_; }

 private:
  static constexpr uint8_t Bit(StopReason r) {
    return r == StopReason::kNone ? 0 : static_cast<uint8_t>(1u << static_cast<int>(r));
  }
  uint8_t bits_ = 0;
};

// What the worker records when a run ends.
struct RunEnding {
  // False for a crash: nothing is written, the store still says RUNNING.
  bool record = true;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  std::string_view reason;  // the StateChange reason
  // Checkpoint saved before the state is recorded, if any.
  v1::CheckpointReason checkpoint = v1::CHECKPOINT_REASON_UNSPECIFIED;
  // When the checkpoint cannot be saved: true -> the job FAILS with
  // `failure_reason`; false -> the state above is recorded anyway (a
  // shutdown requeues the job, which resumes from its previous checkpoint).
  bool checkpoint_required = false;
  std::string_view failure_reason;
};

// `requests`: every request the run received up to now, including any that
// arrived after the trainer returned `outcome`.
RunEnding EndingFor(RunOutcome outcome, StopRequests requests);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_STOP_REASON_H_
