// Backend: reading jobs and the client-requested state changes (cancel,
// pause, resume). A running job is only signalled here; its worker records
// the resulting state at the next step boundary.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"
#include "server/time_util.h"

namespace trainyard::server {
namespace {

absl::Status CheckJobId(std::string_view id) {
  if (IsJobId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("job_id \"", std::string(id.substr(0, 64)), "\" is not a job id (job-...)"));
}

absl::Status WrongState(const v1::Job& job, std::string_view allowed) {
  return absl::FailedPreconditionError(absl::StrCat("job ", job.id(), " is ",
                                                    v1::JobState_Name(job.state()), "; only ",
                                                    std::string(allowed)));
}

}  // namespace

absl::StatusOr<v1::Job> Backend::GetJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  return impl_->Decorated(impl_->records->Get(id));
}

absl::StatusOr<v1::ListJobsResponse> Backend::ListJobs(const v1::ListJobsRequest& r) {
  if (r.page_size() < 0) return absl::InvalidArgumentError("page_size must be >= 0");
  JobQuery query;
  for (int s : r.states()) {
    if (!v1::JobState_IsValid(s) || s == v1::JOB_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("states: ", s, " is not a job state"));
    }
    query.states.push_back(static_cast<v1::JobState>(s));
  }
  query.page_size = r.page_size();
  query.page_token = r.page_token();
  absl::StatusOr<JobPage> page = impl_->store->ListJobs(query);
  if (!page.ok()) return page.status();
  v1::ListJobsResponse response;
  for (v1::Job& job : page->jobs) {
    impl_->Decorate(job);
    *response.add_jobs() = std::move(job);
  }
  response.set_next_page_token(page->next_page_token);
  return response;
}

// Cancel and pause, one path: under the job's record lock (so its worker
// cannot start it or record the run's end meanwhile), signal it if it runs
// (its RUNNING row is written), otherwise change the waiting job's state and
// take it off the queue. A job a worker has taken but not yet started is
// waiting: the worker's RUNNING write then sees the new state and drops it.
absl::StatusOr<v1::Job> Backend::Impl::RequestStop(std::string_view id,
                                                   const ClientStop& request) {
  JobRecords::Lock held = records->LockJob(id);
  const std::string_view what = request.target == v1::CANCELLED ? "cancel" : "pause";
  if (scheduler->RequestStop(id, request.reason)) {
    // Its worker records the end (job_finished) at the next step.
    logger.Info("job_stop_requested", {{"job", id}, {"request", what}});
    return Decorated(records->Get(id));
  }
  absl::StatusOr<v1::Job> job = Decorated(records->UpdateHeld(
      held,
      [&request](v1::Job& job) {
        const bool waiting =
            job.state() == v1::QUEUED || (request.also_from_paused && job.state() == v1::PAUSED);
        if (!waiting) return WrongState(job, request.allowed);
        job.set_state(request.target);
        if (IsTerminalState(request.target)) SetTimestamp(absl::Now(), job.mutable_end_time());
        return absl::OkStatus();
      },
      "requested by client",
      [this](const v1::Job& job) { scheduler->Dequeue(KeyOf(job)); }));
  if (job.ok()) {
    // Not running: no worker will say it ended.
    logger.Info("job_finished", {{"job", job->id()},
                                 {"state", v1::JobState_Name(job->state())},
                                 {"reason", "requested by client"},
                                 {"epoch", job->progress().epoch()},
                                 {"step", job->progress().step()},
                                 {"ms", 0}});
  }
  return job;
}

absl::StatusOr<v1::Job> Backend::CancelJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  return impl_->RequestStop(id, {StopReason::kClientCancel, v1::CANCELLED, true,
                                 "QUEUED, RUNNING or PAUSED jobs can be cancelled"});
}

absl::StatusOr<v1::Job> Backend::PauseJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  return impl_->RequestStop(
      id, {StopReason::kClientPause, v1::PAUSED, false, "QUEUED or RUNNING jobs can be paused"});
}

absl::StatusOr<v1::Job> Backend::ResumeJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  Impl& im = *impl_;
  JobScheduler::Reservation slot;
  switch (im.scheduler->Reserve(&slot)) {
    case JobScheduler::Admission::kAdmitted:
      break;
    case JobScheduler::Admission::kClosed:
      return absl::UnavailableError("the server is shutting down; resume again later");
    case JobScheduler::Admission::kFull:
      return absl::ResourceExhaustedError(absl::StrCat(
          "the queue is full (", im.options.max_queued_jobs, " jobs QUEUED); try again later"));
  }
  // Under the job's lock from the write to the reply, so the reply shows the
  // job as the resume left it (its queue position from the moment it was
  // queued, its StateChange as last_event_seq).
  JobRecords::Lock held = im.records->LockJob(id);
  int32_t position = -1;
  absl::StatusOr<v1::Job> job = im.records->UpdateHeld(
      held,
      [&im](v1::Job& job) {
        // A job being paused is still RUNNING until its checkpoint is saved.
        if (job.state() != v1::PAUSED || im.scheduler->IsRunning(job.id())) {
          return WrongState(job, "PAUSED jobs can be resumed");
        }
        job.set_state(v1::QUEUED);
        return absl::OkStatus();
      },
      "requested by client", [&](const v1::Job& job) { position = slot.Commit(KeyOf(job)); });
  if (!job.ok()) return job;
  im.Decorate(*job);
  job->set_queue_position(position);
  im.logger.Info("job_resumed", {{"job", job->id()}, {"queue_position", position}});
  return job;
}

}  // namespace trainyard::server
