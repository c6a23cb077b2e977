#include "server/stop_reason.h"

#include <algorithm>

namespace trainyard::server {

StopReason Stronger(StopReason a, StopReason b) { return std::max(a, b); }

bool StopsWithCheckpoint(StopReason reason) {
  return reason == StopReason::kShutdown || reason == StopReason::kClientPause;
}

RunEnding EndingFor(RunOutcome outcome, StopReason reason) {
  RunEnding end;
  if (reason == StopReason::kCrash) {
    end.record = false;
    return end;
  }
  switch (outcome) {
    case RunOutcome::kCompleted:
    case RunOutcome::kEarlyStopped:
      end.state = v1::SUCCEEDED;
      end.reason = outcome == RunOutcome::kCompleted ? "completed" : "early stopping";
      end.checkpoint = v1::FINAL;
      end.checkpoint_required = true;
      end.failure_reason = "could not save the final checkpoint";
      return end;
    case RunOutcome::kCancelled:
      if (reason == StopReason::kClientCancel) {
        end.state = v1::CANCELLED;
        end.reason = "requested by client";
      } else if (reason == StopReason::kAbandon) {
        // Requeued; it resumes from the checkpoint it already has.
        end.state = v1::QUEUED;
        end.reason = "server shutdown";
      } else {
        end.state = v1::CANCELLED;
        end.reason = "cancelled";
      }
      return end;
    case RunOutcome::kPaused:
      if (reason == StopReason::kShutdown || reason == StopReason::kAbandon) {
        // If the checkpoint cannot be written the job still goes back to the
        // queue and resumes from its previous one.
        end.state = v1::QUEUED;
        end.reason = "server shutdown";
        end.checkpoint = v1::SHUTDOWN;
        end.checkpoint_required = false;
        return end;
      }
      end.state = v1::PAUSED;
      end.reason = "requested by client";
      end.checkpoint = v1::PAUSE;
      end.checkpoint_required = true;
      end.failure_reason = "could not save the pause checkpoint";
      return end;
  }
  return end;
}

}  // namespace trainyard::server
