// Why a running job was asked to stop, and what the end of its run records.
//
// A running job holds one StopReason. Every request raises it to the
// stronger of the two reasons, in this order (weakest first):
//
//   kNone < kShutdown < kClientPause < kAbandon < kClientCancel < kCrash
//
// so a crash beats everything, a client's cancel beats a shutdown that ran
// out of grace (abandon), abandon beats a client's pause, and a client's
// pause beats a graceful shutdown. Pause-type reasons (kShutdown,
// kClientPause) ask the trainer to stop at a step boundary with a
// checkpoint; the others ask it to stop without one.
//
// EndingFor then maps the trainer's RunOutcome and the reason to the state
// the worker records. For every set of requests that reached the trainer
// before it stopped this is exactly the table the server had when the
// reasons were five booleans (tests/server_scheduler_test.cc checks every
// combination against that table).
#ifndef TRAINYARD_SERVER_STOP_REASON_H_
#define TRAINYARD_SERVER_STOP_REASON_H_

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

RunEnding EndingFor(RunOutcome outcome, StopReason reason);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_STOP_REASON_H_
