#include "server/scheduler.h"

#include <iterator>
#include <utility>

#include "server/time_util.h"

namespace trainyard::server {

QueueKey KeyOf(const v1::Job& job) {
  return QueueKey{job.priority(), TimestampNanos(job.create_time()), job.id()};
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

void JobScheduler::Reservation::Commit(const QueueKey& key) {
  JobScheduler* owner = owner_;
  owner_ = nullptr;
  absl::MutexLock lock(&owner->mu_);
  --owner->reserved_;
  owner->queue_.insert(key);
}

void JobScheduler::Unreserve() {
  absl::MutexLock lock(&mu_);
  --reserved_;
}

JobScheduler::Admission JobScheduler::Reserve(Reservation* slot) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Admission::kClosed;
  if (static_cast<int64_t>(queue_.size()) + reserved_ >= max_queued_) return Admission::kFull;
  ++reserved_;
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

std::optional<JobScheduler::Taken> JobScheduler::TakeNext() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  };
  mu_.Await(absl::Condition(&ready));
  if (stopping_) return std::nullopt;
  Taken taken;
  taken.job_id = queue_.begin()->id;
  queue_.erase(queue_.begin());
  Running& run = running_[taken.job_id];
  run = Running();
  taken.token = run.token;
  return taken;
}

void JobScheduler::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void JobScheduler::Finish(std::string_view job_id, const std::optional<QueueKey>& requeue) {
  absl::MutexLock lock(&mu_);
  if (auto it = running_.find(job_id); it != running_.end()) running_.erase(it);
  if (requeue.has_value()) queue_.insert(*requeue);
}

void JobScheduler::Signal(Running& run, StopReason reason) {
  run.reason = Stronger(run.reason, reason);
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
  if (it == running_.end()) return false;
  Signal(it->second, reason);
  return true;
}

void JobScheduler::RequestStopAll(StopReason reason) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, run] : running_) Signal(run, reason);
}

StopReason JobScheduler::ReasonOf(std::string_view job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  return it == running_.end() ? StopReason::kNone : it->second.reason;
}

bool JobScheduler::IsRunning(std::string_view job_id) const {
  absl::MutexLock lock(&mu_);
  return running_.find(job_id) != running_.end();
}

bool JobScheduler::AwaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

}  // namespace trainyard::server
