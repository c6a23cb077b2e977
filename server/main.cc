// trainyard-server: flags (see /docs and notes/interfaces.md) -> ServerOptions
// -> Server. SIGTERM/SIGINT are taken by sigwait on the main thread (blocked
// in every thread before any starts), so no work happens in a signal handler;
// a second signal during the graceful stop exits at once with status 1.
// Everything it says goes through the operator log (server/logger.h), in
// --log-format, so a json log is json from the first line to the last.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "core/version.h"
#include "server/logger.h"
#include "server/options.h"
#include "server/server.h"

int main(int argc, char** argv) {
  trainyard::server::ServerOptions options;
  CLI::App app{"trainyard training server (gRPC)"};
  app.set_version_flag("--version",
                       std::string("trainyard-server ") + trainyard::kTrainyardVersion);
  app.add_option("--listen", options.listen, "host:port to listen on")->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "directory for the database and blobs")
      ->capture_default_str();
  app.add_option("--workers", options.workers,
                 "jobs running at once (0: max(1, cores / default threads))")
      ->capture_default_str();
  app.add_option("--default-threads", options.default_threads,
                 "thread budget of a job that asks for 0")
      ->capture_default_str();
  app.add_option("--cores", options.cores,
                 "cores the server plans for (0: the CPUs this process may use: "
                 "affinity mask and container CPU quota included)")
      ->capture_default_str();
  app.add_option("--auth-token-file", options.auth_token_file,
                 "require 'authorization: Bearer <token>' with this file's token");
  app.add_option("--tls-cert", options.tls_cert_file, "PEM server certificate (enables TLS)");
  app.add_option("--tls-key", options.tls_key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options.tls_client_ca_file,
                 "PEM CA; clients must present a certificate signed by it");
  app.add_option("--max-message-bytes", options.max_message_bytes, "largest gRPC message")
      ->capture_default_str();
  app.add_option("--max-dataset-bytes", options.max_dataset_bytes, "largest dataset upload")
      ->capture_default_str();
  app.add_option("--max-checkpoint-bytes", options.max_checkpoint_bytes,
                 "largest checkpoint upload")
      ->capture_default_str();
  app.add_option("--max-params", options.max_params, "most trainable parameters per model")
      ->capture_default_str();
  app.add_option("--max-queued-jobs", options.max_queued_jobs, "most jobs waiting at once")
      ->capture_default_str();
  app.add_option("--max-watchers-per-job", options.max_watchers_per_job,
                 "most concurrent WatchJob streams per job")
      ->capture_default_str();
  app.add_option("--heartbeat-seconds", options.heartbeat_seconds,
                 "WatchJob heartbeat interval when idle")
      ->capture_default_str();
  app.add_option("--shutdown-grace-seconds", options.shutdown_grace_seconds,
                 "time running jobs get to checkpoint on SIGTERM")
      ->capture_default_str();
  // ---- Inference isolation and memory budget.
  app.add_option("--inference-threads", options.inference_threads,
                 "threads for Predict/Evaluate (0: max(1, cores / 2))")
      ->capture_default_str();
  app.add_option("--inference-queue", options.inference_queue,
                 "Predict/Evaluate calls that may wait for an inference thread")
      ->capture_default_str();
  app.add_option("--max-predict-work", options.max_predict_work,
                 "most rows x max(1, mc_samples) per Predict")
      ->capture_default_str();
  app.add_option("--max-job-memory", options.max_job_memory,
                 "most bytes a training step or inference chunk may need "
                 "(0: half the machine's or cgroup's memory)")
      ->capture_default_str();
  // ---- Operator logs.
  app.add_option("--log-format", options.log_format, "log lines as text or json")
      ->capture_default_str();
  app.add_option("--log-level", options.log_level, "least level logged: debug|info|warn|error")
      ->capture_default_str();
  app.add_option("--slow-call-ms", options.slow_call_ms,
                 "log unary calls (and uploads after their last message) slower than this "
                 "(0: off)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Text at info for values Server::Create refuses (and then reports).
  const trainyard::server::Logger log = options.MakeLogger();

  // Blocked before any thread exists, so every thread inherits the mask and
  // only sigwait below ever sees these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = trainyard::server::Server::Create(options);
  if (!server.ok()) {
    const absl::Status& s = server.status();
    log.Error("server_start_failed",
              {{"code", absl::StatusCodeToString(s.code())}, {"error", s.message()}});
    return 2;
  }
  // Server::Create logged server_start and server_listening.

  int sig = 0;
  sigwait(&signals, &sig);
  log.Info("signal_received", {{"signal", sig},
                               {"name", sigabbrev_np(sig) != nullptr ? sigabbrev_np(sig) : "?"},
                               {"grace_seconds", options.shutdown_grace_seconds}});
  // A second signal means "now": exit without waiting for checkpoints.
  std::thread([signals, log] {
    int again = 0;
    sigwait(&signals, &again);
    log.Warn("shutdown_forced", {{"signal", again}, {"why", "second signal; exiting now"}});
    _exit(1);
  }).detach();
  (*server)->Shutdown();
  server->reset();
  log.Info("server_stopped");
  return 0;
}
