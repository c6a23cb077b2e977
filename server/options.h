// Every server setting, with its default, in one struct. main.cc fills it
// from flags; tests fill it directly. Validate() is called once at start-up.
#ifndef TRAINYARD_SERVER_OPTIONS_H_
#define TRAINYARD_SERVER_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/env.h"
#include "server/logger.h"

namespace trainyard::server {

struct ServerOptions {
  // host:port to listen on. Loopback only by default; Docker passes 0.0.0.0.
  std::string listen = "127.0.0.1:50051";
  // Holds trainyard.db (SQLite) and blobs/ (datasets, checkpoints).
  std::string data_dir = "./trainyard-data";
  // Jobs that run at once. 0: max(1, cores / default_threads), so the
  // machine is not oversubscribed.
  int workers = 0;
  // Thread budget of a job that asks for 0 threads.
  int default_threads = 1;
  // Cores the server may use; 0: what the machine allows this process (the
  // smallest of the CPUs, the affinity mask and a container's cgroup CPU
  // quota rounded up; server/cpu_limits.h).
  int cores = 0;

  // When non-empty, every RPC but grpc.health.v1 needs
  // "authorization: Bearer <token>" with the file's (trimmed) content.
  std::string auth_token_file;
  // PEM files. cert+key turn on TLS; client_ca also requires client
  // certificates signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  int64_t max_message_bytes = 64ll << 20;      // any gRPC message, bytes
  int64_t max_dataset_bytes = 2ll << 30;       // one dataset upload, bytes
  int64_t max_checkpoint_bytes = 1ll << 30;    // one checkpoint upload, bytes
  int64_t max_params = 100'000'000;            // trainable scalars per model
  int max_queued_jobs = 1000;                  // jobs in QUEUED at once
  int max_watchers_per_job = 64;               // concurrent WatchJob streams per job
  double heartbeat_seconds = 5;                // WatchJob heartbeat when idle
  double shutdown_grace_seconds = 30;          // SIGTERM: time for checkpoints

  // SQLite synchronous=FULL (survives power loss). Tests turn it off for speed.
  bool durable_sync = true;

  // The file system the metadata store and the blob store write through
  // (core/env.h); not a flag. Must outlive the server. Tests pass a FaultEnv
  // (tests/testing/fault_env.h) to fill the disk or crash mid-write.
  Env* env = Env::Default();
  // ---- Inference isolation and memory budget (issue 9, classes 6 and 13).
  // Predict and Evaluate run on their own executor, so that they never delay
  // the control RPCs. 0: max(1, cores / 2) threads.
  int inference_threads = 0;
  // Predict/Evaluate calls that may wait for an inference thread; one more
  // is refused with RESOURCE_EXHAUSTED naming --inference-queue.
  int inference_queue = 16;
  // Most rows x max(1, mc_samples) per Predict (the forward passes it costs,
  // in rows); more: RESOURCE_EXHAUSTED naming --max-predict-work.
  int64_t max_predict_work = 10'000'000;
  // Most bytes one job's training step, or one inference chunk, may need
  // (core/memory_estimate.h); more: RESOURCE_EXHAUSTED at submit.
  // 0: half of the machine's memory (MemTotal, or the cgroup's memory.max
  // when smaller), at least 256 MiB.
  int64_t max_job_memory = 0;
  // ---- Operator logs (server/logger.h; the events in docs/architecture.md).
  std::string log_format = "text";  // "text" (one human line) or "json" (one object per line)
  std::string log_level = "info";   // "debug", "info", "warn" or "error"
  // A unary call (or an upload after its last message) that takes longer is
  // logged as rpc_slow at warn; 0 turns that off.
  int64_t slow_call_ms = 1000;
  // Where log lines go; not a flag. Null: stderr. Tests capture lines here.
  // Must outlive the server.
  LogSink* log_sink = nullptr;
  // Monotonic time for call durations, log rate limits and checkpoint
  // timings; not a flag. Tests pass a fake one. Must outlive the server.
  const Clock* clock = Clock::Steady();

  // Seams for tests; empty in production.
  struct TestHooks {
    // Runs on an inference thread before each Predict/Evaluate (a test blocks
    // it on a latch to saturate the inference executor).
    std::function<void()> before_inference;
    // Runs on the training thread after each training step of a job (a test
    // throws std::bad_alloc from it).
    std::function<void(const std::string& job_id, int64_t step)> after_training_step;
  };
  TestHooks test_hooks;

  // Fills the 0 defaults (cores, workers) and checks ranges; INVALID_ARGUMENT
  // naming the flag (e.g. "--workers must be >= 0").
  absl::Status Finalize();

  // The logger these options ask for (log_format, log_level, log_sink);
  // text/info for values Finalize would refuse.
  Logger MakeLogger() const;
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_OPTIONS_H_
