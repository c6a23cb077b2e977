// Job rows and their StateChange events, written together. Every
// read-modify-write of a job row holds that job's record lock, so a state
// change, its row and its event are atomic with respect to each other for
// that job; other jobs (and the scheduler, and readers of rows) proceed
// meanwhile. A state change's row and its event are also one store
// transaction (EventLog::AppendWith), so a crash cannot split them. The lock
// is held across that commit (with fsync when durable), so
// nothing else is ever waited for while holding it except the scheduler's
// mutex (lock order in server/backend_internal.h).
//
// Thread-safe.
#ifndef TRAINYARD_SERVER_JOB_RECORDS_H_
#define TRAINYARD_SERVER_JOB_RECORDS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/event_log.h"
#include "server/metadata_store.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

class JobRecords {
 public:
  // `store` and `events` must outlive this.
  JobRecords(MetadataStore* store, EventLog* events);
  ~JobRecords();
  JobRecords(const JobRecords&) = delete;
  JobRecords& operator=(const JobRecords&) = delete;

  // One job's record lock, held while this object lives (RAII, movable).
  class Lock {
   public:
    Lock(Lock&& o) noexcept;
    Lock& operator=(Lock&&) = delete;
    ~Lock();
    const std::string& job_id() const { return job_id_; }

   private:
    friend class JobRecords;
    struct Slot;
    Lock(JobRecords* owner, std::string job_id, Slot* slot);
    JobRecords* owner_;
    std::string job_id_;
    Slot* slot_;
  };

  // Blocks until no one else holds `job_id`'s lock.
  Lock LockJob(std::string_view job_id);

  using Mutate = std::function<absl::Status(v1::Job&)>;
  // Runs once the row is written, still under the job's lock:
  // where the scheduler learns of the new state.
  using Written = std::function<void(const v1::Job&)>;

  // Reads the job, applies `mutate` (an error there writes nothing), writes
  // the row and, when the state changed, a StateChange event with `reason`
  // (and the job's error when FAILED) in the same transaction, then calls
  // `written`. A failed write changes nothing and does not call `written`.
  // Takes the job's lock for the whole sequence.
  absl::StatusOr<v1::Job> Update(std::string_view job_id, const Mutate& mutate,
                                 std::string_view reason, const Written& written = nullptr);
  // The same under a lock the caller already holds (for several steps that
  // must stay together, e.g. a checkpoint's row pointer and its event).
  absl::StatusOr<v1::Job> UpdateHeld(const Lock& held, const Mutate& mutate,
                                     std::string_view reason, const Written& written = nullptr);

  // A plain read: no lock (a row is always written whole).
  absl::StatusOr<v1::Job> Get(std::string_view job_id) { return store_->GetJob(job_id); }

  // Jobs whose lock is held or waited for now (for tests: the table drops
  // unused entries).
  int locks_in_use();
  // Holders plus waiters of `job_id`'s lock now (for tests: lets a test see
  // that a thread is blocked on a lock it holds, without sleeping).
  int LockUsers(std::string_view job_id);

 private:
  void Release(Lock::Slot* slot, const std::string& job_id);

  MetadataStore* const store_;
  EventLog* const events_;

  absl::Mutex map_mu_;  // guards only the table; never held while waiting for a job
  std::map<std::string, std::unique_ptr<Lock::Slot>, std::less<>> slots_
      ABSL_GUARDED_BY(map_mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_JOB_RECORDS_H_
