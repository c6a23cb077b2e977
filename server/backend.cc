// Backend: opening and recovery, the worker pool's lifetime, shutdown, and
// the job read-modify-write helpers the other backend files share.
#include "server/backend.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "core/validate.h"
#include "server/backend_internal.h"
#include "server/status_util.h"

namespace trainyard::server {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

int64_t TimestampNanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

int NumOutputs(const v1::ModelSpec& spec) {
  absl::StatusOr<int> out = ValidateModelSpec(spec);
  return out.ok() ? *out : 0;
}

// ------------------------------------------------------------ job helpers

void Backend::Impl::Enqueue(const v1::Job& job) {
  queue.insert(QueueKey{job.priority(), TimestampNanos(job.create_time()), job.id()});
}

void Backend::Impl::Dequeue(const v1::Job& job) {
  queue.erase(QueueKey{job.priority(), TimestampNanos(job.create_time()), job.id()});
}

void Backend::Impl::Decorate(v1::Job& job) {
  job.set_queue_position(-1);
  if (job.state() == v1::QUEUED) {
    const QueueKey key{job.priority(), TimestampNanos(job.create_time()), job.id()};
    auto it = queue.find(key);
    if (it != queue.end()) {
      job.set_queue_position(static_cast<int32_t>(std::distance(queue.begin(), it)));
    }
  }
  if (!job.id().empty()) {
    absl::StatusOr<int64_t> seq = events->LastSeq(job.id());
    if (seq.ok()) job.set_last_event_seq(*seq);
  }
}

absl::StatusOr<v1::Job> Backend::Impl::UpdateJobLocked(
    std::string_view id, const std::function<absl::Status(v1::Job&)>& mutate,
    std::string_view reason) {
  absl::StatusOr<v1::Job> job = store->GetJob(id);
  if (!job.ok()) return job.status();
  const v1::JobState from = job->state();
  if (absl::Status s = mutate(*job); !s.ok()) return s;
  if (absl::Status s = store->UpdateJob(*job); !s.ok()) return s;
  if (job->state() != from) {
    v1::JobEvent event;
    v1::StateChange* change = event.mutable_state_change();
    change->set_from(from);
    change->set_to(job->state());
    change->set_reason(std::string(reason));
    if (job->state() == v1::FAILED) *change->mutable_error() = job->error();
    if (absl::StatusOr<int64_t> seq = events->Append(job->id(), std::move(event)); !seq.ok()) {
      return seq.status();
    }
  }
  Decorate(*job);
  return job;
}

absl::StatusOr<v1::Job> Backend::Impl::UpdateJob(
    std::string_view id, const std::function<absl::Status(v1::Job&)>& mutate,
    std::string_view reason) {
  absl::MutexLock lock(&mu);
  return UpdateJobLocked(id, mutate, reason);
}

// ------------------------------------------------------------------- life

Backend::Backend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Backend>> Backend::Open(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (absl::Status s = impl->options.Finalize(); !s.ok()) return s;
  MetadataStoreOptions store_options;
  store_options.synchronous_full = options.durable_sync;
  absl::StatusOr<std::unique_ptr<MetadataStore>> store =
      MetadataStore::Open(options.data_dir + "/trainyard.db", store_options);
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  absl::StatusOr<std::unique_ptr<BlobStore>> blobs = BlobStore::Open(options.data_dir + "/blobs");
  if (!blobs.ok()) return blobs.status();
  impl->blobs = std::move(*blobs);
  impl->events = std::make_unique<EventLog>(impl->store.get());

  // Recovery: a job found RUNNING was interrupted; it goes back to the queue
  // and resumes from its newest checkpoint when a worker takes it.
  absl::StatusOr<std::vector<v1::Job>> running = impl->store->JobsInStates({v1::RUNNING});
  if (!running.ok()) return running.status();
  {
    absl::MutexLock lock(&impl->mu);
    for (const v1::Job& job : *running) {
      absl::StatusOr<v1::Job> updated = impl->UpdateJobLocked(
          job.id(),
          [](v1::Job& j) {
            j.set_state(v1::QUEUED);
            return absl::OkStatus();
          },
          "server restart");
      if (!updated.ok()) return updated.status();
    }
    absl::StatusOr<std::vector<v1::Job>> queued = impl->store->JobsInStates({v1::QUEUED});
    if (!queued.ok()) return queued.status();
    for (const v1::Job& job : *queued) impl->Enqueue(job);
  }
  return std::unique_ptr<Backend>(new Backend(std::move(impl)));
}

Backend::~Backend() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    // As a crash: the trainer stops at its next step and nothing is recorded,
    // so the store still says RUNNING and the next Open requeues the job.
    for (auto& [id, rj] : impl_->running) {
      rj->crash = true;
      rj->token.RequestCancel();
    }
  }
  for (std::thread& t : impl_->workers) t.join();
  impl_->workers.clear();
  impl_->events->Shutdown();
}

const ServerOptions& Backend::options() const { return impl_->options; }
MetadataStore& Backend::store() { return *impl_->store; }
BlobStore& Backend::blobs() { return *impl_->blobs; }
EventLog& Backend::events() { return *impl_->events; }

void Backend::StartWorkers() {
  absl::MutexLock lock(&impl_->mu);
  if (impl_->workers_started || impl_->stopping) return;
  impl_->workers_started = true;
  for (int i = 0; i < impl_->options.workers; ++i) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->WorkerLoop(); });
  }
}

bool Backend::shutting_down() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->shutting_down;
}

void Backend::Shutdown(absl::Duration grace) {
  Impl& im = *impl_;
  {
    absl::MutexLock lock(&im.mu);
    im.shutting_down = true;
    im.stopping = true;
    for (auto& [id, rj] : im.running) {
      rj->shutdown = true;
      rj->token.RequestPause();
    }
    const absl::Time deadline = absl::Now() + grace;
    auto idle = [&im]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(im.mu) { return im.running.empty(); };
    if (!im.mu.AwaitWithDeadline(absl::Condition(&idle), deadline)) {
      // Out of time: stop without a checkpoint; the job is requeued and
      // resumes from the checkpoint it already has.
      for (auto& [id, rj] : im.running) {
        rj->abandon = true;
        rj->token.RequestCancel();
      }
    }
  }
  for (std::thread& t : im.workers) t.join();
  im.workers.clear();
  if (absl::Status s = im.events->FlushAll(); !s.ok()) {
    // Nothing else to do with it: the points are lost, the seqs stay gapless.
  }
}

v1::ServerInfo Backend::GetServerInfo() const {
  const ServerOptions& o = impl_->options;
  v1::ServerInfo info;
  info.set_version("0.1.0");
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
  for (const char* c : {"csv", "idx", "mc_dropout", "resume", "pause", "init_from_checkpoint",
                        "validate_only", "evaluate", "predict"}) {
    info.add_capabilities(c);
  }
  info.set_heartbeat_interval_seconds(o.heartbeat_seconds);
  info.set_scalar_type(sizeof(Scalar) == 4 ? "float32" : "float64");
  return info;
}

}  // namespace trainyard::server
