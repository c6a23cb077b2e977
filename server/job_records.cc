#include "server/job_records.h"

#include <utility>

namespace trainyard::server {

struct JobRecords::Lock::Slot {
  absl::Mutex mu;  // the job's record lock
  int users = 0;   // holders and waiters; guarded by JobRecords::map_mu_
};

JobRecords::JobRecords(MetadataStore* store, EventLog* events)
    : store_(store), events_(events) {}
JobRecords::~JobRecords() = default;

JobRecords::Lock::Lock(JobRecords* owner, std::string job_id, Slot* slot)
    : owner_(owner), job_id_(std::move(job_id)), slot_(slot) {}

JobRecords::Lock::Lock(Lock&& o) noexcept
    : owner_(o.owner_), job_id_(std::move(o.job_id_)), slot_(o.slot_) {
  o.slot_ = nullptr;
}

JobRecords::Lock::~Lock() {
  if (slot_ != nullptr) owner_->Release(slot_, job_id_);
}

JobRecords::Lock JobRecords::LockJob(std::string_view job_id) {
  Lock::Slot* slot;
  {
    absl::MutexLock lock(&map_mu_);
    auto it = slots_.find(job_id);
    if (it == slots_.end()) {
      it = slots_.emplace(std::string(job_id), std::make_unique<Lock::Slot>()).first;
    }
    slot = it->second.get();
    ++slot->users;  // keeps the slot alive while we wait for it below
  }
  slot->mu.Lock();
  return Lock(this, std::string(job_id), slot);
}

void JobRecords::Release(Lock::Slot* slot, const std::string& job_id) {
  slot->mu.Unlock();
  absl::MutexLock lock(&map_mu_);
  if (--slot->users == 0) slots_.erase(job_id);
}

int JobRecords::locks_in_use() {
  absl::MutexLock lock(&map_mu_);
  return static_cast<int>(slots_.size());
}

int JobRecords::LockUsers(std::string_view job_id) {
  absl::MutexLock lock(&map_mu_);
  auto it = slots_.find(job_id);
  return it == slots_.end() ? 0 : it->second->users;
}

absl::StatusOr<v1::Job> JobRecords::Update(std::string_view job_id, const Mutate& mutate,
                                           std::string_view reason, const Written& written) {
  Lock held = LockJob(job_id);
  return UpdateHeld(held, mutate, reason, written);
}

absl::StatusOr<v1::Job> JobRecords::UpdateHeld(const Lock& held, const Mutate& mutate,
                                               std::string_view reason,
                                               const Written& written) {
  absl::StatusOr<v1::Job> job = store_->GetJob(held.job_id());
  if (!job.ok()) return job.status();
  const v1::JobState from = job->state();
  if (absl::Status s = mutate(*job); !s.ok()) return s;
  if (job->state() == from) {
    if (absl::Status s = store_->UpdateJob(*job); !s.ok()) return s;
  } else {
    // The row and its StateChange in one transaction: after a crash the
    // event log never disagrees with the row about the job's state.
    v1::JobEvent event;
    v1::StateChange* change = event.mutable_state_change();
    change->set_from(from);
    change->set_to(job->state());
    change->set_reason(std::string(reason));
    if (job->state() == v1::FAILED) *change->mutable_error() = job->error();
    StoreWrite write;
    write.update_jobs.push_back(*job);
    absl::StatusOr<int64_t> seq = events_->AppendWith(job->id(), std::move(event), std::move(write));
    if (!seq.ok()) return seq.status();
  }
  if (written) written(*job);
  return job;
}

}  // namespace trainyard::server
