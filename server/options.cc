#include "server/options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/cpu_limits.h"
#include "server/memory_budget.h"

namespace trainyard::server {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", what));
}

}  // namespace

absl::Status ServerOptions::Finalize() {
  if (listen.empty()) return Bad("listen", "must not be empty");
  if (data_dir.empty()) return Bad("data-dir", "must not be empty");
  if (cores < 0) return Bad("cores", absl::StrCat("must be >= 0, got ", cores));
  if (cores == 0) cores = UsableCores();
  if (default_threads < 1 || default_threads > cores) {
    return Bad("default-threads", absl::StrCat("must be in [1, ", cores, "] (--cores), got ",
                                               default_threads));
  }
  if (workers < 0) return Bad("workers", absl::StrCat("must be >= 0, got ", workers));
  // Enough workers that every core is busy when each job uses the default
  // budget, and no more, so jobs do not fight over cores.
  if (workers == 0) workers = std::max(1, cores / default_threads);
  if (workers > 1024) return Bad("workers", absl::StrCat("must be <= 1024, got ", workers));
  if (max_message_bytes < 1024) {
    return Bad("max-message-bytes", absl::StrCat("must be >= 1024, got ", max_message_bytes));
  }
  if (max_message_bytes > (int64_t{2} << 30) - 1) {
    return Bad("max-message-bytes", "must be < 2 GiB (gRPC's limit)");
  }
  if (max_dataset_bytes <= 0) return Bad("max-dataset-bytes", "must be > 0");
  if (max_checkpoint_bytes <= 0) return Bad("max-checkpoint-bytes", "must be > 0");
  if (max_params <= 0) return Bad("max-params", "must be > 0");
  if (max_queued_jobs <= 0) return Bad("max-queued-jobs", "must be > 0");
  if (max_watchers_per_job <= 0) return Bad("max-watchers-per-job", "must be > 0");
  if (!(heartbeat_seconds > 0)) return Bad("heartbeat-seconds", "must be > 0");
  if (!(shutdown_grace_seconds >= 0)) return Bad("shutdown-grace-seconds", "must be >= 0");
  // ---- Inference isolation and memory budget.
  if (inference_threads < 0) {
    return Bad("inference-threads", absl::StrCat("must be >= 0, got ", inference_threads));
  }
  if (inference_threads == 0) inference_threads = std::max(1, cores / 2);
  if (inference_queue < 0) {
    return Bad("inference-queue", absl::StrCat("must be >= 0, got ", inference_queue));
  }
  if (max_predict_work <= 0) return Bad("max-predict-work", "must be > 0");
  if (max_job_memory < 0) {
    return Bad("max-job-memory", absl::StrCat("must be >= 0, got ", max_job_memory));
  }
  if (max_job_memory == 0) max_job_memory = DefaultJobMemoryBudget();
  // ---- Operator logs.
  if (absl::StatusOr<LogFormat> f = ParseLogFormat(log_format); !f.ok()) {
    return Bad("log-format", f.status().message());
  }
  if (absl::StatusOr<LogLevel> l = ParseLogLevel(log_level); !l.ok()) {
    return Bad("log-level", l.status().message());
  }
  if (slow_call_ms < 0) {
    return Bad("slow-call-ms", absl::StrCat("must be >= 0 (0: off), got ", slow_call_ms));
  }
  return absl::OkStatus();
}

Logger ServerOptions::MakeLogger() const {
  return Logger(ParseLogFormat(log_format).value_or(LogFormat::kText),
                ParseLogLevel(log_level).value_or(LogLevel::kInfo), log_sink);
}

}  // namespace trainyard::server
