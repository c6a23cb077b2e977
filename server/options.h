// Every server setting, with its default, in one struct. main.cc fills it
// from flags; tests fill it directly. Validate() is called once at start-up.
#ifndef TRAINYARD_SERVER_OPTIONS_H_
#define TRAINYARD_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/env.h"

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

  // Fills the 0 defaults (cores, workers) and checks ranges; INVALID_ARGUMENT
  // naming the flag (e.g. "--workers must be >= 0").
  absl::Status Finalize();
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_OPTIONS_H_
