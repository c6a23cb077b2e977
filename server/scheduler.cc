#include "server/scheduler.h"

#include <iterator>
#include <utility>

#include "server/time_util.h"

namespace trainyard::server {

QueueKey KeyOf(const v1::Job& job) {
  // No group yet: jobs carry none until experiments label their trials.
  return QueueKey{job.priority(), TimestampNanos(job.create_time()), job.id(), ""};
}

// ------------------------------------------------------------- admission

JobScheduler::Reservation& JobScheduler::Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    if (owner_ != nullptr) owner_->Unreserve();
    owner_ = o.owner_;
    o.owner_ = nullptr;
  }
  return *this;
}

JobScheduler::Reservation::~Reservation() {
  if (owner_ != nullptr) owner_->Unreserve();
}

int32_t JobScheduler::Reservation::Commit(const QueueKey& key) {
  JobScheduler* owner = owner_;
  owner_ = nullptr;
  absl::MutexLock lock(&owner->mu_);
  --owner->reserved_;
  auto it = owner->queue_.insert(key).first;
  return static_cast<int32_t>(std::distance(owner->queue_.begin(), it));
}

void JobScheduler::Unreserve() {
  absl::MutexLock lock(&mu_);
  --reserved_;
}

JobScheduler::Admission JobScheduler::Reserve(Reservation* slot) {
  // The new slot is assigned only after mu_ is released: the assignment
  // gives back a slot already held (Unreserve), which takes mu_.
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return Admission::kClosed;
    if (static_cast<int64_t>(queue_.size()) + reserved_ >= max_queued_) return Admission::kFull;
    ++reserved_;
  }
  *slot = Reservation(this);
  return Admission::kAdmitted;
}

JobScheduler::Admission JobScheduler::Check(int32_t* position_if_admitted) const {
  absl::MutexLock lock(&mu_);
  if (closed_) return Admission::kClosed;
  if (static_cast<int64_t>(queue_.size()) + reserved_ >= max_queued_) return Admission::kFull;
  *position_if_admitted = static_cast<int32_t>(queue_.size());
  return Admission::kAdmitted;
}

void JobScheduler::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool JobScheduler::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

// ----------------------------------------------------------------- queue

void JobScheduler::Enqueue(const QueueKey& key) {
  absl::MutexLock lock(&mu_);
  queue_.insert(key);
}

void JobScheduler::Dequeue(const QueueKey& key) {
  absl::MutexLock lock(&mu_);
  queue_.erase(key);
}

int32_t JobScheduler::QueuePosition(const QueueKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = queue_.find(key);
  if (it == queue_.end()) return -1;
  return static_cast<int32_t>(std::distance(queue_.begin(), it));
}

int64_t JobScheduler::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

// --------------------------------------------------------------- workers

std::set<QueueKey>::iterator JobScheduler::FirstStartable() {
  if (group_limit_.empty()) return queue_.begin();  // the common case: no scan
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->group.empty()) return it;
    auto limit = group_limit_.find(it->group);
    if (limit == group_limit_.end()) return it;
    auto active = group_active_.find(it->group);
    if (active == group_active_.end() || active->second < limit->second) return it;
  }
  return queue_.end();
}

std::optional<JobScheduler::Taken> JobScheduler::TakeNext() {
  absl::MutexLock lock(&mu_);
  // Re-evaluated by the mutex whenever it is released, so a Finish, an
  // Enqueue or a SetGroupLimit that makes a job startable wakes a waiter.
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || FirstStartable() != queue_.end();
  };
  for (;;) {
    if (!ready()) {
      ++waiting_;  // counted while blocked (waiting_workers)
      mu_.Await(absl::Condition(&ready));
      --waiting_;
    }
    if (stopping_) return std::nullopt;
    auto first = FirstStartable();
    Taken taken;
    taken.key = *first;
    queue_.erase(first);
    // Claimed by another worker that has not written RUNNING yet (it was
    // paused and resumed meanwhile): that worker will start it.
    if (running_.find(taken.key.id) != running_.end()) continue;
    taken.job_id = taken.key.id;
    Running& run = running_[taken.job_id];
    taken.token = run.token;
    run.group = taken.key.group;
    if (!run.group.empty()) ++group_active_[run.group];
    return taken;
  }
}

void JobScheduler::SetGroupLimit(const std::string& group, int limit) {
  absl::MutexLock lock(&mu_);
  if (limit <= 0) {
    group_limit_.erase(group);
  } else {
    group_limit_[group] = limit;
  }
}

int JobScheduler::GroupActive(std::string_view group) const {
  absl::MutexLock lock(&mu_);
  auto it = group_active_.find(group);
  return it == group_active_.end() ? 0 : it->second;
}

int JobScheduler::waiting_workers() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

bool JobScheduler::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void JobScheduler::MarkStarted(const Taken& run) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(run.job_id);
  if (it == running_.end() || it->second.token != run.token) return;
  it->second.started = true;
  // A resume may have queued it again while it was only claimed.
  queue_.erase(run.key);
}

void JobScheduler::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void JobScheduler::Finish(const Taken& run, const std::optional<QueueKey>& requeue) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(run.job_id);
  if (it == running_.end() || it->second.token != run.token) return;  // not this run
  if (const std::string& group = it->second.group; !group.empty()) {
    auto active = group_active_.find(group);
    if (active != group_active_.end() && --active->second == 0) group_active_.erase(active);
  }
  running_.erase(it);
  if (requeue.has_value()) queue_.insert(*requeue);
}

void JobScheduler::Signal(Running& run, StopReason reason) {
  run.requests.Add(reason);
  // The token keeps both requests; the trainer checks cancel first, so a
  // stop without a checkpoint wins over one with, as the reasons' order says.
  if (StopsWithCheckpoint(reason)) {
    run.token->RequestPause();
  } else if (reason != StopReason::kNone) {
    run.token->RequestCancel();
  }
}

bool JobScheduler::RequestStop(std::string_view job_id, StopReason reason) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  if (it == running_.end() || !it->second.started) return false;
  Signal(it->second, reason);
  return true;
}

void JobScheduler::RequestStopAll(StopReason reason) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, run] : running_) Signal(run, reason);
}

StopRequests JobScheduler::RequestsOf(std::string_view job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  return it == running_.end() ? StopRequests() : it->second.requests;
}

StopReason JobScheduler::ReasonOf(std::string_view job_id) const {
  return RequestsOf(job_id).Strongest();
}

bool JobScheduler::IsRunning(std::string_view job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  return it != running_.end() && it->second.started;
}

bool JobScheduler::AwaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

}  // namespace trainyard::server
