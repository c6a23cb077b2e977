#include "server/event_log.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/time_util.h"

namespace trainyard::server {

// Wake-up of one subscription. Shared by the subscription and the job's list
// of waiting subscriptions, so an appender can fire it after dropping locks.
struct EventSubscription::Waiter {
  explicit Waiter(std::function<void()> f) : on_ready(std::move(f)) {}

  void Fire() {
    {
      absl::MutexLock lock(&mu);
      if (cancelled) return;
      firing.push_back(std::this_thread::get_id());
    }
    on_ready();
    absl::MutexLock lock(&mu);
    firing.erase(std::find(firing.begin(), firing.end(), std::this_thread::get_id()));
  }

  // Waits for callbacks running on other threads; a Cancel from inside
  // on_ready must not wait for itself.
  void Cancel() {
    absl::MutexLock lock(&mu);
    cancelled = true;
    const std::thread::id self = std::this_thread::get_id();
    auto only_self = [this, self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return std::all_of(firing.begin(), firing.end(),
                         [self](std::thread::id t) { return t == self; });
    };
    mu.Await(absl::Condition(&only_self));
  }

  const std::function<void()> on_ready;
  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  std::vector<std::thread::id> firing ABSL_GUARDED_BY(mu);
  bool registered = false;  // in JobLog::waiters; guarded by that JobLog's mu
};

// In-memory state of one job's log.
struct EventSubscription::JobLog {
  explicit JobLog(std::string id) : job_id(std::move(id)) {}

  const std::string job_id;

  // Serialises writers of this job: seq assignment, store write, publish.
  absl::Mutex append_mu;
  int64_t last_written ABSL_GUARDED_BY(append_mu) = 0;
  bool ended ABSL_GUARDED_BY(append_mu) = false;  // terminal event written
  std::vector<v1::StepPoint> points ABSL_GUARDED_BY(append_mu);
  std::vector<v1::DiagnosticsSnapshot> snapshots ABSL_GUARDED_BY(append_mu);
  absl::Time last_write ABSL_GUARDED_BY(append_mu);
  // Whether the newest write was only of buffered points and snapshots. The
  // first point or snapshot after any other event (e.g. RUNNING) is written
  // at once, so a watcher sees the first loss right away rather than after
  // max_step_delay.
  bool last_write_had_points ABSL_GUARDED_BY(append_mu) = false;

  // What watchers see; held only for short, non-blocking sections.
  absl::Mutex mu;
  // Newest published events, consecutive seqs ending at `published`.
  std::deque<std::shared_ptr<const v1::JobEvent>> tail ABSL_GUARDED_BY(mu);
  int64_t published ABSL_GUARDED_BY(mu) = 0;
  bool closed ABSL_GUARDED_BY(mu) = false;
  bool shutdown ABSL_GUARDED_BY(mu) = false;
  bool deleted ABSL_GUARDED_BY(mu) = false;  // EventLog::Drop: the job is gone
  std::vector<std::shared_ptr<Waiter>> waiters ABSL_GUARDED_BY(mu);
  int subscribers ABSL_GUARDED_BY(mu) = 0;
};

namespace {

using Waiters = std::vector<std::shared_ptr<EventSubscription::Waiter>>;

bool IsTerminalEvent(const v1::JobEvent& e) {
  return e.has_state_change() && IsTerminalState(e.state_change().to());
}

void FireAll(const Waiters& waiters) {
  for (const auto& w : waiters) w->Fire();
}

}  // namespace

bool IsTerminalState(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

// ------------------------------------------------------ EventSubscription

EventSubscription::EventSubscription(EventLog* owner, std::shared_ptr<JobLog> log,
                                     int64_t after_seq, std::shared_ptr<Waiter> waiter)
    : owner_(owner), log_(std::move(log)), cursor_(after_seq), waiter_(std::move(waiter)) {}

EventSubscription::~EventSubscription() { Cancel(); }

void EventSubscription::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  waiter_->Cancel();
  {
    absl::MutexLock lock(&log_->mu);
    auto& w = log_->waiters;
    w.erase(std::remove(w.begin(), w.end(), waiter_), w.end());
    --log_->subscribers;
  }
  owner_->MaybeForget(log_);
}

absl::StatusOr<EventSubscription::Poll> EventSubscription::Next(
    std::shared_ptr<const v1::JobEvent>* event) {
  if (cancelled_) return absl::CancelledError("subscription cancelled");
  if (page_.empty()) {
    {
      absl::MutexLock lock(&log_->mu);
      if (log_->shutdown) return absl::UnavailableError("server is shutting down");
      if (log_->deleted) return absl::NotFoundError(absl::StrCat("job ", log_->job_id, " was deleted"));
      if (cursor_ >= log_->published) {
        if (log_->closed) return Poll::kEnd;
        if (!waiter_->registered) {
          waiter_->registered = true;
          log_->waiters.push_back(waiter_);
        }
        return Poll::kWait;
      }
      const auto& tail = log_->tail;
      if (!tail.empty() && tail.front()->seq() <= cursor_ + 1) {
        *event = tail[static_cast<size_t>(cursor_ + 1 - tail.front()->seq())];
        ++cursor_;
        return Poll::kEvent;
      }
    }
    // Behind the tail: everything up to `published` is in the store.
    absl::StatusOr<std::vector<v1::JobEvent>> events =
        owner_->store_->ReadEvents(log_->job_id, cursor_, owner_->options_.store_page_size);
    if (!events.ok()) return events.status();
    if (events->empty() || events->front().seq() != cursor_ + 1) {
      return absl::DataLossError(absl::StrCat("event ", cursor_ + 1, " of job ",
                                              log_->job_id, " is missing from the store"));
    }
    for (v1::JobEvent& e : *events) {
      page_.push_back(std::make_shared<const v1::JobEvent>(std::move(e)));
    }
  }
  *event = std::move(page_.front());
  page_.pop_front();
  cursor_ = (*event)->seq();
  return Poll::kEvent;
}

// --------------------------------------------------------------- EventLog

EventLog::EventLog(MetadataStore* store, EventLogOptions options)
    : store_(store), options_(std::move(options)) {}

EventLog::~EventLog() = default;

absl::StatusOr<std::shared_ptr<EventLog::JobLog>> EventLog::GetOrLoad(std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = logs_.find(job_id); it != logs_.end()) return it->second;
  // First use in this process: continue from what the store has. Done under
  // mu_ so that two threads cannot load the same job twice.
  absl::StatusOr<int64_t> max_seq = store_->MaxEventSeq(job_id);
  if (!max_seq.ok()) return max_seq.status();
  bool closed = false;
  if (*max_seq > 0) {
    absl::StatusOr<std::vector<v1::JobEvent>> last = store_->ReadEvents(job_id, *max_seq - 1, 1);
    if (!last.ok()) return last.status();
    closed = !last->empty() && IsTerminalEvent(last->front());
  }
  auto log = std::make_shared<JobLog>(std::string(job_id));
  {
    absl::MutexLock append_lock(&log->append_mu);
    log->last_written = *max_seq;
    log->ended = closed;
    log->last_write = options_.clock();
  }
  {
    absl::MutexLock log_lock(&log->mu);
    log->published = *max_seq;
    log->closed = closed;
    log->shutdown = shutdown_;
  }
  logs_.emplace(std::string(job_id), log);
  return log;
}

absl::StatusOr<int64_t> EventLog::WriteLocked(JobLog& log, std::vector<v1::JobEvent> batch,
                                              Waiters* wake, StoreWrite* write) {
  std::vector<v1::JobEvent> all;
  all.reserve(batch.size() + 2);
  if (!log.points.empty()) {
    v1::JobEvent step;
    for (const v1::StepPoint& p : log.points) *step.mutable_step_metrics()->add_points() = p;
    all.push_back(std::move(step));
  }
  if (!log.snapshots.empty()) {
    v1::JobEvent diagnostics;
    for (const v1::DiagnosticsSnapshot& d : log.snapshots) {
      *diagnostics.mutable_diagnostics()->add_snapshots() = d;
    }
    all.push_back(std::move(diagnostics));
  }
  for (v1::JobEvent& e : batch) all.push_back(std::move(e));
  if (all.empty()) return log.last_written;

  const absl::Time now = options_.clock();
  int64_t seq = log.last_written;
  bool terminal = false;
  for (v1::JobEvent& e : all) {
    e.set_job_id(log.job_id);
    e.set_seq(++seq);
    if (!e.has_time()) SetTimestamp(now, e.mutable_time());
    terminal = terminal || IsTerminalEvent(e);
  }
  // Durable first, visible second: a watcher never sees an event that a
  // crash could take back (and whose seq a restart would reuse).
  // A failed write leaves last_written, the points and the tail as they
  // were: the next attempt reuses the same seqs.
  if (write != nullptr) {
    const size_t first = write->events.size();
    write->events.insert(write->events.end(), all.begin(), all.end());
    absl::Status s = store_->Commit(*write);
    write->events.resize(first);
    if (!s.ok()) return s;
  } else if (absl::Status s = store_->AppendEvents(log.job_id, all); !s.ok()) {
    return s;
  }
  log.last_written = seq;
  log.last_write_had_points = batch.empty();
  log.points.clear();
  log.snapshots.clear();
  log.last_write = now;
  log.ended = terminal;

  absl::MutexLock lock(&log.mu);
  for (v1::JobEvent& e : all) {
    log.tail.push_back(std::make_shared<const v1::JobEvent>(std::move(e)));
  }
  while (static_cast<int>(log.tail.size()) > options_.tail_capacity) log.tail.pop_front();
  log.published = seq;
  log.closed = terminal;
  for (const auto& w : log.waiters) w->registered = false;
  wake->insert(wake->end(), log.waiters.begin(), log.waiters.end());
  log.waiters.clear();
  return seq;
}

absl::StatusOr<int64_t> EventLog::Append(std::string_view job_id, v1::JobEvent event) {
  return AppendOne(job_id, std::move(event), nullptr);
}

absl::StatusOr<int64_t> EventLog::AppendWith(std::string_view job_id, v1::JobEvent event,
                                             StoreWrite write) {
  return AppendOne(job_id, std::move(event), &write);
}

absl::StatusOr<int64_t> EventLog::AppendOne(std::string_view job_id, v1::JobEvent event,
                                            StoreWrite* write) {
  if (event.kind_case() == v1::JobEvent::KIND_NOT_SET) {
    return absl::InvalidArgumentError("event has no kind");
  }
  if (event.has_heartbeat()) {
    return absl::InvalidArgumentError("heartbeats are not stored in the event log");
  }
  absl::StatusOr<std::shared_ptr<JobLog>> log = GetOrLoad(job_id);
  if (!log.ok()) return log.status();
  Waiters wake;
  absl::StatusOr<int64_t> seq;
  {
    absl::MutexLock lock(&(*log)->append_mu);
    if ((*log)->ended) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", std::string(job_id), " has ended; its event log is closed"));
    }
    std::vector<v1::JobEvent> batch;
    batch.push_back(std::move(event));
    seq = WriteLocked(**log, std::move(batch), &wake, write);
  }
  FireAll(wake);
  if (seq.ok()) {
    MaybeForget(*log);
  } else if (write != nullptr) {
    // A job whose insert failed has no events: do not keep its log in memory.
    ForgetIfEmpty(*log);
  }
  return seq;
}

absl::Status EventLog::AppendBuffered(std::string_view job_id,
                                      absl::FunctionRef<bool(JobLog&)> buffer) {
  absl::StatusOr<std::shared_ptr<JobLog>> log = GetOrLoad(job_id);
  if (!log.ok()) return log.status();
  Waiters wake;
  absl::Status status;
  {
    JobLog& l = **log;
    absl::MutexLock lock(&l.append_mu);
    if (l.ended) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", std::string(job_id), " has ended; its event log is closed"));
    }
    const bool full = buffer(l);
    status = FlushBufferedLocked(l, full, &wake);
  }
  FireAll(wake);
  return status;
}

absl::Status EventLog::AppendStepPoint(std::string_view job_id, const v1::StepPoint& point) {
  return AppendBuffered(job_id, [&](JobLog& l) {
    l.points.push_back(point);
    return static_cast<int>(l.points.size()) >= options_.max_points_per_event;
  });
}

absl::Status EventLog::AppendDiagnostics(std::string_view job_id,
                                         const v1::DiagnosticsSnapshot& snapshot) {
  return AppendBuffered(job_id, [&](JobLog& l) {
    l.snapshots.push_back(snapshot);
    return static_cast<int>(l.snapshots.size()) >= options_.max_snapshots_per_event;
  });
}

namespace {

// Keeps the newest `cap` items.
template <typename T>
void KeepNewest(std::vector<T>& items, size_t cap) {
  if (items.size() > cap) {
    items.erase(items.begin(), items.end() - static_cast<ptrdiff_t>(cap));
  }
}

}  // namespace

absl::Status EventLog::FlushBufferedLocked(JobLog& l, bool full, Waiters* wake) {
  if (!full && l.last_write_had_points &&
      options_.clock() - l.last_write < options_.max_step_delay) {
    return absl::OkStatus();
  }
  absl::Status status = WriteLocked(l, {}, wake).status();
  // While the store refuses writes (a full disk) the buffers would pile up
  // for as long as training goes on: keep only the newest few batches'
  // worth; the older ones could not be stored anyway.
  if (!status.ok()) {
    KeepNewest(l.points, 4 * static_cast<size_t>(options_.max_points_per_event));
    KeepNewest(l.snapshots, 4 * static_cast<size_t>(options_.max_snapshots_per_event));
  }
  return status;
}

absl::Status EventLog::Flush(std::string_view job_id) {
  std::shared_ptr<JobLog> log;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(job_id);
    if (it == logs_.end()) return absl::OkStatus();  // nothing buffered
    log = it->second;
  }
  Waiters wake;
  absl::Status status;
  {
    absl::MutexLock lock(&log->append_mu);
    status = WriteLocked(*log, {}, &wake).status();
  }
  FireAll(wake);
  return status;
}

absl::Status EventLog::FlushAll() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, log] : logs_) ids.push_back(id);
  }
  absl::Status first_error;
  for (const std::string& id : ids) first_error.Update(Flush(id));
  return first_error;
}

absl::StatusOr<std::unique_ptr<EventSubscription>> EventLog::Subscribe(
    std::string_view job_id, int64_t after_seq, std::function<void()> on_ready) {
  if (after_seq < 0) return absl::InvalidArgumentError("after_seq must be >= 0");
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("server is shutting down");
  }
  absl::StatusOr<std::shared_ptr<JobLog>> log = GetOrLoad(job_id);
  if (!log.ok()) return log.status();
  auto waiter = std::make_shared<EventSubscription::Waiter>(std::move(on_ready));
  {
    absl::MutexLock lock(&(*log)->mu);
    if (after_seq > (*log)->published) {
      return absl::OutOfRangeError(absl::StrCat("after_seq ", after_seq,
                                                " is beyond the job's last event ",
                                                (*log)->published));
    }
    ++(*log)->subscribers;
  }
  return std::unique_ptr<EventSubscription>(
      new EventSubscription(this, *std::move(log), after_seq, std::move(waiter)));
}

absl::StatusOr<int64_t> EventLog::LastSeq(std::string_view job_id) {
  std::shared_ptr<JobLog> log;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(job_id);
    if (it != logs_.end()) log = it->second;
  }
  // A job not in memory has nothing unpublished: the store is exact. Not
  // loading it keeps GetJob on old jobs from filling memory.
  if (log == nullptr) return store_->MaxEventSeq(job_id);
  absl::MutexLock lock(&log->mu);
  return log->published;
}

void EventLog::MaybeForget(const std::shared_ptr<JobLog>& log) {
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock log_lock(&log->mu);
    if (!log->closed || log->subscribers > 0) return;
  }
  auto it = logs_.find(log->job_id);
  if (it != logs_.end() && it->second == log) logs_.erase(it);
}

void EventLog::ForgetIfEmpty(const std::shared_ptr<JobLog>& log) {
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock append_lock(&log->append_mu);
    if (log->last_written != 0 || !log->points.empty() || !log->snapshots.empty()) return;
  }
  {
    absl::MutexLock log_lock(&log->mu);
    if (log->subscribers > 0) return;
  }
  auto it = logs_.find(log->job_id);
  if (it != logs_.end() && it->second == log) logs_.erase(it);
}

void EventLog::Drop(std::string_view job_id) {
  std::shared_ptr<JobLog> log;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(job_id);
    if (it == logs_.end()) return;  // no watcher: nothing in memory to end
    log = it->second;
    logs_.erase(it);
  }
  Waiters wake;
  {
    absl::MutexLock log_lock(&log->mu);
    log->deleted = true;
    for (const auto& w : log->waiters) w->registered = false;
    wake.swap(log->waiters);
  }
  FireAll(wake);
}

void EventLog::Shutdown() {
  Waiters wake;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (auto& [id, log] : logs_) {
      absl::MutexLock log_lock(&log->mu);
      log->shutdown = true;
      for (const auto& w : log->waiters) w->registered = false;
      wake.insert(wake.end(), log->waiters.begin(), log->waiters.end());
      log->waiters.clear();
    }
  }
  FireAll(wake);
}

int EventLog::jobs_in_memory() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(logs_.size());
}

int EventLog::tail_size(std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  if (it == logs_.end()) return 0;
  absl::MutexLock log_lock(&it->second->mu);
  return static_cast<int>(it->second->tail.size());
}

v1::JobEvent EventLog::MakeHeartbeat(std::string_view job_id, int64_t last_seq, absl::Time now) {
  v1::JobEvent e;
  e.set_job_id(std::string(job_id));
  e.set_seq(last_seq);
  SetTimestamp(now, e.mutable_time());
  e.mutable_heartbeat();
  return e;
}

}  // namespace trainyard::server
