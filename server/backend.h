// The server's business logic, with no gRPC in it: datasets, jobs on a worker
// pool, checkpoints and inference. The gRPC service (server/service.h) only
// validates transport-level things, converts and delegates here; tests drive
// this class directly or through the service.
//
// Backend itself only owns and wires the components that do the work (who
// owns which state, and the lock order, in server/backend_internal.h).
//
// Errors are absl::Status with the codes the API documents
// (proto/trainyard/v1/service.proto); server/status_util.h maps them.
//
// Thread-safe. Methods never block on training: a running job is only ever
// signalled (StopToken), and waits happen on worker threads.
#ifndef TRAINYARD_SERVER_BACKEND_H_
#define TRAINYARD_SERVER_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/blob_store.h"
#include "server/event_log.h"
#include "server/options.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

class Backend {
 public:
  // Takes the data dir's lock (server/data_dir_lock.h; creating the dir,
  // 0700, if it is missing), opens (or creates) <data_dir>/trainyard.db and
  // <data_dir>/blobs, and recovers: jobs found RUNNING go back to QUEUED
  // (event: state change with reason "server restart") and will resume from
  // their newest checkpoint. Does not start workers. FAILED_PRECONDITION
  // naming the dir and the owner's pid while another Backend, in this or
  // another process, has the dir open; the lock is held until destruction.
  static absl::StatusOr<std::unique_ptr<Backend>> Open(const ServerOptions& options);
  // Stops workers without checkpoints (as a crash would, apart from joining
  // threads); call Shutdown first for a graceful stop.
  ~Backend();

  const ServerOptions& options() const;

  // Starts the worker pool; queued jobs begin. Once only, and never after
  // Shutdown.
  void StartWorkers();

  // Graceful stop: new submissions get UNAVAILABLE; each running job stops at
  // its next step boundary, saves a checkpoint (reason SHUTDOWN) and goes
  // back to QUEUED (reason "server shutdown") so it resumes on the next start;
  // workers are joined. Returns once done or after `grace` (then remaining
  // jobs stop without a checkpoint and are requeued from their last one).
  void Shutdown(absl::Duration grace);
  bool shutting_down() const;

  // ---------------------------------------------------------------- datasets
  // Parses the bytes of an upload already stored as blob `sha256` (the
  // service streams it into the blob store and checks the trailer's hash),
  // validates them with the core loaders and records the dataset. The same
  // bytes and options already stored give the existing dataset again only if
  // the name matches too; otherwise a new dataset row sharing the blob.
  // INVALID_ARGUMENT naming the field, line and column.
  absl::StatusOr<v1::Dataset> CreateDataset(const v1::DatasetHeader& header,
                                            const std::string& sha256,
                                            int64_t size_bytes);
  absl::StatusOr<v1::Dataset> GetDataset(std::string_view id);
  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets(const v1::ListDatasetsRequest& r);
  // FAILED_PRECONDITION while a QUEUED, RUNNING or PAUSED job uses it.
  absl::Status DeleteDataset(std::string_view id);

  // -------------------------------------------------------------------- jobs
  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(std::string_view id);  // with queue_position
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& r);
  absl::StatusOr<v1::Job> CancelJob(std::string_view id);
  absl::StatusOr<v1::Job> PauseJob(std::string_view id);
  absl::StatusOr<v1::Job> ResumeJob(std::string_view id);
  // Terminal jobs only (FAILED_PRECONDITION naming the state): the row, its
  // events and its checkpoints no other job names; their files after the
  // commit. Watchers of it end with NOT_FOUND. NOT_FOUND when absent.
  absl::StatusOr<v1::DeleteJobResponse> DeleteJob(std::string_view id);

  // ------------------------------------------------------------- checkpoints
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(std::string_view job_id);
  absl::StatusOr<v1::CheckpointInfo> GetCheckpoint(std::string_view id);
  // The row, then its file once no row names the bytes. FAILED_PRECONDITION
  // while a QUEUED, RUNNING or PAUSED job names it (latest, init_from,
  // resume_from); NOT_FOUND when absent.
  absl::Status DeleteCheckpoint(std::string_view id);
  // Validates the file stored as blob `sha256` (core/checkpoint.h) and
  // records it with reason UPLOADED. DATA_LOSS / INVALID_ARGUMENT as the
  // checkpoint loader says.
  absl::StatusOr<v1::CheckpointInfo> ImportCheckpoint(const std::string& sha256);

  // --------------------------------------------------------------- inference
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);
  absl::StatusOr<v1::EvaluateResponse> Evaluate(const v1::EvaluateRequest& request);

  v1::ServerInfo GetServerInfo() const;

  // ------------------------------------------------ for the streaming RPCs
  // A writer for an upload of at most `max_bytes` (blob store errors).
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewUpload(int64_t max_bytes);
  // The stored size of checkpoint `id` (NOT_FOUND for an unknown one;
  // DATA_LOSS when the file's size is not the one recorded with it).
  absl::StatusOr<int64_t> CheckpointSize(std::string_view id);
  // Up to `length` bytes of checkpoint `id` from `offset`, as stored (the
  // download reactor hashes what it serves and ends with DATA_LOSS on a
  // mismatch).
  absl::StatusOr<std::string> ReadCheckpoint(std::string_view id, int64_t offset,
                                             int64_t length);
  // A cursor over job_id's events after `after_seq` (server/event_log.h);
  // the caller checked that the job exists.
  absl::StatusOr<std::unique_ptr<EventSubscription>> Subscribe(std::string_view job_id,
                                                               int64_t after_seq,
                                                               std::function<void()> on_ready);
  // Ends every watcher (UNAVAILABLE); appends still work.
  void ShutdownEvents();

 private:
  friend class BackendTestPeer;  // tests/testing/backend_peer.h
  struct Impl;
  explicit Backend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_BACKEND_H_
