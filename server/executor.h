// A small fixed thread pool for the work a gRPC reaction must not do itself
// (parsing an upload, loading a dataset for SubmitJob, running a model for
// Predict, SQLite calls that may wait behind an fsync). Reactions Submit a
// task and return; the task Finish()es the reactor. Training never runs here:
// jobs run on the Backend's worker pool.
//
// The server has two: the control executor (every unary RPC but inference,
// and the streaming RPCs' steps) and the inference executor (Predict,
// Evaluate), whose queue is bounded so that heavy calls are refused rather
// than piling up, and can never delay a GetJob or CancelJob.
//
// Thread-safe. Shutdown() runs every task already queued, then joins.
#ifndef TRAINYARD_SERVER_EXECUTOR_H_
#define TRAINYARD_SERVER_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace trainyard::server {

class Executor {
 public:
  static constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

  // Starts `threads` (>= 1) threads. At most `max_queued` tasks wait for a
  // thread (tasks running do not count); `limit_name` names that limit in
  // TrySubmit's refusal (e.g. "--inference-queue").
  explicit Executor(int threads, size_t max_queued = kUnbounded,
                    std::string limit_name = "");
  ~Executor();  // Shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. False after Shutdown began or when the queue is full: the
  // task is dropped, and the caller must finish its RPC itself.
  bool Submit(std::function<void()> task);

  // As Submit, saying why not: UNAVAILABLE after Shutdown began,
  // RESOURCE_EXHAUSTED naming the limit when max_queued tasks already wait.
  absl::Status TrySubmit(std::function<void()> task);

  // Tasks waiting for a thread now (for tests and the benchmark).
  size_t queued();

  // Refuses new tasks, runs the queued ones, joins the threads. Idempotent.
  // Must not be called from an executor thread.
  void Shutdown();

 private:
  void Loop();

  const size_t max_queued_;
  const std::string limit_name_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // joined once, by Shutdown
  absl::Mutex join_mu_;               // serialises concurrent Shutdown calls
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_EXECUTOR_H_
