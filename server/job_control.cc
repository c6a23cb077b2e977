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
  absl::StatusOr<v1::Job> job = impl_->store->GetJob(id);
  if (!job.ok()) return job.status();
  absl::MutexLock lock(&impl_->mu);
  impl_->Decorate(*job);
  return job;
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
  absl::MutexLock lock(&impl_->mu);
  for (v1::Job& job : page->jobs) {
    impl_->Decorate(job);
    *response.add_jobs() = std::move(job);
  }
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<v1::Job> Backend::CancelJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  Impl& im = *impl_;
  absl::MutexLock lock(&im.mu);
  auto run = im.running.find(std::string(id));
  if (run != im.running.end()) {
    run->second->user_cancel = true;
    run->second->token.RequestCancel();
    absl::StatusOr<v1::Job> job = im.store->GetJob(id);
    if (job.ok()) im.Decorate(*job);
    return job;
  }
  return im.UpdateJobLocked(
      id,
      [&im](v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(im.mu) {
        if (job.state() != v1::QUEUED && job.state() != v1::PAUSED) {
          return WrongState(job, "QUEUED, RUNNING or PAUSED jobs can be cancelled");
        }
        im.Dequeue(job);
        job.set_state(v1::CANCELLED);
        SetTimestamp(absl::Now(), job.mutable_end_time());
        return absl::OkStatus();
      },
      "requested by client");
}

absl::StatusOr<v1::Job> Backend::PauseJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  Impl& im = *impl_;
  absl::MutexLock lock(&im.mu);
  auto run = im.running.find(std::string(id));
  if (run != im.running.end()) {
    run->second->user_pause = true;
    run->second->token.RequestPause();
    absl::StatusOr<v1::Job> job = im.store->GetJob(id);
    if (job.ok()) im.Decorate(*job);
    return job;
  }
  return im.UpdateJobLocked(
      id,
      [&im](v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(im.mu) {
        if (job.state() != v1::QUEUED) {
          return WrongState(job, "QUEUED or RUNNING jobs can be paused");
        }
        im.Dequeue(job);
        job.set_state(v1::PAUSED);
        return absl::OkStatus();
      },
      "requested by client");
}

absl::StatusOr<v1::Job> Backend::ResumeJob(std::string_view id) {
  if (absl::Status s = CheckJobId(id); !s.ok()) return s;
  Impl& im = *impl_;
  absl::MutexLock lock(&im.mu);
  if (im.shutting_down) {
    return absl::UnavailableError("the server is shutting down; resume again later");
  }
  if (static_cast<int64_t>(im.queue.size()) >= im.options.max_queued_jobs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the queue is full (", im.options.max_queued_jobs, " jobs QUEUED); try again later"));
  }
  return im.UpdateJobLocked(
      id,
      [&im](v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(im.mu) {
        // A job being paused is still RUNNING until its checkpoint is saved.
        if (job.state() != v1::PAUSED || im.running.count(job.id()) > 0) {
          return WrongState(job, "PAUSED jobs can be resumed");
        }
        job.set_state(v1::QUEUED);
        im.Enqueue(job);
        return absl::OkStatus();
      },
      "requested by client");
}

}  // namespace trainyard::server
