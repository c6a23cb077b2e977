// Backend: the worker pool. A worker takes the first queued job (priority,
// then age), builds its Trainer (fresh, fine-tuned, or resumed from the
// job's newest checkpoint), runs it with an observer that logs events and
// saves checkpoints, and records the state the run ended in.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/checkpoint.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/status_util.h"

namespace trainyard::server {
namespace {

void SetProgress(v1::Job& job, int epoch, int64_t step) {
  v1::JobProgress* p = job.mutable_progress();
  p->set_epoch(epoch);
  p->set_step(step);
  const int64_t total = p->total_steps();
  p->set_fraction(total > 0 ? std::min(1.0, static_cast<double>(step) / total) : 0.0);
}

// Runs on the training thread; each call is short (a store write per epoch,
// a buffered append per logged step).
}  // namespace

class Backend::Impl::Observer final : public TrainingObserver {
 public:
  Observer(Backend::Impl* impl, std::string job_id) : impl_(impl), job_id_(std::move(job_id)) {}

  void OnStep(const StepMetrics& m) override {
    v1::StepPoint point;
    point.set_step(m.step);
    point.set_epoch(m.epoch);
    point.set_loss(m.loss);
    point.set_learning_rate(m.learning_rate);
    point.set_grad_norm(m.grad_norm);
    // A lost point is not worth stopping training for; the epoch summary
    // still reports the epoch.
    (void)impl_->events->AppendStepPoint(job_id_, point);
  }

  void OnEpoch(const v1::EpochSummary& summary) override {
    v1::JobEvent event;
    *event.mutable_epoch_metrics() = summary;
    (void)impl_->events->Append(job_id_, std::move(event));
    (void)impl_->UpdateJob(
        job_id_,
        [&](v1::Job& job) {
          SetProgress(job, summary.epoch(), summary.step());
          *job.mutable_latest_metrics() = summary;
          return absl::OkStatus();
        },
        "");
  }

  void OnCheckpoint(const v1::Checkpoint& checkpoint) override {
    (void)impl_->SaveCheckpoint(job_id_, checkpoint, v1::PERIODIC);
  }

 private:
  Backend::Impl* const impl_;
  const std::string job_id_;
};

absl::StatusOr<v1::CheckpointInfo> Backend::Impl::SaveCheckpoint(const std::string& job_id,
                                                                  v1::Checkpoint checkpoint,
                                                                  v1::CheckpointReason reason) {
  absl::StatusOr<v1::Job> job = store->GetJob(job_id);
  if (!job.ok()) return job.status();
  absl::StatusOr<v1::Dataset> data = store->GetDataset(job->dataset_id());
  if (data.ok()) checkpoint.set_dataset_sha256(data->sha256());
  const std::string bytes = EncodeCheckpoint(checkpoint);
  if (bytes.empty()) {
    return absl::ResourceExhaustedError("checkpoint is larger than the format's 2 GiB limit");
  }
  absl::StatusOr<std::string> sha = blobs->Put(bytes);
  if (!sha.ok()) return sha.status();

  v1::CheckpointInfo info;
  info.set_id(*sha);
  info.set_job_id(job_id);
  info.set_step(checkpoint.step());
  info.set_epoch(checkpoint.completed_epochs());
  info.set_size_bytes(static_cast<int64_t>(bytes.size()));
  info.set_sha256(*sha);
  SetTimestamp(absl::Now(), info.mutable_created_at());
  if (checkpoint.history_size() > 0) {
    *info.mutable_metrics() = checkpoint.history(checkpoint.history_size() - 1);
  }
  info.set_reason(reason);
  info.set_num_features(checkpoint.model().input_dim());
  info.set_num_outputs(NumOutputs(checkpoint.model()));
  if (absl::Status s = store->InsertCheckpoint(info); !s.ok()) {
    // Identical bytes were saved before (same state twice, e.g. a pause right
    // after a resume): the recorded row stands for both.
    if (!absl::IsAlreadyExists(s)) return s;
  }

  absl::MutexLock lock(&mu);
  absl::StatusOr<v1::Job> updated = UpdateJobLocked(
      job_id,
      [&](v1::Job& j) {
        j.set_latest_checkpoint_id(*sha);
        return absl::OkStatus();
      },
      "");
  if (!updated.ok()) return updated.status();
  v1::JobEvent event;
  v1::CheckpointSaved* saved = event.mutable_checkpoint_saved();
  saved->set_checkpoint_id(*sha);
  saved->set_step(info.step());
  saved->set_epoch(info.epoch());
  saved->set_reason(reason);
  if (absl::StatusOr<int64_t> seq = events->Append(job_id, std::move(event)); !seq.ok()) {
    return seq.status();
  }
  return info;
}

void Backend::Impl::WorkerLoop() {
  for (;;) {
    std::string id;
    auto rj = std::make_shared<RunningJob>();
    {
      absl::MutexLock lock(&mu);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return stopping || !queue.empty();
      };
      mu.Await(absl::Condition(&ready));
      if (stopping) return;
      id = queue.begin()->id;
      queue.erase(queue.begin());
      absl::StatusOr<v1::Job> job = UpdateJobLocked(
          id,
          [](v1::Job& j) {
            if (j.state() != v1::QUEUED) {
              return absl::FailedPreconditionError("no longer queued");
            }
            j.set_state(v1::RUNNING);
            if (!j.has_start_time()) SetTimestamp(absl::Now(), j.mutable_start_time());
            return absl::OkStatus();
          },
          "started on a worker");
      if (!job.ok()) continue;
      running[id] = rj;
    }
    RunJob(id, rj);
  }
}

namespace {

struct Built {
  std::unique_ptr<Trainer> trainer;
  std::string log;  // a line for the job's log, if any
};

}  // namespace

void Backend::Impl::RunJob(const std::string& id, const std::shared_ptr<RunningJob>& rj) {
  // Records the end of this run: the state (unless crashing), the progress
  // reached, and the worker's release of the job, in one critical section.
  const Trainer* ran = nullptr;
  auto finish = [&](v1::JobState state, std::string_view reason, const absl::Status& error) {
    absl::MutexLock lock(&mu);
    running.erase(id);
    if (rj->crash) return;
    (void)UpdateJobLocked(
        id,
        [&](v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          job.set_state(state);
          if (ran != nullptr) SetProgress(job, ran->epoch(), ran->step());
          if (state == v1::FAILED) *job.mutable_error() = ToErrorInfo(error);
          if (IsTerminalState(state)) SetTimestamp(absl::Now(), job.mutable_end_time());
          if (state == v1::SUCCEEDED) job.mutable_progress()->set_fraction(1);
          if (state == v1::QUEUED) Enqueue(job);
          return absl::OkStatus();
        },
        reason);
  };

  absl::StatusOr<v1::Job> job = store->GetJob(id);
  if (!job.ok()) return finish(v1::FAILED, "could not read the job", job.status());
  absl::StatusOr<v1::Dataset> row = store->GetDataset(job->dataset_id());
  if (!row.ok()) return finish(v1::FAILED, "dataset unavailable", row.status());
  absl::StatusOr<std::shared_ptr<const Dataset>> train = LoadDataset(*row);
  if (!train.ok()) return finish(v1::FAILED, "dataset unavailable", train.status());
  std::shared_ptr<const Dataset> validation;
  if (!job->validation_dataset_id().empty()) {
    absl::StatusOr<v1::Dataset> vrow = store->GetDataset(job->validation_dataset_id());
    if (!vrow.ok()) return finish(v1::FAILED, "validation dataset unavailable", vrow.status());
    absl::StatusOr<std::shared_ptr<const Dataset>> val = LoadDataset(*vrow);
    if (!val.ok()) return finish(v1::FAILED, "validation dataset unavailable", val.status());
    validation = *val;
  }

  TrainerOptions trainer_options;
  trainer_options.threads = std::max(1, job->threads());
  absl::StatusOr<std::unique_ptr<Trainer>> trainer;
  std::string log;
  // The job's own newest checkpoint wins (after a pause, shutdown or crash);
  // otherwise a submitted resume_from or a fresh start.
  const std::string& resume_id = !job->latest_checkpoint_id().empty()
                                     ? job->latest_checkpoint_id()
                                     : job->resume_from_checkpoint_id();
  if (!resume_id.empty()) {
    absl::StatusOr<v1::Checkpoint> ckpt = LoadCheckpoint(resume_id, "checkpoint");
    if (!ckpt.ok()) return finish(v1::FAILED, "checkpoint unavailable", ckpt.status());
    *ckpt->mutable_model() = job->model();
    *ckpt->mutable_training() = job->training();
    trainer = Trainer::Resume(*ckpt, *train, validation, trainer_options);
    log = absl::StrCat("resumed from step ", ckpt->step(), " (checkpoint ", resume_id, ")");
  } else {
    trainer = Trainer::Create(job->model(), job->training(), *train, validation, trainer_options);
    if (trainer.ok() && !job->init_from_checkpoint_id().empty()) {
      absl::StatusOr<v1::Checkpoint> ckpt =
          LoadCheckpoint(job->init_from_checkpoint_id(), "init_from_checkpoint_id");
      absl::Status s = ckpt.ok() ? (*trainer)->InitializeFrom(*ckpt) : ckpt.status();
      if (!s.ok()) return finish(v1::FAILED, "could not initialise from checkpoint", s);
      log = absl::StrCat("weights initialised from checkpoint ", job->init_from_checkpoint_id());
    }
  }
  if (!trainer.ok()) return finish(v1::FAILED, "could not build the trainer", trainer.status());
  if (!log.empty()) {
    v1::JobEvent event;
    event.mutable_log()->set_level(v1::LOG_INFO);
    event.mutable_log()->set_text(log);
    (void)events->Append(id, std::move(event));
  }

  ran = trainer->get();
  Observer observer(this, id);
  const absl::StatusOr<RunOutcome> outcome = (*trainer)->Run(&observer, &rj->token);
  if (!outcome.ok()) return finish(v1::FAILED, "training failed", outcome.status());

  bool crash, user_cancel, user_pause, shutdown, abandon;
  {
    absl::MutexLock lock(&mu);
    crash = rj->crash;
    user_cancel = rj->user_cancel;
    user_pause = rj->user_pause;
    shutdown = rj->shutdown;
    abandon = rj->abandon;
  }
  if (crash) return finish(v1::RUNNING, "", absl::OkStatus());
  auto save = [&](v1::CheckpointReason reason) {
    return SaveCheckpoint(id, (*trainer)->MakeCheckpoint(), reason).status();
  };
  switch (*outcome) {
    case RunOutcome::kCompleted:
    case RunOutcome::kEarlyStopped: {
      if (absl::Status s = save(v1::FINAL); !s.ok()) {
        return finish(v1::FAILED, "could not save the final checkpoint", s);
      }
      return finish(v1::SUCCEEDED,
                    *outcome == RunOutcome::kCompleted ? "completed" : "early stopping",
                    absl::OkStatus());
    }
    case RunOutcome::kCancelled:
      if (user_cancel) return finish(v1::CANCELLED, "requested by client", absl::OkStatus());
      if (abandon) return finish(v1::QUEUED, "server shutdown", absl::OkStatus());
      return finish(v1::CANCELLED, "cancelled", absl::OkStatus());
    case RunOutcome::kPaused:
      if (user_pause || !shutdown) {
        if (absl::Status s = save(v1::PAUSE); !s.ok()) {
          return finish(v1::FAILED, "could not save the pause checkpoint", s);
        }
        return finish(v1::PAUSED, "requested by client", absl::OkStatus());
      }
      // Shutdown: if the checkpoint cannot be written the job still goes
      // back to the queue and resumes from its previous one.
      (void)save(v1::SHUTDOWN);
      return finish(v1::QUEUED, "server shutdown", absl::OkStatus());
  }
}

}  // namespace trainyard::server
