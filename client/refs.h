// Turning what a user types for a job or a checkpoint into an id: a full id
// (used as is, no RPC), an unambiguous id prefix ("job-3fa", "9c2e41"), a
// job name (the newest job with it), or for checkpoints "JOB:latest" /
// "JOB:best" with JOB any of the job forms. Pure functions over injected
// look-ups, so they are tested without a server (tests/client_refs_test.cc).
#ifndef TRAINYARD_CLIENT_REFS_H_
#define TRAINYARD_CLIENT_REFS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

// What resolution may ask the server.
struct RefLookups {
  // Every job, newest first (all pages).
  std::function<absl::StatusOr<std::vector<v1::Job>>()> list_jobs;
  std::function<absl::StatusOr<v1::Job>(const std::string& id)> get_job;
  // A job's checkpoints ("" : the uploaded ones).
  std::function<absl::StatusOr<std::vector<v1::CheckpointInfo>>(const std::string& job_id)>
      list_checkpoints;
};

// Shortest checkpoint id prefix accepted (shorter ones match too much to be
// meant).
inline constexpr int kMinCheckpointPrefix = 4;

struct Resolved {
  std::string id;
  // Set when a name matched several jobs and the newest was taken: a
  // one-line note for stderr.
  std::string note;
};

// `arg` as a job: "job-" + 16 hex is returned as is; otherwise a prefix of
// exactly one job's id ("job-3fa"), else the newest job named `arg`.
// Several ids with the prefix: a usage error listing them. None: NOT_FOUND.
// `what` names the argument in messages ("JOB", "--init-from").
absl::StatusOr<Resolved> ResolveJobRef(const std::string& arg, const std::string& what,
                                       const RefLookups& lookups);

// `arg` as a checkpoint: 64 hex as is; "JOB:latest" (the job's newest
// checkpoint, Job.latest_checkpoint_id) or "JOB:best" (the best of its
// checkpoints by core's BestMetric: the retention metric when set, else
// val_loss with validation data, else train_loss; ties: the newer);
// otherwise a hex prefix (>= kMinCheckpointPrefix characters) of exactly one
// checkpoint's id, looked up over every job's and the uploaded checkpoints.
absl::StatusOr<Resolved> ResolveCheckpointRef(const std::string& arg, const std::string& what,
                                              const RefLookups& lookups);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_REFS_H_
