// Backend: deleting checkpoints and jobs. Both follow issue 9's rules: the
// rows go in one store transaction (so the API never shows half a delete),
// and a blob file is removed only after that commit, once no row names its
// bytes, under blob_removal_mu (CheckpointRecorder::RemoveUnreferencedBlobs;
// server/backend_internal.h says why). A crash between
// the commit and the unlink leaves a file without a row, which the
// start-up sweep (server/blob_sweep.h) removes; never a row without its file.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"

namespace trainyard::server {

absl::Status Backend::DeleteCheckpoint(std::string_view id) {
  Impl& im = *impl_;
  if (!IsSha256Hex(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint_id \"", std::string(id.substr(0, 80)),
        "\" is not a checkpoint id (64 lower-case hex characters)"));
  }
  absl::StatusOr<v1::CheckpointInfo> info = im.store->GetCheckpoint(id);
  if (!info.ok()) return info.status();
  {
    // The owning job's lock, so that its row (whose latest pointer the store
    // may move) is not being rewritten meanwhile. Released before the files
    // go: blob_removal_mu comes before a record lock in the lock order.
    std::optional<JobRecords::Lock> held;
    if (!info->job_id().empty()) held.emplace(im.records->LockJob(info->job_id()));
    if (absl::Status s = im.store->DeleteCheckpoint(id); !s.ok()) return s;
  }
  im.predictors->Forget(id);
  const std::string sha(id);
  const int removed =
      im.checkpoints->RemoveUnreferencedBlobs(absl::MakeConstSpan(&sha, 1), info->job_id());
  im.logger.Info("checkpoint_deleted",
                 {{"checkpoint", id}, {"job", info->job_id()}, {"files_removed", removed}});
  return absl::OkStatus();
}

absl::StatusOr<v1::DeleteJobResponse> Backend::DeleteJob(std::string_view id) {
  Impl& im = *impl_;
  if (!IsJobId(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job_id \"", std::string(id.substr(0, 64)), "\" is not a job id (job-...)"));
  }
  std::vector<std::string> deleted;
  {
    // Terminal jobs are not in the scheduler and nothing writes their rows;
    // the lock only orders this after a write still finishing.
    JobRecords::Lock held = im.records->LockJob(id);
    absl::StatusOr<std::vector<std::string>> gone = im.store->DeleteJob(id);
    if (!gone.ok()) return gone.status();
    deleted = *std::move(gone);
  }
  im.events->Drop(id);
  for (const std::string& c : deleted) im.predictors->Forget(c);
  const int removed = im.checkpoints->RemoveUnreferencedBlobs(deleted, id);
  im.logger.Info("job_deleted",
                 {{"job", id}, {"checkpoints", deleted.size()}, {"files_removed", removed}});
  v1::DeleteJobResponse response;
  for (std::string& c : deleted) response.add_deleted_checkpoint_ids(std::move(c));
  return response;
}

}  // namespace trainyard::server
