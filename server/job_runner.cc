// JobRunner: the worker pool's loop, the training observer, and recording
// how a run ended.
#include "server/job_runner.h"

#include <algorithm>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/checkpoint.h"
#include "core/leak_on_purpose.h"
#include "core/training_plan.h"
#include "server/status_util.h"
#include "server/stop_reason.h"
#include "server/time_util.h"

namespace trainyard::server {
namespace {

void SetProgress(v1::Job& job, int epoch, int64_t step) {
  v1::JobProgress* p = job.mutable_progress();
  p->set_epoch(epoch);
  p->set_step(step);
  const int64_t total = p->total_steps();
  p->set_fraction(total > 0 ? std::min(1.0, static_cast<double>(step) / total) : 0.0);
}

absl::Status OutOfMemoryError(const Trainer& trainer) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "out of memory at step ", trainer.step(),
      ": an allocation failed; use a smaller training.batch_size or narrower layers, or "
      "lower --max-job-memory so that jobs this big are refused at submit"));
}

}  // namespace

// Runs on the training thread; each call is short (a store write per epoch,
// a buffered append per logged step). Failures are logged, never stop
// training: the run's end is what the job's state records.
class JobRunner::Observer final : public TrainingObserver {
 public:
  Observer(const JobRunner::Deps& d, std::string job_id) : d_(d), job_id_(std::move(job_id)) {}

  void OnStep(const StepMetrics& m) override {
    v1::StepPoint point;
    point.set_step(m.step);
    point.set_epoch(m.epoch);
    point.set_loss(m.loss);
    point.set_learning_rate(m.learning_rate);
    point.set_grad_norm(m.grad_norm);
    // A lost point is not worth stopping training for, nor a line per step
    // on stderr; the epoch summary still reports the epoch.
    (void)d_.events->AppendStepPoint(job_id_, point);
    if (d_.after_training_step) d_.after_training_step(job_id_, m.step);
  }

  void OnDiagnostics(const v1::DiagnosticsSnapshot& snapshot) override {
    // Like a step point, a lost snapshot does not stop training. The first
    // failure of a streak is logged (a snapshot can come every step, so not
    // each one); the epoch summaries still report the run.
    absl::Status s = d_.events->AppendDiagnostics(job_id_, snapshot);
    if (!s.ok() && !diagnostics_failing_) {
      d_.logger->Problem(LogLevel::kWarn, "store_error", job_id_,
                         "diagnostics not logged (further failures unreported until one succeeds)",
                         s);
    }
    diagnostics_failing_ = !s.ok();
  }

  void OnEpoch(const v1::EpochSummary& summary) override {
    v1::JobEvent event;
    *event.mutable_epoch_metrics() = summary;
    d_.logger->Problem(LogLevel::kWarn, "store_error", job_id_, "epoch metrics not logged",
                       d_.events->Append(job_id_, std::move(event)).status());
    d_.logger->Problem(LogLevel::kWarn, "store_error", job_id_, "progress not recorded",
                d_.records
                    ->Update(
                        job_id_,
                        [&](v1::Job& job) {
                          SetProgress(job, summary.epoch(), summary.step());
                          *job.mutable_latest_metrics() = summary;
                          return absl::OkStatus();
                        },
                        "")
                    .status());
  }

  void OnCheckpoint(const v1::Checkpoint& checkpoint) override {
    d_.logger->Problem(LogLevel::kWarn, "checkpoint_failed", job_id_,
                       "periodic checkpoint not saved",
                       d_.checkpoints->Save(job_id_, checkpoint, v1::PERIODIC).status());
  }

 private:
  const JobRunner::Deps& d_;
  const std::string job_id_;
  bool diagnostics_failing_ = false;  // the latest snapshot was not logged
};

void JobRunner::WorkerLoop(int worker) {
  while (std::optional<JobScheduler::Taken> taken = d_.scheduler->TakeNext()) {
    if (Start(*taken)) RunCatchingOutOfMemory(*taken, worker);
  }
}

void JobRunner::LogEnd(const v1::Job& job, std::string_view reason, absl::Duration ran) const {
  const std::string state = v1::JobState_Name(job.state());
  const int64_t ms = absl::ToInt64Milliseconds(ran);
  if (job.state() == v1::FAILED) {
    const absl::Status error = FromErrorInfo(job.error());
    d_.logger->Warn("job_finished", {{"job", job.id()},
                                     {"state", state},
                                     {"reason", reason},
                                     {"code", absl::StatusCodeToString(error.code())},
                                     {"error", error.message()},
                                     {"epoch", job.progress().epoch()},
                                     {"step", job.progress().step()},
                                     {"ms", ms}});
    return;
  }
  d_.logger->Info("job_finished", {{"job", job.id()},
                                   {"state", state},
                                   {"reason", reason},
                                   {"epoch", job.progress().epoch()},
                                   {"step", job.progress().step()},
                                   {"ms", ms}});
}

void JobRunner::RunCatchingOutOfMemory(const JobScheduler::Taken& run, int worker) {
  const absl::Time start = d_.clock->Now();
  try {
    Run(run, worker);
  } catch (const std::bad_alloc&) {
    // Outside training proper (loading the data, building the trainer,
    // the final checkpoint): Run's own catch covers Trainer::Run. The job
    // fails; the worker and the process go on.
    absl::Status oom = absl::ResourceExhaustedError(
        "out of memory while preparing or finishing the run: an allocation failed");
    JobRecords::Lock held = d_.records->LockJob(run.job_id);
    absl::StatusOr<v1::Job> failed = d_.records->UpdateHeld(
        held,
        [&oom](v1::Job& j) {
          j.set_state(v1::FAILED);
          j.set_crash_restarts(0);
          *j.mutable_error() = ToErrorInfo(oom);
          SetTimestamp(absl::Now(), j.mutable_end_time());
          return absl::OkStatus();
        },
        "out of memory");
    d_.scheduler->Finish(run);
    if (failed.ok()) {
      LogEnd(*failed, "out of memory", d_.clock->Now() - start);
    } else {
      d_.logger->Problem(LogLevel::kError, "store_error", run.job_id,
                         "could not record the out-of-memory failure", failed.status());
    }
  }
}

bool JobRunner::Start(const JobScheduler::Taken& run) {
  const std::string& id = run.job_id;
  JobRecords::Lock held = d_.records->LockJob(id);
  bool started = false;
  absl::StatusOr<v1::Job> job = d_.records->UpdateHeld(
      held,
      [](v1::Job& j) {
        if (j.state() != v1::QUEUED) return absl::FailedPreconditionError("no longer queued");
        j.set_state(v1::RUNNING);
        if (!j.has_start_time()) SetTimestamp(absl::Now(), j.mutable_start_time());
        return absl::OkStatus();
      },
      "started on a worker",
      [&](const v1::Job&) {
        // Running from now on, for everyone who takes the job's lock.
        d_.scheduler->MarkStarted(run);
        started = true;
      });
  // The row and its event commit together (JobRecords::UpdateHeld), so
  // `started` means both are stored.
  if (started) return true;
  if (absl::IsFailedPrecondition(job.status())) {
    // Cancelled or paused while it was only claimed: nothing to run.
    d_.scheduler->Finish(run);
    return false;
  }
  if (absl::IsNotFound(job.status())) {
    d_.logger->Problem(LogLevel::kWarn, "store_error", id, "queued job has no row; dropped",
                       job.status());
    d_.scheduler->Finish(run);
    return false;
  }
  // A store error: the row and log still say QUEUED. Fail the job rather
  // than strand it out of the queue, or loop on it if the error persists.
  d_.logger->Problem(LogLevel::kError, "job_start_failed", id, "could not start the job",
                     job.status());
  absl::Status first = job.status();
  absl::StatusOr<v1::Job> failed = d_.records->UpdateHeld(
      held,
      [&first](v1::Job& j) {
        if (j.state() != v1::QUEUED) return absl::OkStatus();
        j.set_state(v1::FAILED);
        *j.mutable_error() = ToErrorInfo(first);
        SetTimestamp(absl::Now(), j.mutable_end_time());
        return absl::OkStatus();
      },
      "could not start the job");
  if (!failed.ok()) {
    // The store cannot write (a full disk?): the row and log still say
    // QUEUED, never RUNNING without a worker. Back into the queue after a
    // pause, so the job runs once the store works again without a restart,
    // and a worker does not spin on it meanwhile.
    d_.logger->Problem(LogLevel::kError, "job_start_failed", id,
                       "could not record the failed start; requeued", failed.status());
    absl::StatusOr<v1::Job> row = d_.records->Get(id);
    if (row.ok() && row->state() == v1::QUEUED) {
      absl::SleepFor(absl::Milliseconds(200));
      d_.scheduler->Finish(run, KeyOf(*row));
      return false;
    }
  }
  if (failed.ok() && failed->state() == v1::FAILED) {
    LogEnd(*failed, "could not start the job", absl::ZeroDuration());
  }
  d_.scheduler->Finish(run);
  return false;
}

void JobRunner::Run(const JobScheduler::Taken& run, int worker) {
  const absl::Time start = d_.clock->Now();
  const std::string& id = run.job_id;
  const std::shared_ptr<StopToken>& token = run.token;
  // Records the end of this run: the state (unless crashing), the progress
  // reached, and the worker's release of the job, under the job's lock.
  //
  // A write that fails (a full disk, a read-only database) is retried with
  // backoff while this worker still owns the job, so the job is never left
  // RUNNING without a worker: after kEndAttempts failed attempts the job is
  // to end FAILED with the store's error instead (its requested end state
  // itself may be what cannot be written), and that is retried until it
  // succeeds — once space is back the job ends without a restart — or until
  // shutdown gives up on the run (a crash request: the row says RUNNING and
  // the next Open requeues it, as after a real crash).
  const Trainer* ran = nullptr;
  auto finish = [&](v1::JobState state, std::string_view reason, const absl::Status& error) {
    constexpr int kEndAttempts = 5;
    v1::JobState want = state;
    std::string why(reason);
    absl::Status cause = error;
    absl::Duration backoff = absl::Milliseconds(50);
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<v1::Job> recorded;
      {
        JobRecords::Lock held = d_.records->LockJob(id);
        if (d_.scheduler->RequestsOf(id).Has(StopReason::kCrash)) {
          // As a crash: the store still says RUNNING and the next Open requeues.
          d_.scheduler->Finish(run);
          return;
        }
        recorded = d_.records->UpdateHeld(
            held,
            [&](v1::Job& job) {
              // A run that ended on its own (not by a crash) ends the job's
              // crash streak (poison-job quarantine, Backend::Open).
              job.set_crash_restarts(0);
              // Ended meanwhile by someone else: only the progress is ours.
              const bool ended = IsTerminalState(job.state());
              if (!ended) job.set_state(want);
              if (ran != nullptr) SetProgress(job, ran->epoch(), ran->step());
              if (ended) return absl::OkStatus();
              if (want == v1::FAILED) *job.mutable_error() = ToErrorInfo(cause);
              if (IsTerminalState(want)) SetTimestamp(absl::Now(), job.mutable_end_time());
              if (want == v1::SUCCEEDED) job.mutable_progress()->set_fraction(1);
              return absl::OkStatus();
            },
            why,
            [&](const v1::Job& job) {
              d_.scheduler->Finish(
                  run, want == v1::QUEUED ? std::optional(KeyOf(job)) : std::nullopt);
            });
        if (recorded.ok() || absl::IsNotFound(recorded.status())) {
          // Finish again: a no-op after `written` ran; releases a run whose
          // row is gone.
          d_.scheduler->Finish(run);
          if (recorded.ok()) {
            LogEnd(*recorded, why, d_.clock->Now() - start);
          } else {
            d_.logger->Problem(LogLevel::kWarn, "store_error", id,
                               "the job's row vanished before its end was recorded",
                               recorded.status());
          }
          return;
        }
      }
      d_.logger->Problem(LogLevel::kError, "job_end_retry", id,
                         absl::StrCat("could not record the end of the run (",
                                      v1::JobState_Name(want), ", ", why, "), attempt ",
                                      attempt, "; retrying"),
                         recorded.status());
      if (want != v1::FAILED && attempt >= kEndAttempts) {
        cause = absl::Status(recorded.status().code(),
                             absl::StrCat("could not record the end of the run (",
                                          v1::JobState_Name(want), "): ",
                                          recorded.status().message()));
        want = v1::FAILED;
        why = "could not record the end of the run";
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
  };

  absl::StatusOr<v1::Job> job = d_.records->Get(id);
  if (!job.ok()) return finish(v1::FAILED, "could not read the job", job.status());
  absl::StatusOr<v1::Dataset> row = d_.store->GetDataset(job->dataset_id());
  if (!row.ok()) return finish(v1::FAILED, "dataset unavailable", row.status());
  absl::StatusOr<std::shared_ptr<const Dataset>> train = d_.datasets->Load(*row);
  if (!train.ok()) return finish(v1::FAILED, "dataset unavailable", train.status());
  std::shared_ptr<const Dataset> validation;
  if (!job->validation_dataset_id().empty()) {
    absl::StatusOr<v1::Dataset> vrow = d_.store->GetDataset(job->validation_dataset_id());
    if (!vrow.ok()) return finish(v1::FAILED, "validation dataset unavailable", vrow.status());
    absl::StatusOr<std::shared_ptr<const Dataset>> val = d_.datasets->Load(*vrow);
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
    absl::StatusOr<v1::Checkpoint> ckpt = d_.checkpoints->Load(resume_id, "checkpoint");
    if (!ckpt.ok()) return finish(v1::FAILED, "checkpoint unavailable", ckpt.status());
    *ckpt->mutable_model() = job->model();
    *ckpt->mutable_training() = job->training();
    // Refusals name the field the checkpoint came from: the job's own newest
    // checkpoint is not something its submitter set.
    TrainingPlanInputs in;
    in.model = job->model();
    in.training = job->training();
    in.train = GivenDataset(*train);
    in.validation = GivenDataset(validation);
    in.resume_from = &*ckpt;
    in.resume_field = !job->latest_checkpoint_id().empty() ? "latest_checkpoint_id"
                                                           : "resume_from_checkpoint_id";
    absl::StatusOr<TrainingPlan> plan = BuildTrainingPlan(in);
    trainer = plan.ok() ? Trainer::Resume(*std::move(plan), *ckpt, trainer_options)
                        : absl::StatusOr<std::unique_ptr<Trainer>>(plan.status());
    log = absl::StrCat("resumed from step ", ckpt->step(), " (checkpoint ", resume_id, ")");
  } else {
    trainer = Trainer::Create(job->model(), job->training(), *train, validation, trainer_options);
    if (trainer.ok() && !job->init_from_checkpoint_id().empty()) {
      absl::StatusOr<v1::Checkpoint> ckpt =
          d_.checkpoints->Load(job->init_from_checkpoint_id(), "init_from_checkpoint_id");
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
    d_.logger->Problem(LogLevel::kWarn, "store_error", id, "start line not logged",
                       d_.events->Append(id, std::move(event)).status());
  }
  const v1::TrainingConfig& training = job->training();
  d_.logger->Info("job_started",
                  {{"job", id},
                   {"name", job->name()},
                   {"worker", worker},
                   {"threads", trainer_options.threads},
                   {"resumed", !resume_id.empty()},
                   {"from_checkpoint", !resume_id.empty() ? std::string_view(resume_id)
                                       : !job->init_from_checkpoint_id().empty()
                                           ? std::string_view(job->init_from_checkpoint_id())
                                           : std::string_view("none")},
                   {"step", (*trainer)->step()},
                   {"epochs", training.epochs()}});

  ran = trainer->get();
  Observer observer(d_, id);
  absl::StatusOr<RunOutcome> outcome;
  try {
    outcome = (*trainer)->Run(&observer, token.get());
  } catch (const std::bad_alloc&) {
    // The job's failure, not the process's. Eigen's resize frees a matrix's
    // old buffer before allocating the new one and keeps the dangling pointer
    // when that throws, so destroying the trainer could free it twice: it is
    // leaked on purpose (what it still holds is what did fit).
    Trainer* leaked = LeakOnPurpose(trainer->release());
    return finish(v1::FAILED, "out of memory", OutOfMemoryError(*leaked));
  }
  if (!outcome.ok()) return finish(v1::FAILED, "training failed", outcome.status());

  // Every request so far, also those that arrived after Run returned.
  const RunEnding end = EndingFor(*outcome, d_.scheduler->RequestsOf(id));
  if (!end.record) return finish(v1::RUNNING, "", absl::OkStatus());  // a crash
  if (end.checkpoint != v1::CHECKPOINT_REASON_UNSPECIFIED) {
    absl::Status s =
        d_.checkpoints->Save(id, (*trainer)->MakeCheckpoint(), end.checkpoint).status();
    if (!s.ok() && end.checkpoint_required) return finish(v1::FAILED, end.failure_reason, s);
    // A shutdown goes on without it: the job resumes from its previous one.
    d_.logger->Problem(LogLevel::kWarn, "checkpoint_failed", id,
                       "shutdown checkpoint not saved", s);
  }
  finish(end.state, end.reason, absl::OkStatus());
}

}  // namespace trainyard::server
