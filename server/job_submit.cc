// Backend::SubmitJob: every check a job must pass before it is queued
// (spec, config, fit to the data, checkpoints, limits), so a job that is
// accepted fails later only for reasons found while training (NaN, I/O).
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/checkpoint.h"
#include "core/memory_estimate.h"
#include "core/training_plan.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"
#include "server/job_config_json.h"
#include "server/time_util.h"

namespace trainyard::server {
namespace {

absl::Status QueueRefusal(JobScheduler::Admission admission, const ServerOptions& options) {
  switch (admission) {
    case JobScheduler::Admission::kAdmitted:
      return absl::OkStatus();
    case JobScheduler::Admission::kClosed:
      return absl::UnavailableError("the server is shutting down; submit again later");
    case JobScheduler::Admission::kFull:
      break;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("the queue is full (", options.max_queued_jobs,
                   " jobs QUEUED, the server's max_queued_jobs); try again later"));
}

}  // namespace

absl::StatusOr<v1::Job> Backend::SubmitJob(const v1::SubmitJobRequest& submitted) {
  Impl& im = *impl_;
  if (shutting_down()) {
    return absl::UnavailableError("the server is shutting down; submit again later");
  }
  // The JSON forms become the typed messages first, so that every check
  // below (and the request_id lookup) sees one request whichever form the
  // client sent. The copy is made only when there is JSON to parse.
  std::optional<v1::SubmitJobRequest> parsed;
  if (!submitted.model_json().empty() || !submitted.training_json().empty()) {
    parsed = submitted;
    if (absl::Status s = ParseJobConfigJson(&*parsed); !s.ok()) return s;
  }
  const v1::SubmitJobRequest& request = parsed ? *parsed : submitted;
  if (request.request_id().size() > 128) {
    return absl::InvalidArgumentError("request_id must be at most 128 characters");
  }
  if (request.name().size() > 128) {
    return absl::InvalidArgumentError("name must be at most 128 characters");
  }
  if (!request.request_id().empty()) {
    absl::StatusOr<std::optional<v1::Job>> existing =
        im.store->FindJobByRequestId(request.request_id());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return im.Submitted((*existing)->id());
  }
  if (request.priority() < -100 || request.priority() > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority must be in [-100, 100], got ", request.priority()));
  }
  if (request.threads() < 0 || request.threads() > im.options.cores) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threads must be in [0, ", im.options.cores, "] (0: the server default), got ",
        request.threads()));
  }
  if (!request.init_from_checkpoint_id().empty() &&
      !request.resume_from_checkpoint_id().empty()) {
    return absl::InvalidArgumentError(
        "init_from_checkpoint_id and resume_from_checkpoint_id are exclusive");
  }

  // Everything a job is checked against, by the one plan builder
  // (core/training_plan.h), whose messages name the request's fields.
  TrainingPlanInputs in;
  in.model = request.model();
  in.training = request.training();
  in.limits.max_params = im.options.max_params;
  std::optional<v1::Checkpoint> resume;
  if (!request.resume_from_checkpoint_id().empty()) {
    absl::StatusOr<v1::Checkpoint> ckpt =
        im.LoadCheckpoint(request.resume_from_checkpoint_id(), "resume_from_checkpoint_id");
    if (!ckpt.ok()) return ckpt.status();
    if (!request.has_model()) in.model = ckpt->model();
    if (!request.has_training()) in.training = ckpt->training();
    resume = *std::move(ckpt);
    in.resume_from = &*resume;
  } else {
    if (!request.has_model()) return absl::InvalidArgumentError("model (or model_json) is required");
    if (!request.has_training()) return absl::InvalidArgumentError("training (or training_json) is required");
  }
  // The data, loaded through the shared cache (a job queued next would load
  // it anyway) once the spec and config have passed.
  auto load_dataset = [&im](const std::string& id, std::string_view field)
      -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    if (!IsDatasetId(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(field), " must be a dataset id (ds-...)"));
    }
    absl::StatusOr<v1::Dataset> row = im.store->GetDataset(id);
    if (!row.ok()) {
      if (absl::IsNotFound(row.status())) {
        return absl::NotFoundError(
            absl::StrCat(std::string(field), ": dataset ", id, " not found"));
      }
      return row.status();
    }
    return im.LoadDataset(*row);
  };
  in.train = [&]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
    if (request.dataset_id().empty()) {
      return absl::InvalidArgumentError("dataset_id is required");
    }
    return load_dataset(request.dataset_id(), "dataset_id");
  };
  if (!request.validation_dataset_id().empty()) {
    in.validation = [&] {
      return load_dataset(request.validation_dataset_id(), "validation_dataset_id");
    };
  }
  if (!request.init_from_checkpoint_id().empty()) {
    in.init_from = [&] {
      return im.LoadCheckpoint(request.init_from_checkpoint_id(), "init_from_checkpoint_id");
    };
  }
  absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(in);
  resume.reset();  // only the checks needed it; free its buffers before queueing
  if (!plan.ok()) {
    return WithJsonPosition(plan.status(), submitted.model_json(), submitted.training_json());
  }
  // A step that cannot be allocated would throw in the trainer: refused here.
  if (absl::Status s = CheckMemoryBudget(EstimateTrainingMemory(*plan), im.options.max_job_memory,
                                         "the job needs", "training.batch_size",
                                         "--max-job-memory");
      !s.ok()) {
    return s;
  }
  const v1::ModelSpec& model = plan->model();
  const v1::TrainingConfig training = plan->RecordedTraining();

  v1::Job job;
  job.set_name(request.name());
  job.set_request_id(request.request_id());
  job.set_state(v1::QUEUED);
  *job.mutable_model() = model;
  *job.mutable_training() = training;
  job.set_dataset_id(request.dataset_id());
  job.set_validation_dataset_id(request.validation_dataset_id());
  job.set_priority(request.priority());
  job.set_threads(request.threads() == 0 ? im.options.default_threads : request.threads());
  job.set_queue_position(-1);
  job.set_init_from_checkpoint_id(request.init_from_checkpoint_id());
  job.set_resume_from_checkpoint_id(request.resume_from_checkpoint_id());
  v1::JobProgress* progress = job.mutable_progress();
  progress->set_epochs(training.epochs());
  progress->set_total_steps(plan->total_steps());
  SetTimestamp(absl::Now(), job.mutable_create_time());

  // Admission last, after everything that reads: the slot is held only for
  // the writes below, and counts against max_queued_jobs from now on, so two
  // concurrent submissions cannot both take the last one.
  if (request.validate_only()) {
    int32_t position = -1;
    if (absl::Status s = QueueRefusal(im.scheduler->Check(&position), im.options); !s.ok()) {
      return s;
    }
    job.set_queue_position(position);
    return job;
  }
  JobScheduler::Reservation slot;
  if (absl::Status s = QueueRefusal(im.scheduler->Reserve(&slot), im.options); !s.ok()) {
    return s;
  }
  job.set_id(NewJobId());
  // The row, its "submitted" event and its queue entry under the job's lock:
  // anyone who learns the id from the row (ListJobs, a retry with the same
  // request_id) and cancels it waits until all three are done. The row and
  // the event are one transaction, so the job's first event is always this
  // QUEUED state change, whatever crash comes in between.
  std::optional<JobRecords::Lock> held(im.records->LockJob(job.id()));
  v1::JobEvent event;
  event.mutable_state_change()->set_from(v1::JOB_STATE_UNSPECIFIED);
  event.mutable_state_change()->set_to(v1::QUEUED);
  event.mutable_state_change()->set_reason("submitted");
  StoreWrite write;
  write.insert_jobs.push_back(job);
  if (absl::StatusOr<int64_t> seq = im.events->AppendWith(job.id(), std::move(event),
                                                          std::move(write));
      !seq.ok()) {
    held.reset();  // one job's lock at a time; no one knows this id anyway
    const absl::Status& s = seq.status();
    if (absl::IsAlreadyExists(s) && !request.request_id().empty()) {
      // A concurrent submission with the same request_id won.
      absl::StatusOr<std::optional<v1::Job>> existing =
          im.store->FindJobByRequestId(request.request_id());
      if (existing.ok() && existing->has_value()) return im.Submitted((*existing)->id());
    }
    return s;
  }
  if (im.after_submit_insert) im.after_submit_insert(job);
  // Queued only now: "submitted" must be the job's first event.
  const int32_t position = slot.Commit(KeyOf(job));
  im.Decorate(job);
  job.set_queue_position(position);
  im.logger.Info("job_submitted", {{"job", job.id()},
                                   {"name", job.name()},
                                   {"dataset", job.dataset_id()},
                                   {"threads", job.threads()},
                                   {"priority", job.priority()},
                                   {"epochs", training.epochs()},
                                   {"queue_position", position}});
  return job;
}

absl::StatusOr<v1::Job> Backend::Impl::Submitted(std::string_view id) {
  // Its submitter holds the lock until the job is queued.
  JobRecords::Lock held = records->LockJob(id);
  return Decorated(records->Get(id));
}

}  // namespace trainyard::server
