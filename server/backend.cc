// Backend: builds and wires the components, recovery, the worker pool's
// lifetime, shutdown, and the streaming RPCs' entry points.
#include "server/backend.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/tensor.h"
#include "core/version.h"
#include "server/backend_internal.h"
#include "server/blob_sweep.h"
#include "server/status_util.h"
#include "server/time_util.h"

namespace trainyard::server {

void Backend::Impl::Decorate(v1::Job& job) {
  job.set_queue_position(job.state() == v1::QUEUED ? scheduler->QueuePosition(KeyOf(job)) : -1);
  if (!job.id().empty()) {
    // A finished job's events are all in the store, committed with the row
    // just read; the log's published seq may trail that commit for a
    // moment, and GetJob would show SUCCEEDED without its own event.
    absl::StatusOr<int64_t> seq = IsTerminalState(job.state()) ? store->MaxEventSeq(job.id())
                                                               : events->LastSeq(job.id());
    if (seq.ok()) {
      job.set_last_event_seq(*seq);
    } else {
      // The reply goes out without it (0); a watcher starting from 0 still
      // sees every event.
      logger.Problem(LogLevel::kWarn, "store_error", job.id(), "last_event_seq unavailable",
                     seq.status());
    }
  }
}

absl::StatusOr<v1::Job> Backend::Impl::Decorated(absl::StatusOr<v1::Job> job) {
  if (job.ok()) Decorate(*job);
  return job;
}

void Backend::Impl::JoinWorkers() {
  scheduler->Stop();
  absl::MutexLock lock(&workers_mu);
  for (std::thread& t : workers) t.join();
  workers.clear();
}

// ------------------------------------------------------------------- life

Backend::Backend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Backend>> Backend::Open(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  Impl& im = *impl;
  im.options = options;
  if (absl::Status s = im.options.Finalize(); !s.ok()) return s;
  im.logger = im.options.MakeLogger();
  const Logger& log = im.logger;
  // First, before recovery or the blob store's temp sweep could disturb
  // another server that owns the dir.
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(options.data_dir);
  if (!lock.ok()) return lock.status();
  im.data_dir_lock = std::move(*lock);
  MetadataStoreOptions store_options;
  store_options.synchronous_full = options.durable_sync;
  store_options.env = options.env;
  absl::StatusOr<std::unique_ptr<MetadataStore>> store =
      MetadataStore::Open(options.data_dir + "/trainyard.db", store_options);
  if (!store.ok()) return store.status();
  im.store = std::move(*store);
  absl::StatusOr<std::unique_ptr<BlobStore>> blobs = BlobStore::Open(options.data_dir + "/blobs", options.env);
  if (!blobs.ok()) return blobs.status();
  im.blobs = std::move(*blobs);
  if (im.blobs->temp_files_removed() > 0) {
    log.Info("temp_files_removed",
             {{"dir", im.blobs->root() + "/tmp"}, {"count", im.blobs->temp_files_removed()}});
  }
  const size_t orphans =
      SweepOrphanBlobs(options.env, im.blobs->root(), im.store.get(), &log).size();
  im.events = std::make_unique<EventLog>(im.store.get());
  im.scheduler = std::make_unique<JobScheduler>(im.options.max_queued_jobs);
  im.records = std::make_unique<JobRecords>(im.store.get(), im.events.get());
  CheckpointRecorderOptions recorder_options;
  recorder_options.max_params = im.options.max_params;
  recorder_options.max_checkpoint_bytes = im.options.max_checkpoint_bytes;
  recorder_options.blob_mu = &im.dataset_mu;
  recorder_options.removal_mu = &im.blob_removal_mu;
  recorder_options.logger = &log;
  recorder_options.timer = im.options.clock;
  im.checkpoints = std::make_unique<CheckpointRecorder>(
      im.store.get(), im.blobs.get(), im.events.get(), im.records.get(), recorder_options);
  im.datasets = std::make_unique<DatasetCache>(im.blobs.get(), im.options.max_dataset_bytes);
  im.predictors = std::make_unique<PredictorCache>(
      [recorder = im.checkpoints.get()](std::string_view id) {
        return recorder->Load(id, "checkpoint_id");
      },
      im.options.default_threads);
  JobRunner::Deps deps;
  deps.store = im.store.get();
  deps.events = im.events.get();
  deps.records = im.records.get();
  deps.scheduler = im.scheduler.get();
  deps.datasets = im.datasets.get();
  deps.checkpoints = im.checkpoints.get();
  deps.after_training_step = im.options.test_hooks.after_training_step;
  deps.logger = &log;
  deps.clock = im.options.clock;
  im.runner = std::make_unique<JobRunner>(deps);

  // Recovery: a job found RUNNING was interrupted; it goes back to the queue
  // and resumes from its newest checkpoint when a worker takes it — unless
  // it was running at each of the last kMaxCrashRestarts deaths of the
  // server, which makes it the likely cause: then it fails (poison-job
  // quarantine), so that one job cannot turn restarts into a crash loop.
  absl::StatusOr<std::vector<v1::Job>> running = im.store->JobsInStates({v1::RUNNING});
  if (!running.ok()) return running.status();
  int requeued = 0, quarantined = 0;
  for (const v1::Job& job : *running) {
    const int crashes = job.crash_restarts() + 1;
    const bool quarantine = crashes >= kMaxCrashRestarts;
    absl::StatusOr<v1::Job> updated = im.records->Update(
        job.id(),
        [crashes, quarantine](v1::Job& j) {
          j.set_crash_restarts(crashes);
          if (!quarantine) {
            j.set_state(v1::QUEUED);
            return absl::OkStatus();
          }
          j.set_state(v1::FAILED);
          *j.mutable_error() = ToErrorInfo(absl::AbortedError(absl::StrCat(
              "quarantined: the job was running each of the last ", crashes,
              " times the server stopped without a clean shutdown, so it is not resumed "
              "again (it may be what crashes the server; check its memory needs and "
              "--max-job-memory, then submit it again)")));
          SetTimestamp(absl::Now(), j.mutable_end_time());
          return absl::OkStatus();
        },
        quarantine ? "quarantined after repeated crashes" : "server restart");
    if (!updated.ok()) return updated.status();
    if (quarantine) {
      ++quarantined;
      log.Warn("job_quarantined", {{"job", job.id()},
                                   {"name", job.name()},
                                   {"crash_restarts", crashes},
                                   {"state", "FAILED"},
                                   {"error", updated->error().message()}});
    } else {
      ++requeued;
      log.Info("job_requeued", {{"job", job.id()},
                                {"name", job.name()},
                                {"crash_restarts", crashes},
                                {"resume_from", job.latest_checkpoint_id().empty()
                                                    ? std::string_view("none")
                                                    : std::string_view(job.latest_checkpoint_id())},
                                {"reason", "server restart"}});
    }
  }
  absl::StatusOr<std::vector<v1::Job>> queued = im.store->JobsInStates({v1::QUEUED});
  if (!queued.ok()) return queued.status();
  for (const v1::Job& job : *queued) im.scheduler->Enqueue(KeyOf(job));
  log.Info("recovery_done", {{"data_dir", options.data_dir},
                             {"requeued", requeued},
                             {"quarantined", quarantined},
                             {"queued", queued->size()},
                             {"orphan_blobs_removed", orphans},
                             {"temp_files_removed", im.blobs->temp_files_removed()}});
  return std::unique_ptr<Backend>(new Backend(std::move(impl)));
}

Backend::~Backend() {
  // As a crash: the trainer stops at its next step and nothing is recorded,
  // so the store still says RUNNING and the next Open requeues the job.
  impl_->scheduler->Stop();
  impl_->scheduler->RequestStopAll(StopReason::kCrash);
  impl_->JoinWorkers();
  impl_->events->Shutdown();
}

const ServerOptions& Backend::options() const { return impl_->options; }

void Backend::StartWorkers() {
  Impl& im = *impl_;
  absl::MutexLock lock(&im.workers_mu);
  // None after Shutdown: a worker then would only leave TakeNext at once,
  // and Shutdown has already joined the ones it knew of.
  if (im.workers_started || im.scheduler->stopped()) return;
  im.workers_started = true;
  for (int i = 0; i < im.options.workers; ++i) {
    im.workers.emplace_back([runner = im.runner.get(), i] { runner->WorkerLoop(i); });
  }
}

bool Backend::shutting_down() const { return impl_->scheduler->closed(); }

void Backend::Shutdown(absl::Duration grace) {
  Impl& im = *impl_;
  im.scheduler->Close();
  im.scheduler->Stop();
  im.scheduler->RequestStopAll(StopReason::kShutdown);
  if (!im.scheduler->AwaitIdle(absl::Now() + grace)) {
    // Out of time: stop without a checkpoint; the job is requeued and
    // resumes from the checkpoint it already has.
    im.scheduler->RequestStopAll(StopReason::kAbandon);
  }
  im.JoinWorkers();
  // The points are lost, the seqs stay gapless; nothing else to do with it.
  im.logger.Problem(LogLevel::kWarn, "store_error", "", "step points not flushed at shutdown",
                    im.events->FlushAll());
}

// ------------------------------------------------- for the streaming RPCs

absl::StatusOr<std::unique_ptr<BlobWriter>> Backend::NewUpload(int64_t max_bytes) {
  return impl_->blobs->NewWriter(max_bytes);
}

absl::StatusOr<int64_t> Backend::CheckpointSize(std::string_view id) {
  absl::StatusOr<v1::CheckpointInfo> info = GetCheckpoint(id);
  if (!info.ok()) return info.status();
  absl::StatusOr<int64_t> size = impl_->blobs->Size(id);
  if (size.ok() && *size != info->size_bytes()) {
    // Truncated or grown on disk: no need to read it to know it is corrupt.
    return absl::DataLossError(absl::StrCat("checkpoint ", std::string(id),
                                            " is corrupt on the server: its file has ", *size,
                                            " bytes, ", info->size_bytes(), " were stored"));
  }
  return size;
}

absl::StatusOr<std::string> Backend::ReadCheckpoint(std::string_view id, int64_t offset,
                                                    int64_t length) {
  return impl_->blobs->ReadRange(id, offset, length);
}

absl::StatusOr<std::unique_ptr<EventSubscription>> Backend::Subscribe(
    std::string_view job_id, int64_t after_seq, std::function<void()> on_ready) {
  return impl_->events->Subscribe(job_id, after_seq, std::move(on_ready));
}

void Backend::ShutdownEvents() { impl_->events->Shutdown(); }

// ------------------------------------------------------------------- info

v1::ServerInfo Backend::GetServerInfo() const {
  const ServerOptions& o = impl_->options;
  v1::ServerInfo info;
  info.set_version(kTrainyardVersion);
  info.set_workers(o.workers);
  info.set_cores(o.cores);
  info.set_default_threads(o.default_threads);
  v1::ServerLimits* limits = info.mutable_limits();
  limits->set_max_message_bytes(o.max_message_bytes);
  limits->set_max_dataset_bytes(o.max_dataset_bytes);
  limits->set_max_params(o.max_params);
  limits->set_max_queued_jobs(o.max_queued_jobs);
  limits->set_max_watchers_per_job(o.max_watchers_per_job);
  limits->set_max_checkpoint_bytes(o.max_checkpoint_bytes);
  limits->set_max_job_memory_bytes(o.max_job_memory);
  limits->set_max_predict_work(o.max_predict_work);
  limits->set_inference_queue(o.inference_queue);
  for (const char* c : {"csv", "idx", "mc_dropout", "resume", "pause", "init_from_checkpoint",
                        "validate_only", "evaluate", "predict", "checkpoint_retention",
                        "delete_job", "delete_checkpoint"}) {
    info.add_capabilities(c);
  }
  info.set_heartbeat_interval_seconds(o.heartbeat_seconds);
  info.set_scalar_type(sizeof(Scalar) == 4 ? "float32" : "float64");
  return info;
}

}  // namespace trainyard::server
