// Backend::SubmitJob: every check a job must pass before it is queued
// (spec, config, fit to the data, checkpoints, limits), so a job that is
// accepted fails later only for reasons found while training (NaN, I/O).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/checkpoint.h"
#include "core/data/split.h"
#include "core/data_check.h"
#include "core/validate.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"
#include "server/time_util.h"

namespace trainyard::server {
namespace {

absl::Status Prefixed(const absl::Status& s, std::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(std::string(prefix), s.message()));
}

// Same structure and widths: what Trainer::InitializeFrom needs.
absl::Status CheckInitFits(const v1::ModelSpec& model, const v1::ModelSpec& from) {
  if (from.input_dim() != model.input_dim() || CountParams(from) != CountParams(model) ||
      NumOutputs(from) != NumOutputs(model)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "init_from_checkpoint_id: the checkpoint's model (input_dim ", from.input_dim(), ", ",
        CountParams(from), " parameters, ", NumOutputs(from),
        " outputs) does not match the submitted model (input_dim ", model.input_dim(), ", ",
        CountParams(model), " parameters, ", NumOutputs(model), " outputs)"));
  }
  return absl::OkStatus();
}

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

absl::StatusOr<v1::Job> Backend::SubmitJob(const v1::SubmitJobRequest& request) {
  Impl& im = *impl_;
  if (shutting_down()) {
    return absl::UnavailableError("the server is shutting down; submit again later");
  }
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
    if (existing->has_value()) {
      v1::Job job = **existing;
      im.Decorate(job);
      return job;
    }
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

  v1::ModelSpec model = request.model();
  v1::TrainingConfig training = request.training();
  if (!request.resume_from_checkpoint_id().empty()) {
    absl::StatusOr<v1::Checkpoint> ckpt =
        im.LoadCheckpoint(request.resume_from_checkpoint_id(), "resume_from_checkpoint_id");
    if (!ckpt.ok()) return ckpt.status();
    if (!request.has_model()) model = ckpt->model();
    if (!request.has_training()) training = ckpt->training();
    // The run continues the checkpoint's state with the job's spec and config,
    // so they must describe the same buffers.
    ckpt->set_allocated_model(new v1::ModelSpec(model));
    ckpt->set_allocated_training(new v1::TrainingConfig(training));
    if (absl::Status s = ValidateCheckpoint(*ckpt, ModelLimits{im.options.max_params});
        !s.ok()) {
      return Prefixed(s, "resume_from_checkpoint_id: ");
    }
  } else {
    if (!request.has_model()) return absl::InvalidArgumentError("model is required");
    if (!request.has_training()) return absl::InvalidArgumentError("training is required");
  }

  ModelLimits limits;
  limits.max_params = im.options.max_params;
  absl::StatusOr<int> output_dim = ValidateModelSpec(model, limits);
  if (!output_dim.ok()) return Prefixed(output_dim.status(), "model.");
  if (absl::Status s = ValidateTrainingConfig(training); !s.ok()) {
    return Prefixed(s, "training.");
  }
  if (!training.has_log_every_steps()) training.set_log_every_steps(10);
  if (!training.optimizer().has_learning_rate()) {
    training.mutable_optimizer()->set_learning_rate(EffectiveLearningRate(training.optimizer()));
  }

  // The data, loaded through the shared cache (a job queued next would load
  // it anyway), checked against the model and loss.
  if (request.dataset_id().empty()) return absl::InvalidArgumentError("dataset_id is required");
  if (!IsDatasetId(request.dataset_id())) {
    return absl::InvalidArgumentError("dataset_id must be a dataset id (ds-...)");
  }
  absl::StatusOr<v1::Dataset> row = im.store->GetDataset(request.dataset_id());
  if (!row.ok()) {
    if (absl::IsNotFound(row.status())) {
      return absl::NotFoundError(
          absl::StrCat("dataset_id: dataset ", request.dataset_id(), " not found"));
    }
    return row.status();
  }
  absl::StatusOr<std::shared_ptr<const Dataset>> train = im.LoadDataset(*row);
  if (!train.ok()) return train.status();
  if (absl::Status s = CheckDataFitsModel(**train, model.input_dim(), *output_dim,
                                          training.loss(), "dataset");
      !s.ok()) {
    return Prefixed(s, "dataset_id: ");
  }
  int64_t train_samples = (*train)->num_samples();
  bool has_validation = false;
  if (!request.validation_dataset_id().empty()) {
    if (!IsDatasetId(request.validation_dataset_id())) {
      return absl::InvalidArgumentError("validation_dataset_id must be a dataset id (ds-...)");
    }
    absl::StatusOr<v1::Dataset> vrow = im.store->GetDataset(request.validation_dataset_id());
    if (!vrow.ok()) {
      if (absl::IsNotFound(vrow.status())) {
        return absl::NotFoundError(absl::StrCat("validation_dataset_id: dataset ",
                                                request.validation_dataset_id(), " not found"));
      }
      return vrow.status();
    }
    absl::StatusOr<std::shared_ptr<const Dataset>> val = im.LoadDataset(*vrow);
    if (!val.ok()) return val.status();
    if (absl::Status s = CheckDataFitsModel(**val, model.input_dim(), *output_dim,
                                            training.loss(), "validation dataset");
        !s.ok()) {
      return Prefixed(s, "validation_dataset_id: ");
    }
    has_validation = (*val)->num_samples() > 0;
  } else if (training.validation_fraction() > 0) {
    const Split split = SplitIndices(train_samples, training.validation_fraction(), training.seed());
    train_samples = static_cast<int64_t>(split.train.size());
    has_validation = !split.validation.empty();
  }
  if (train_samples == 0) {
    return absl::InvalidArgumentError(
        "training.validation_fraction leaves no training samples");
  }
  if (training.early_stopping().patience() > 0 && !has_validation) {
    return absl::InvalidArgumentError(
        "training.early_stopping.patience needs validation data: set "
        "training.validation_fraction or validation_dataset_id");
  }
  if (!request.init_from_checkpoint_id().empty()) {
    absl::StatusOr<v1::Checkpoint> ckpt =
        im.LoadCheckpoint(request.init_from_checkpoint_id(), "init_from_checkpoint_id");
    if (!ckpt.ok()) return ckpt.status();
    if (absl::Status s = CheckInitFits(model, ckpt->model()); !s.ok()) return s;
  }

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
  const int64_t steps_per_epoch =
      (train_samples + training.batch_size() - 1) / training.batch_size();
  v1::JobProgress* progress = job.mutable_progress();
  progress->set_epochs(training.epochs());
  progress->set_total_steps(steps_per_epoch * training.epochs());
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
  if (absl::Status s = im.store->InsertJob(job); !s.ok()) {
    if (absl::IsAlreadyExists(s) && !request.request_id().empty()) {
      // A concurrent submission with the same request_id won.
      absl::StatusOr<std::optional<v1::Job>> existing =
          im.store->FindJobByRequestId(request.request_id());
      if (existing.ok() && existing->has_value()) {
        v1::Job other = **existing;
        im.Decorate(other);
        return other;
      }
    }
    return s;
  }
  v1::JobEvent event;
  event.mutable_state_change()->set_from(v1::JOB_STATE_UNSPECIFIED);
  event.mutable_state_change()->set_to(v1::QUEUED);
  event.mutable_state_change()->set_reason("submitted");
  if (absl::StatusOr<int64_t> seq = im.events->Append(job.id(), std::move(event)); !seq.ok()) {
    return seq.status();
  }
  // Queued only now: "submitted" must be the job's first event.
  slot.Commit(KeyOf(job));
  im.Decorate(job);
  return job;
}

}  // namespace trainyard::server
