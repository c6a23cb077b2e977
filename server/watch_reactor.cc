// WatchJob: stored history after after_seq, then live events, heartbeats while
// idle, OK after the terminal event. Pull-based over EventSubscription (see
// server/event_log.h): one write in flight; the next event is pulled when the
// write completes or when the log says there is news (on_ready). The job's
// appenders never wait for a watcher; a slow or dead watcher only holds a
// cursor.
//
// Lifetime: gRPC holds one reference until OnDone, each armed heartbeat alarm
// holds one until its callback ran; the last one out deletes the reactor.
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/alarm.h"
#include "server/event_log.h"
#include "server/ids.h"
#include "server/reactors.h"
#include "server/status_util.h"

namespace trainyard::server {

bool WatcherLimiter::TryAcquire(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  int& n = counts_[job_id];
  if (max_per_job_ > 0 && n >= max_per_job_) {
    if (n == 0) counts_.erase(job_id);
    return false;
  }
  ++n;
  return true;
}

void WatcherLimiter::Release(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(job_id);
  if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
}

int WatcherLimiter::count(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(job_id);
  return it == counts_.end() ? 0 : it->second;
}

namespace {

class WatchReactor : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(const ServiceDeps& deps, v1::WatchJobRequest request)
      : deps_(deps),
        request_(std::move(request)),
        heartbeat_(absl::Seconds(deps.backend->options().heartbeat_seconds)) {
    // The existence check and the subscription read the store: not on a
    // gRPC thread. The task holds a reference (refs_ starts at 2).
    if (!deps_.executor->Submit([this] {
          Start();
          Unref();
        })) {
      absl::MutexLock lock(&mu_);
      --refs_;
      FinishLocked(ShuttingDownError());
    }
  }

  ~WatchReactor() override {
    if (acquired_) deps_.watchers->Release(request_.job_id());
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    in_flight_.reset();
    if (!ok) {  // the client went away; OnCancel/OnDone follow
      FinishLocked(absl::CancelledError("watcher went away"));
      return;
    }
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(absl::CancelledError("watch cancelled"));
  }

  void OnDone() override {
    std::unique_ptr<EventSubscription> sub;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      sub = std::move(sub_);
    }
    // Outside mu_: Cancel waits for an on_ready that may be waiting for mu_,
    // and a cancelled alarm may run its callback on this thread.
    if (sub != nullptr) sub->Cancel();
    alarm_.Cancel();
    Unref();
  }

 private:
  void Start() {
    const std::string& job_id = request_.job_id();
    absl::Status error;
    if (job_id.empty()) {
      error = absl::InvalidArgumentError("job_id is required");
    } else if (request_.after_seq() < 0) {
      error = absl::InvalidArgumentError("after_seq must be >= 0");
    } else if (absl::StatusOr<v1::Job> job = deps_.backend->GetJob(job_id); !job.ok()) {
      error = job.status();
    } else if (!deps_.watchers->TryAcquire(job_id)) {
      error = absl::ResourceExhaustedError(
          absl::StrCat("job ", job_id, " already has the maximum of ",
                       deps_.backend->options().max_watchers_per_job,
                       " watchers (max_watchers_per_job)"));
    } else {
      acquired_ = true;
    }
    if (error.ok()) {
      auto sub = deps_.backend->Subscribe(job_id, request_.after_seq(), [this] {
        absl::MutexLock lock(&mu_);
        PumpLocked();
      });
      if (!sub.ok()) {
        error = sub.status();
      } else {
        absl::MutexLock lock(&mu_);
        // Cancelled while starting: the local subscription cancels itself.
        if (finished_) return;
        sub_ = *std::move(sub);
        last_sent_seq_ = request_.after_seq();
        last_write_ = absl::Now();
        PumpLocked();
        return;
      }
    }
    absl::MutexLock lock(&mu_);
    FinishLocked(error);
  }

  // Pulls the next event if nothing is in flight. Never waits.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_ || sub_ == nullptr) return;
    std::shared_ptr<const v1::JobEvent> event;
    absl::StatusOr<EventSubscription::Poll> poll = sub_->Next(&event);
    if (!poll.ok()) {
      FinishLocked(poll.status());
      return;
    }
    switch (*poll) {
      case EventSubscription::Poll::kEvent:
        in_flight_ = std::move(event);
        last_sent_seq_ = in_flight_->seq();
        WriteLocked(in_flight_.get());
        return;
      case EventSubscription::Poll::kWait:
        // Caught up with what is stored: a snapshot read ends here.
        if (request_.no_follow()) {
          FinishLocked(absl::OkStatus());
          return;
        }
        ArmHeartbeatLocked(last_write_ + heartbeat_);
        return;
      case EventSubscription::Poll::kEnd:
        FinishLocked(absl::OkStatus());
        return;
    }
  }

  void WriteLocked(const v1::JobEvent* event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    last_write_ = absl::Now();
    StartWrite(event);
  }

  void ArmHeartbeatLocked(absl::Time when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (alarm_pending_ || finished_ || heartbeat_ <= absl::ZeroDuration()) return;
    alarm_pending_ = true;
    ++refs_;
    alarm_.Set(absl::ToChronoTime(when), [this](bool fired) { OnAlarm(fired); });
  }

  void OnAlarm(bool fired) {
    {
      absl::MutexLock lock(&mu_);
      alarm_pending_ = false;
      if (fired && !finished_ && !done_ && !writing_) {
        const absl::Time due = last_write_ + heartbeat_;
        if (absl::Now() >= due) {
          heartbeat_event_ = EventLog::MakeHeartbeat(request_.job_id(), last_sent_seq_,
                                                     absl::Now());
          WriteLocked(&heartbeat_event_);  // OnWriteDone pumps and re-arms
        } else {
          ArmHeartbeatLocked(due);  // an event went out meanwhile
        }
      }
    }
    Unref();
  }

  void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpcStatus(status));
  }

  void Unref() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  const ServiceDeps deps_;
  const v1::WatchJobRequest request_;
  const absl::Duration heartbeat_;
  // Written only by Start; read by the destructor, which runs after Start
  // released its reference.
  bool acquired_ = false;

  absl::Mutex mu_;
  std::unique_ptr<EventSubscription> sub_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1::JobEvent> in_flight_ ABSL_GUARDED_BY(mu_);
  v1::JobEvent heartbeat_event_ ABSL_GUARDED_BY(mu_);
  int64_t last_sent_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool alarm_pending_ ABSL_GUARDED_BY(mu_) = false;
  int refs_ ABSL_GUARDED_BY(mu_) = 2;  // gRPC's until OnDone, Start's
  grpc::Alarm alarm_;
};

}  // namespace

grpc::ServerWriteReactor<v1::JobEvent>* NewWatchJobReactor(
    const ServiceDeps& deps, const v1::WatchJobRequest& request) {
  return new WatchReactor(deps, request);
}

}  // namespace trainyard::server
