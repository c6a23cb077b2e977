// The per-job event log front: every job event gets the next sequence number
// of its job (1, 2, 3, ... without gaps, continuing after a restart from the
// largest seq in the store), is made durable in the MetadataStore, and only
// then becomes visible to watchers. A watcher therefore never sees an event
// that a crash could take back, and "resume after seq N" is exact.
//
// Watching is pull-based, shaped for a gRPC callback-API server-streaming
// reactor that keeps one write in flight:
//
//   auto sub = log.Subscribe(job_id, after_seq, [this] { MaybeWrite(); });
//   // MaybeWrite(), also from OnWriteDone():
//   //   if a write is in flight: return
//   //   switch (sub->Next(&event)) {
//   //     kEvent: StartWrite(event.get()); keep `event` alive until OnWriteDone
//   //     kWait:  nothing; on_ready fires once when there is more (arm a
//   //             heartbeat alarm here)
//   //     kEnd:   Finish(OK)
//   //     error:  Finish(ToGrpcStatus(error))
//   //   }
//   // OnDone(): sub->Cancel(); delete this;
//
// Memory stays bounded however slow or dead a watcher is, and no watcher can
// slow an appender: watchers hold no queue of their own. Each job keeps one
// shared tail of its newest `tail_capacity` events; a watcher is only a
// cursor (its last seq). A watcher that falls behind the tail reads the
// missing events back from the store, a page at a time, by seq, so it still
// sees every event exactly once. (Alternatives: a bounded queue per watcher
// that drops and re-reads, or disconnecting slow watchers with
// RESOURCE_EXHAUSTED; the shared tail needs less memory and no error path.)
//
// Thread-safe. Appends to one job are serialised; different jobs and
// watchers proceed in parallel apart from the store's own mutex.
#ifndef TRAINYARD_SERVER_EVENT_LOG_H_
#define TRAINYARD_SERVER_EVENT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metadata_store.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

struct EventLogOptions {
  // Newest events of each job kept in memory for live watchers. Watchers
  // further behind read from the store. > 0.
  int tail_capacity = 1024;
  // Events a lagging watcher reads from the store at once (its only buffer). > 0.
  int store_page_size = 256;
  // Step points are batched into one StepMetrics event, persisted when this
  // many are buffered, when `max_step_delay` has passed since the job's last
  // write, or before any other event of the job. > 0.
  int max_points_per_event = 64;
  absl::Duration max_step_delay = absl::Seconds(1);
  // Diagnostics snapshots are batched the same way into one DiagnosticsBatch
  // event (written right after the StepMetrics event of the same flush), at
  // most this many per event; they share max_step_delay and the
  // first-after-another-event rule with the step points. > 0.
  int max_snapshots_per_event = 8;
  // Time source for event timestamps and batching (injectable for tests).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// True for SUCCEEDED, FAILED and CANCELLED: after such a state change the
// job's log is closed.
bool IsTerminalState(v1::JobState state);

class EventLog;

// One watcher's cursor over one job's events. Not thread-safe: its owner
// (the reactor) calls Next from one thread at a time.
class EventSubscription {
 public:
  enum class Poll {
    kEvent,  // *event is the next event (seq = last_seq() + 1 before the call)
    kWait,   // nothing new yet; on_ready will be called once when there is
    kEnd,    // the job ended and every event up to the terminal one was returned
  };

  ~EventSubscription();  // Cancel()s
  EventSubscription(const EventSubscription&) = delete;
  EventSubscription& operator=(const EventSubscription&) = delete;

  // Never waits on an appender beyond a short critical section; when the
  // cursor is behind the in-memory tail it reads up to store_page_size events
  // from the store. Errors: UNAVAILABLE after EventLog::Shutdown, NOT_FOUND
  // after EventLog::Drop, or a store failure.
  absl::StatusOr<Poll> Next(std::shared_ptr<const v1::JobEvent>* event);

  // Seq of the last event returned by Next (after_seq before the first).
  int64_t last_seq() const { return cursor_; }

  // After Cancel returns, on_ready is not running and will never be called
  // again — except when Cancel is called from inside on_ready itself, which
  // is allowed. It waits for an on_ready running on another thread, so do
  // not call it while holding a lock that on_ready takes (in a reactor: call
  // it from OnDone, outside the reactor's mutex). Idempotent.
  void Cancel();

 private:
  friend class EventLog;
  struct JobLog;

 public:
  struct Waiter;  // internal; public only so event_log.cc helpers can name it

 private:
  EventSubscription(EventLog* owner, std::shared_ptr<JobLog> log, int64_t after_seq,
                    std::shared_ptr<Waiter> waiter);

  EventLog* const owner_;
  std::shared_ptr<JobLog> log_;
  int64_t cursor_;
  std::deque<std::shared_ptr<const v1::JobEvent>> page_;  // read from the store
  std::shared_ptr<Waiter> waiter_;
  bool cancelled_ = false;
};

class EventLog {
 public:
  // `store` must outlive the log.
  explicit EventLog(MetadataStore* store, EventLogOptions options = {});
  ~EventLog();

  // Appends `event` to job_id's log and returns its seq. Sets job_id, seq and
  // (when unset) time. Buffered step points of the job are written first, in
  // the same transaction. Errors: INVALID_ARGUMENT for an event without a kind
  // or a heartbeat (heartbeats are never stored); FAILED_PRECONDITION after
  // the job's terminal state change; store errors (nothing is appended then).
  absl::StatusOr<int64_t> Append(std::string_view job_id, v1::JobEvent event);

  // Append, in the same store transaction as `write` (MetadataStore::Commit):
  // for a transition the API shows as a row and an event together (a job's
  // insert and its first event, a state change, a checkpoint). The seq is
  // assigned under the job's append lock, the event is published only after
  // the transaction commits, and a failed transaction assigns no seq and
  // publishes nothing. Errors as for Append, plus those of `write`.
  absl::StatusOr<int64_t> AppendWith(std::string_view job_id, v1::JobEvent event,
                                     StoreWrite write);

  // Buffers one per-step point; see EventLogOptions::max_points_per_event.
  // Errors as for Append when a flush happens; while flushes fail, only the
  // newest 4 * max_points_per_event points are kept.
  absl::Status AppendStepPoint(std::string_view job_id, const v1::StepPoint& point);

  // Buffers one diagnostics snapshot; see max_snapshots_per_event. Errors as
  // AppendStepPoint; while flushes fail, only the newest
  // 4 * max_snapshots_per_event snapshots are kept.
  absl::Status AppendDiagnostics(std::string_view job_id,
                                 const v1::DiagnosticsSnapshot& snapshot);

  // Writes the job's buffered step points and snapshots now (call from a periodic timer so
  // points do not wait for the next step of a stalled job). No-op if none.
  absl::Status Flush(std::string_view job_id);
  absl::Status FlushAll();

  // A cursor that returns the job's events with seq > after_seq: stored
  // history first, then live events, then kEnd after the terminal event.
  // `on_ready` is called (from an appender's thread, no locks held; it must be
  // quick and must not block) when Next() returned kWait and there is news.
  // The caller checks that the job exists. INVALID_ARGUMENT if after_seq < 0;
  // OUT_OF_RANGE if after_seq is beyond the job's last event.
  absl::StatusOr<std::unique_ptr<EventSubscription>> Subscribe(
      std::string_view job_id, int64_t after_seq, std::function<void()> on_ready);

  // Seq of the job's last visible event (0: none).
  absl::StatusOr<int64_t> LastSeq(std::string_view job_id);

  // After the job's rows were deleted (Backend::DeleteJob): forgets its
  // in-memory log and wakes its watchers, whose Next returns NOT_FOUND from
  // then on (a page already read from the store is still returned first).
  void Drop(std::string_view job_id);
  // Wakes every watcher; from now on Next returns UNAVAILABLE and Append
  // still works (so shutdown checkpoints are logged).
  void Shutdown();

  // Number of jobs with in-memory state, and events held in memory for one
  // job (0 if not in memory): for tests and metrics.
  int jobs_in_memory();
  int tail_size(std::string_view job_id);

  // A heartbeat for the stream (not stored): job_id, seq = last seq sent.
  static v1::JobEvent MakeHeartbeat(std::string_view job_id, int64_t last_seq, absl::Time now);

 private:
  friend class EventSubscription;
  using JobLog = EventSubscription::JobLog;

  absl::StatusOr<std::shared_ptr<JobLog>> GetOrLoad(std::string_view job_id);
  // Writes `batch` (events without seqs) after the buffered points and
  // snapshots.
  // REQUIRES: log->append_mu held.
  // Collects the subscriptions to wake into `wake`; the caller fires them
  // after releasing append_mu.
  // `write`, when not null, commits in the same transaction as the events.
  // Append and AppendWith: one event, with `write` committed in the same
  // transaction when non-null.
  absl::StatusOr<int64_t> AppendOne(std::string_view job_id, v1::JobEvent event,
                                    StoreWrite* write);
  absl::StatusOr<int64_t> WriteLocked(
      JobLog& log, std::vector<v1::JobEvent> batch,
      std::vector<std::shared_ptr<EventSubscription::Waiter>>* wake,
      StoreWrite* write = nullptr);
  // The body both buffered appends share: refuses an ended log, runs `buffer`
  // (which adds one item under log.append_mu and says whether its buffer is
  // full), then FlushBufferedLocked.
  absl::Status AppendBuffered(std::string_view job_id, absl::FunctionRef<bool(JobLog&)> buffer);
  // After AppendStepPoint or AppendDiagnostics buffered one item: writes the
  // buffers when `full`, when the job's last write was another event, or
  // when max_step_delay has passed; if that fails, trims each buffer to its
  // cap. REQUIRES: log.append_mu held.
  absl::Status FlushBufferedLocked(
      JobLog& log, bool full, std::vector<std::shared_ptr<EventSubscription::Waiter>>* wake);
  void MaybeForget(const std::shared_ptr<JobLog>& log);
  // Drops a log that never wrote an event and has no watcher.
  void ForgetIfEmpty(const std::shared_ptr<JobLog>& log);

  MetadataStore* const store_;
  const EventLogOptions options_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<JobLog>, std::less<>> logs_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_EVENT_LOG_H_
