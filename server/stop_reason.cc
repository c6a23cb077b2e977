#include "server/stop_reason.h"

#include <algorithm>

namespace trainyard::server {

StopReason Stronger(StopReason a, StopReason b) { return std::max(a, b); }

bool StopsWithCheckpoint(StopReason reason) {
  return reason == StopReason::kShutdown || reason == StopReason::kClientPause;
}

StopReason StopRequests::Strongest() const {
  StopReason strongest = StopReason::kNone;
  for (StopReason r : {StopReason::kShutdown, StopReason::kClientPause, StopReason::kAbandon,
                       StopReason::kClientCancel, StopReason::kCrash}) {
    if (Has(r)) strongest = Stronger(strongest, r);
  }
  return strongest;
}

// The branches test individual requests, not the strongest one: the trainer
// may have stopped for one request while a stronger one arrived only after it
// returned, and the outcome (what the trainer actually did) decides first.
RunEnding EndingFor(RunOutcome outcome, StopRequests requests) {
  RunEnding end;
  if (requests.Has(StopReason::kCrash)) {
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
      if (requests.Has(StopReason::kClientCancel)) {
        end.state = v1::CANCELLED;
        end.reason = "requested by client";
      } else if (requests.Has(StopReason::kAbandon)) {
        // Requeued; it resumes from the checkpoint it already has.
        end.state = v1::QUEUED;
        end.reason = "server shutdown";
      } else {
        end.state = v1::CANCELLED;
        end.reason = "cancelled";
      }
      return end;
    case RunOutcome::kPaused:
      if (requests.Has(StopReason::kClientPause) || !requests.Has(StopReason::kShutdown)) {
        end.state = v1::PAUSED;
        end.reason = "requested by client";
        end.checkpoint = v1::PAUSE;
        end.checkpoint_required = true;
        end.failure_reason = "could not save the pause checkpoint";
        return end;
      }
      // A shutdown: if the checkpoint cannot be written the job still goes
      // back to the queue and resumes from its previous one.
      end.state = v1::QUEUED;
      end.reason = "server shutdown";
      end.checkpoint = v1::SHUTDOWN;
      end.checkpoint_required = false;
      return end;
  }
  return end;
}

}  // namespace trainyard::server
