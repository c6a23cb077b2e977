// The retention decision (TrainingConfig.retention): given a job's
// checkpoints, which may go. Pure, so the policy is tested without a store;
// the save path (server/checkpoint_recorder.cc) applies it, and the store
// keeps any candidate that another job names (MetadataStore::Commit,
// StoreWrite::prune_checkpoints), checked inside the same transaction.
#ifndef TRAINYARD_SERVER_CHECKPOINT_RETENTION_H_
#define TRAINYARD_SERVER_CHECKPOINT_RETENTION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// The ids among `checkpoints` (one job's, in any order, the new one
// included) that `policy` does not keep. Kept: the newest `keep_last` by
// step (then created_at), the best `keep_best` by `policy.metric` (ties:
// the newer; checkpoints without the metric never count as best), every
// FINAL checkpoint, and `latest_id` (what the job resumes from). An unset
// policy (keep_last and keep_best 0) keeps everything. The result is in the
// order of `checkpoints`.
std::vector<std::string> CheckpointsToPrune(const v1::CheckpointRetention& policy,
                                            absl::Span<const v1::CheckpointInfo> checkpoints,
                                            std::string_view latest_id);

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_CHECKPOINT_RETENTION_H_
