// The job scheduler: the queue of QUEUED jobs (priority, then age, then id),
// the table of running jobs with the stop requests each received, and
// admission (shutdown, max_queued_jobs). Workers block in TakeNext for the
// next job.
//
// A taken job is first only *claimed*: its worker has yet to write the
// RUNNING row. It counts as running (IsRunning, RequestStop) only once the
// worker calls MarkStarted, under the job's record lock in the same critical
// section as that write, so "running here" and "the row says RUNNING" change
// together for everyone who holds the job's lock. Until then cancel, pause
// and resume take the row path, and the worker's write sees their result.
//
// Locking: one mutex, mu_, guarding only the in-memory state below. It is
// never held across I/O (no store write, no event append, no checkpoint),
// never across training, and no other lock is taken while holding it. It may
// be taken while holding a job's record lock (server/job_records.h), never
// the other way round: see the lock order in server/backend_internal.h.
//
// Thread-safe.
#ifndef TRAINYARD_SERVER_SCHEDULER_H_
#define TRAINYARD_SERVER_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/trainer.h"
#include "server/stop_reason.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Queue order: priority descending, then creation time, then id (ties are
// practically impossible but the order must be total).
struct QueueKey {
  int priority = 0;
  int64_t create_nanos = 0;
  std::string id;
  // The job's concurrency group ("" for none; an experiment's trials share
  // one, limited by SetGroupLimit). Fixed for a job, so not part of the order.
  std::string group;
  bool operator<(const QueueKey& o) const {
    if (priority != o.priority) return priority > o.priority;
    return std::tie(create_nanos, id) < std::tie(o.create_nanos, o.id);
  }
};
QueueKey KeyOf(const v1::Job& job);

class JobScheduler {
 public:
  explicit JobScheduler(int max_queued_jobs) : max_queued_(max_queued_jobs) {}
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  // ------------------------------------------------------------ admission
  enum class Admission { kAdmitted, kClosed, kFull };

  // A queue slot held between admission and the store write that makes the
  // job QUEUED. Held slots count against max_queued_jobs, so two concurrent
  // admissions can never both take the last slot. Commit puts the job in the
  // queue; a slot destroyed uncommitted is given back.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& o) noexcept : owner_(o.owner_) { o.owner_ = nullptr; }
    Reservation& operator=(Reservation&& o) noexcept;
    ~Reservation();
    bool held() const { return owner_ != nullptr; }
    // REQUIRES: held(). The job's row already says QUEUED. Returns the
    // job's 0-based queue position at the moment it was queued.
    int32_t Commit(const QueueKey& key);

   private:
    friend class JobScheduler;
    explicit Reservation(JobScheduler* owner) : owner_(owner) {}
    JobScheduler* owner_ = nullptr;
  };

  // kAdmitted (and *slot held) unless closed or queued + reserved jobs
  // already reach max_queued_jobs. If *slot is already held, it counts
  // until the new one is taken: given back when kAdmitted, kept otherwise.
  Admission Reserve(Reservation* slot);
  // The same check without taking a slot (validate_only), and the queue
  // position the job would get.
  Admission Check(int32_t* position_if_admitted) const;
  int max_queued() const { return max_queued_; }

  // From now on admission says kClosed.
  void Close();
  bool closed() const;

  // ---------------------------------------------------------------- queue
  // Queues a job whose row says QUEUED (recovery, a run requeued by
  // shutdown). Not counted against the limit: these jobs were admitted once.
  void Enqueue(const QueueKey& key);
  void Dequeue(const QueueKey& key);
  // 0-based position, or -1 when not queued. Counts every job ahead, also
  // those a full group holds back, so it is an upper bound on how many
  // start first.
  int32_t QueuePosition(const QueueKey& key) const;
  int64_t queued() const;

  // --------------------------------------------------------------- workers
  // One run of a job; its token also identifies the run (a job may be
  // taken again after a run of it ended).
  struct Taken {
    std::string job_id;
    QueueKey key;                      // where it was in the queue
    std::shared_ptr<StopToken> token;  // what the trainer polls
  };
  // Blocks until a job that may start is queued or Stop was called. Moves
  // the first such job (in queue order, skipping jobs of a full group) from
  // the queue to the running table as claimed (no requests yet);
  // nullopt after Stop. A queued job already claimed by another worker is
  // dropped from the queue instead: that worker's RUNNING write will see
  // its QUEUED row and start it.
  std::optional<Taken> TakeNext();
  // ---------------------------------------------------------------- groups
  // At most `limit` jobs of `group` claimed or running at once (an
  // experiment's max_concurrent); 0 removes the limit. TakeNext passes over
  // a queued job whose group is full: it stays queued in its place, and the
  // first job behind it that may start does. Raising a limit, or a run of
  // the group finishing, lets a blocked worker take the job held back.
  // REQUIRES: group is not empty; limit >= 0.
  void SetGroupLimit(const std::string& group, int limit);
  // The group's jobs claimed or running now.
  int GroupActive(std::string_view group) const;

  // Workers leave TakeNext (now and later) with nullopt.
  void Stop();
  bool stopped() const;
  // Workers blocked in TakeNext right now, waiting for a job or Stop (a test
  // can tell that a worker really blocked before it calls Stop).
  int waiting_workers() const;

  // The claimed run's RUNNING row is written (call it from that write's
  // `written` callback, under the job's lock). From now on the job is
  // running; it also leaves the queue if a resume put it back meanwhile.
  void MarkStarted(const Taken& run);

  // Takes the run out of the running table (it ended, or never started). If
  // `requeue` is set, puts the job back in the queue in the same critical
  // section. Does nothing to a later run of the same job (so a second call
  // is harmless).
  void Finish(const Taken& run, const std::optional<QueueKey>& requeue = std::nullopt);

  // If the job is running (started): adds `reason` to its requests (see
  // server/stop_reason.h), signals its token accordingly and returns true.
  // A claimed job is not signalled: false, and the caller changes its row.
  bool RequestStop(std::string_view job_id, StopReason reason);
  // Every run in the table, claimed ones too (shutdown, crash): a claimed
  // job that then starts stops at its first step boundary.
  void RequestStopAll(StopReason reason);
  // Every request the job's current run received (empty if none is in the
  // table); EndingFor reads this.
  StopRequests RequestsOf(std::string_view job_id) const;
  // The strongest of them (kNone if none).
  StopReason ReasonOf(std::string_view job_id) const;
  // Started (its RUNNING row is written) and not finished.
  bool IsRunning(std::string_view job_id) const;
  // Waits until no job is running or claimed, or `deadline`; true when idle.
  bool AwaitIdle(absl::Time deadline);

 private:
  struct Running {
    std::shared_ptr<StopToken> token = std::make_shared<StopToken>();
    StopRequests requests;
    bool started = false;  // false: claimed, RUNNING row not yet written
    std::string group;     // counted in group_active_ while in the table
  };
  void Signal(Running& run, StopReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first queued job whose group has room, or queue_.end().
  std::set<QueueKey>::iterator FirstStartable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unreserve();

  const int max_queued_;
  mutable absl::Mutex mu_;
  std::set<QueueKey> queue_ ABSL_GUARDED_BY(mu_);
  int64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;  // admitted, not yet committed
  std::map<std::string, Running, std::less<>> running_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;  // workers blocked in TakeNext
  std::map<std::string, int, std::less<>> group_limit_ ABSL_GUARDED_BY(mu_);
  // Claimed + started runs per group (only groups with at least one).
  std::map<std::string, int, std::less<>> group_active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_SCHEDULER_H_
