// Backend's private state, shared by its implementation files (backend.cc,
// dataset_ops.cc, job_submit.cc, job_control.cc, job_runner.cc,
// inference.cc). Not for use outside server/backend*.
//
// Locking: `mu` guards the queue, the running-job table and every
// read-modify-write of a job row, so a state change, its store update and its
// StateChange event happen atomically with respect to each other. It is only
// ever held for store calls, never across training. The dataset cache and the
// predictor cache have their own mutexes; none is taken while holding another
// except mu -> (store, event log) internals.
#ifndef TRAINYARD_SERVER_BACKEND_INTERNAL_H_
#define TRAINYARD_SERVER_BACKEND_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/trainer.h"
#include "server/backend.h"
#include "server/blob_store.h"
#include "server/event_log.h"
#include "server/metadata_store.h"
#include "server/options.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Queue order: priority descending, then creation time, then id (ties are
// practically impossible but the order must be total).
struct QueueKey {
  int priority = 0;
  int64_t create_nanos = 0;
  std::string id;
  bool operator<(const QueueKey& o) const {
    if (priority != o.priority) return priority > o.priority;
    return std::tie(create_nanos, id) < std::tie(o.create_nanos, o.id);
  }
};

// A job on a worker. The flags say why the trainer was asked to stop, so the
// worker knows which state to record; they are set under Impl::mu.
struct RunningJob {
  StopToken token;
  bool user_cancel = false;  // CancelJob: -> CANCELLED
  bool user_pause = false;   // PauseJob: PAUSE checkpoint, -> PAUSED
  bool shutdown = false;     // Shutdown: SHUTDOWN checkpoint, -> QUEUED
  bool abandon = false;      // grace expired: no checkpoint, -> QUEUED
  bool crash = false;        // destructor: no checkpoint, no state change
};

// One cached Predictor; Predictor is not thread-safe, so each use locks `mu`.
struct PredictorEntry {
  absl::Mutex mu;
  std::unique_ptr<Predictor> predictor ABSL_GUARDED_BY(mu);
  v1::LossKind loss_kind = v1::LOSS_UNSPECIFIED;  // immutable after creation
};

struct Backend::Impl {
  ServerOptions options;
  std::unique_ptr<MetadataStore> store;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<EventLog> events;

  mutable absl::Mutex mu;
  std::set<QueueKey> queue ABSL_GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<RunningJob>> running ABSL_GUARDED_BY(mu);
  bool workers_started ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;       // workers exit when set
  bool shutting_down ABSL_GUARDED_BY(mu) = false;  // submissions refused
  std::vector<std::thread> workers;  // started and joined by the owner only

  // Datasets in memory, held once: every job and evaluation using a dataset
  // shares the same object; it is freed when the last user lets go.
  absl::Mutex cache_mu;
  std::map<std::string, std::weak_ptr<const Dataset>> dataset_cache ABSL_GUARDED_BY(cache_mu);
  // The most recently used datasets stay in memory even with no job on them
  // (most recent first, at most kRecentDatasets): SubmitJob validates against
  // the data and the job starts moments later, and re-parsing Fashion-MNIST
  // in between cost seconds before the first metric.
  static constexpr size_t kRecentDatasets = 2;
  std::deque<std::pair<std::string, std::shared_ptr<const Dataset>>> recent_datasets
      ABSL_GUARDED_BY(cache_mu);
  void TouchRecent(const std::string& id, std::shared_ptr<const Dataset> data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu);
  // Serialises dataset row insert/delete with blob removal, so a blob is
  // never removed while a new row starts to reference it.
  absl::Mutex dataset_mu;

  absl::Mutex predictor_mu;
  // Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<PredictorEntry>>> predictors
      ABSL_GUARDED_BY(predictor_mu);

  // ------------------------------------------------------------- helpers
  // The dataset `id` in memory, loaded from its blob if no one holds it.
  absl::StatusOr<std::shared_ptr<const Dataset>> LoadDataset(const v1::Dataset& row);
  absl::StatusOr<v1::Checkpoint> LoadCheckpoint(std::string_view id, std::string_view field);

  // Job read-modify-write under mu: `mutate` edits the job; if it returns
  // an error nothing is written. When the state changes, a StateChange event
  // (with `reason`, and the job's error when FAILED) is appended.
  absl::StatusOr<v1::Job> UpdateJobLocked(
      std::string_view id, const std::function<absl::Status(v1::Job&)>& mutate,
      std::string_view reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::StatusOr<v1::Job> UpdateJob(std::string_view id,
                                    const std::function<absl::Status(v1::Job&)>& mutate,
                                    std::string_view reason) ABSL_LOCKS_EXCLUDED(mu);
  // Fills queue_position and last_event_seq.
  void Decorate(v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Enqueue(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Dequeue(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Workers (job_runner.cc).
  class Observer;
  void WorkerLoop();
  void RunJob(const std::string& job_id, const std::shared_ptr<RunningJob>& rj);
  // Encodes, stores and records a checkpoint of `job_id`; updates the job's
  // latest_checkpoint_id and logs CheckpointSaved.
  absl::StatusOr<v1::CheckpointInfo> SaveCheckpoint(const std::string& job_id,
                                                    v1::Checkpoint checkpoint,
                                                    v1::CheckpointReason reason);

  // Inference (inference.cc).
  absl::StatusOr<std::shared_ptr<PredictorEntry>> GetPredictor(std::string_view checkpoint_id);
};

// Proto <-> absl::Time helpers.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts);
int64_t TimestampNanos(const google::protobuf::Timestamp& ts);
// A CheckpointInfo's model facts from a decoded checkpoint.
int NumOutputs(const v1::ModelSpec& spec);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_BACKEND_INTERNAL_H_
