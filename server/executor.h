// A small fixed thread pool for the work a gRPC reaction must not do itself
// (parsing an upload, loading a dataset for SubmitJob, running a model for
// Predict, SQLite calls that may wait behind an fsync). Reactions Submit a
// task and return; the task Finish()es the reactor. Training never runs here:
// jobs run on the Backend's worker pool.
//
// Thread-safe. Shutdown() runs every task already queued, then joins.
#ifndef TRAINYARD_SERVER_EXECUTOR_H_
#define TRAINYARD_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace trainyard::server {

class Executor {
 public:
  // Starts `threads` (>= 1) threads.
  explicit Executor(int threads);
  ~Executor();  // Shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. False after Shutdown began: the task is dropped, and the
  // caller must finish its RPC itself (UNAVAILABLE).
  bool Submit(std::function<void()> task);

  // Refuses new tasks, runs the queued ones, joins the threads. Idempotent.
  // Must not be called from an executor thread.
  void Shutdown();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // joined once, by Shutdown
  absl::Mutex join_mu_;               // serialises concurrent Shutdown calls
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_EXECUTOR_H_
