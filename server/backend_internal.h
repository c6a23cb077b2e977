// Backend's components and how they are wired; shared by the files that
// implement Backend's methods (backend.cc, dataset_ops.cc, job_submit.cc,
// job_control.cc, inference.cc). Not for use outside server/backend*.
//
// Who owns which state:
//   DataDirLock         the data dir itself: one Backend (one process) at a time
//   MetadataStore       rows (datasets, jobs, checkpoints, events); its own mutex
//   BlobStore           dataset and checkpoint bytes; lock-free (files)
//   EventLog            per-job event seqs, tails and watchers
//   JobScheduler        the queue, the claimed and running jobs and their
//                       stop requests, admission (server/scheduler.h)
//   JobRecords          read-modify-write of one job row + its StateChange
//                       event, under that job's lock (server/job_records.h)
//   CheckpointRecorder  checkpoint rows and the save/import/load paths
//   DatasetCache        parsed datasets in memory
//   PredictorCache      built predictors for inference
//   JobRunner           the workers' loop (server/job_runner.h)
//
// Lock order (a lock may be taken while holding the ones before it, never
// the other way round):
//   1. Impl::dataset_mu          (dataset row insert/delete + blob removal)
//   1b. Impl::blob_removal_mu    (every "does a row name it? unlink" and a
//                                 checkpoint save from "its blob exists" to
//                                 its commit; never held across parsing)
//   2. a job's record lock       (JobRecords; one job at a time)
//   3. JobScheduler's mutex      (in-memory only: no I/O under it, ever)
//   4. the leaves: EventLog's and MetadataStore's internal mutexes, the
//      dataset and predictor caches' mutexes (no I/O under the caches')
// A job's row and its standing in the scheduler change together under the
// job's record lock: SubmitJob holds it from the row insert through the
// "submitted" event to the queue entry; a worker marks a taken (claimed) job
// started in its RUNNING write and finishes a failed take before letting go;
// cancel, pause and resume decide between signalling the run and changing
// the row while holding it, and reply with what their write left. So under
// a job's lock, "running in the scheduler" means "the row says RUNNING".
// No lock at all is held while calling into training (Trainer::Run), and the
// only locks held across an fsync are a job's record lock (its row and
// event writes) and dataset_mu (dataset row writes) — never the scheduler's.
#ifndef TRAINYARD_SERVER_BACKEND_INTERNAL_H_
#define TRAINYARD_SERVER_BACKEND_INTERNAL_H_

#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/backend.h"
#include "server/blob_store.h"
#include "server/checkpoint_recorder.h"
#include "server/data_dir_lock.h"
#include "server/dataset_cache.h"
#include "server/event_log.h"
#include "server/job_records.h"
#include "server/job_runner.h"
#include "server/logger.h"
#include "server/metadata_store.h"
#include "server/options.h"
#include "server/predictor_cache.h"
#include "server/scheduler.h"
#include "server/stop_reason.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Backend::Open fails, instead of requeueing, a job found RUNNING this many
// starts in a row (Job.crash_restarts; reset when a run ends on its own).
inline constexpr int kMaxCrashRestarts = 3;

// Declared in the order they are built; destroyed in reverse.
struct Backend::Impl {
  ServerOptions options;
  // The operator log (options.MakeLogger()); the components hold pointers.
  Logger logger;
  // Taken before anything in the data dir is touched; released last.
  std::unique_ptr<DataDirLock> data_dir_lock;
  std::unique_ptr<MetadataStore> store;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<EventLog> events;
  std::unique_ptr<JobScheduler> scheduler;
  std::unique_ptr<JobRecords> records;
  std::unique_ptr<CheckpointRecorder> checkpoints;
  std::unique_ptr<DatasetCache> datasets;
  std::unique_ptr<PredictorCache> predictors;
  std::unique_ptr<JobRunner> runner;

  // Serialises dataset row insert/delete with blob removal, so a blob is
  // never removed while a new row starts to reference it.
  absl::Mutex dataset_mu;
  // Serialises each blob removal's "no row names it, unlink" with a
  // checkpoint save's "the blob is there, commit its row": the save path
  // does not take dataset_mu (held across whole dataset parses), so without
  // this a save of bytes identical to a checkpoint being pruned or deleted
  // could find the file, lose it to the unlink and commit a row without it.
  absl::Mutex blob_removal_mu;

  absl::Mutex workers_mu;  // StartWorkers vs Shutdown/~Backend
  bool workers_started ABSL_GUARDED_BY(workers_mu) = false;
  std::vector<std::thread> workers ABSL_GUARDED_BY(workers_mu);

  // Shorthands for the caches and the recorder.
  absl::StatusOr<std::shared_ptr<const Dataset>> LoadDataset(const v1::Dataset& row) {
    return datasets->Load(row);
  }
  absl::StatusOr<v1::Checkpoint> LoadCheckpoint(std::string_view id, std::string_view field) {
    return checkpoints->Load(id, field);
  }

  // Fills queue_position (from the scheduler) and last_event_seq. Called
  // under the job's record lock right after a write, the reply shows the
  // state that write left.
  void Decorate(v1::Job& job);
  absl::StatusOr<v1::Job> Decorated(absl::StatusOr<v1::Job> job);
  // Stops the scheduler's workers and joins them.
  void JoinWorkers();

  // A client's cancel or pause (job_control.cc): the reason given to a
  // running job, or what happens to a waiting one.
  struct ClientStop {
    StopReason reason;       // for a running job
    v1::JobState target;     // for a waiting one
    bool also_from_paused;   // cancel takes PAUSED jobs too
    std::string_view allowed;  // the FAILED_PRECONDITION text
  };
  absl::StatusOr<v1::Job> RequestStop(std::string_view id, const ClientStop& request);

  // An earlier submission's job (a request_id retry), read under its lock.
  absl::StatusOr<v1::Job> Submitted(std::string_view id);

  // Tests only (tests/testing/backend_peer.h): runs in SubmitJob after the
  // job's row is inserted, while its record lock is held.
  std::function<void(const v1::Job&)> after_submit_insert;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_BACKEND_INTERNAL_H_
