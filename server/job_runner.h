// The worker side of a job: a worker takes the next queued job from the
// scheduler, marks it RUNNING, builds its Trainer (fresh, fine-tuned, or
// resumed from the job's newest checkpoint), runs it with an observer that
// logs events and saves checkpoints, and records the state the run ended in
// (server/stop_reason.h says which).
//
// Locking: holds no lock while training. The start and the end of a run take
// the job's record lock, then tell the scheduler (job lock -> scheduler lock).
#ifndef TRAINYARD_SERVER_JOB_RUNNER_H_
#define TRAINYARD_SERVER_JOB_RUNNER_H_

#include <memory>
#include <functional>
#include <string>

#include "core/clock.h"
#include "server/checkpoint_recorder.h"
#include "server/dataset_cache.h"
#include "server/event_log.h"
#include "server/job_records.h"
#include "server/logger.h"
#include "server/metadata_store.h"
#include "server/scheduler.h"

namespace trainyard::server {

class JobRunner {
 public:
  // Every pointer must outlive the runner and its workers.
  struct Deps {
    MetadataStore* store = nullptr;  // dataset rows
    EventLog* events = nullptr;
    JobRecords* records = nullptr;
    JobScheduler* scheduler = nullptr;
    DatasetCache* datasets = nullptr;
    CheckpointRecorder* checkpoints = nullptr;
    // ServerOptions::TestHooks::after_training_step; empty in production.
    std::function<void(const std::string& job_id, int64_t step)> after_training_step;
    // job_started / job_finished and the failures a run tolerates; run
    // durations by `clock`. Never per step.
    const Logger* logger = Logger::Default();
    const Clock* clock = Clock::Steady();
  };
  explicit JobRunner(const Deps& deps) : d_(deps) {}

  // A worker thread's body: runs jobs until the scheduler stops. `worker`
  // numbers the thread in the logs.
  void WorkerLoop(int worker = 0);

  // Writes the taken job's RUNNING row and marks it started in the
  // scheduler, both under its record lock; true if it is to be run. When the
  // job is no longer QUEUED (cancelled or paused while claimed), or the write
  // fails (the job is FAILED then, or, if even that cannot be written, put
  // back in the queue after a short pause), finishes the claim under the
  // same lock.
  bool Start(const JobScheduler::Taken& run);

 private:
  class Observer;
  // Run, with an allocation failure anywhere in it failing the job (never
  // the process).
  void RunCatchingOutOfMemory(const JobScheduler::Taken& run, int worker);
  void Run(const JobScheduler::Taken& run, int worker);
  // job_finished for the state `job` was left in by a run's end (or a
  // failed start): warn with the error for FAILED, info otherwise.
  void LogEnd(const v1::Job& job, std::string_view reason, absl::Duration ran) const;

  const Deps d_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_JOB_RUNNER_H_
