#include "server/checkpoint_recorder.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/validate.h"
#include "server/checkpoint_retention.h"
#include "server/ids.h"
#include "server/time_util.h"

namespace trainyard::server {

v1::CheckpointInfo CheckpointRecorder::MakeInfo(const v1::Checkpoint& checkpoint,
                                                const ModelShape& model,
                                                const std::string& sha256, int64_t size_bytes,
                                                std::string_view job_id,
                                                v1::CheckpointReason reason) const {
  v1::CheckpointInfo info;
  info.set_id(sha256);
  info.set_job_id(std::string(job_id));
  info.set_step(checkpoint.step());
  info.set_epoch(checkpoint.completed_epochs());
  info.set_size_bytes(size_bytes);
  info.set_sha256(sha256);
  SetTimestamp(options_.clock(), info.mutable_created_at());
  if (checkpoint.history_size() > 0) {
    *info.mutable_metrics() = checkpoint.history(checkpoint.history_size() - 1);
  }
  info.set_reason(reason);
  info.set_num_features(model.input.size());
  info.set_num_outputs(model.output_dim());
  return info;
}

absl::StatusOr<v1::CheckpointInfo> CheckpointRecorder::Save(const std::string& job_id,
                                                            v1::Checkpoint checkpoint,
                                                            v1::CheckpointReason reason) {
  const absl::Time start = options_.timer->Now();
  absl::StatusOr<v1::Job> job = records_->Get(job_id);
  if (!job.ok()) return job.status();
  // The trainer's own spec: it analysed when the job was planned.
  absl::StatusOr<ModelShape> model = AnalyzeModel(checkpoint.model());
  if (!model.ok()) return model.status();
  absl::StatusOr<v1::Dataset> data = store_->GetDataset(job->dataset_id());
  if (data.ok()) {
    checkpoint.set_dataset_sha256(data->sha256());
  } else {
    // Saved anyway: the sha only lets a resume check it has the same data.
    options_.logger->Problem(LogLevel::kWarn, "store_error", job_id,
                             "checkpoint saved without dataset_sha256", data.status());
  }
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(checkpoint);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::string> sha = blobs_->Put(*bytes);
  if (!sha.ok()) return sha.status();

  const v1::CheckpointInfo info =
      MakeInfo(checkpoint, *model, *sha, static_cast<int64_t>(bytes->size()), job_id, reason);
  if (options_.after_blob) options_.after_blob(*sha);

  // Blob removals (retention, DeleteCheckpoint, DeleteJob, DeleteDataset,
  // refused uploads) decide "no row names it" and unlink under removal_mu;
  // held from here to the commit, the blob this row names cannot be removed
  // between the check below and the row's commit. Put ran outside it (the
  // slow part); if identical bytes were removed meanwhile, store them again.
  std::vector<std::string> pruned;
  {
    std::optional<absl::MutexLock> removal_lock;
    if (options_.removal_mu != nullptr) removal_lock.emplace(options_.removal_mu);
    if (!blobs_->Exists(*sha)) {
      absl::StatusOr<std::string> again = blobs_->Put(*bytes);
      if (!again.ok()) return again.status();
    }
    // The row (kept if identical bytes were saved before: it stands for
    // both), the job's pointer, the CheckpointSaved event and the
    // retention's pruned rows in one transaction, under the job's lock so
    // that no state change lands in between. A crash before it leaves only
    // the blob, which the start-up sweep removes; a crash after it, before
    // the pruned files are removed below, leaves only those files, which the
    // sweep removes too.
    JobRecords::Lock held = records_->LockJob(job_id);
    absl::StatusOr<v1::Job> current = records_->Get(job_id);
    if (!current.ok()) return current.status();
    StoreWrite write;
    if (current->training().has_retention()) {
      absl::StatusOr<std::vector<v1::CheckpointInfo>> existing = store_->ListCheckpoints(job_id);
      if (!existing.ok()) return existing.status();
      bool listed = false;
      for (const v1::CheckpointInfo& c : *existing) listed = listed || c.id() == info.id();
      if (!listed) existing->push_back(info);
      pruned = CheckpointsToPrune(current->training().retention(), *existing, *sha);
      write.prune_checkpoints = pruned;
    }
    write.checkpoints.push_back(info);
    current->set_latest_checkpoint_id(*sha);
    write.update_jobs.push_back(*std::move(current));
    v1::JobEvent event;
    v1::CheckpointSaved* saved = event.mutable_checkpoint_saved();
    saved->set_checkpoint_id(*sha);
    saved->set_step(info.step());
    saved->set_epoch(info.epoch());
    saved->set_reason(reason);
    absl::StatusOr<int64_t> seq = events_->AppendWith(job_id, std::move(event), std::move(write));
    if (!seq.ok()) return seq.status();
  }  // the record lock, then removal_mu
  // A candidate another job names was kept by the store; only files that no
  // row names any more go.
  int removed = RemoveUnreferencedBlobs(pruned, job_id);
  options_.logger->Info(
      "checkpoint_saved",
      {{"job", job_id},
       {"checkpoint", info.id()},
       {"kind", v1::CheckpointReason_Name(reason)},
       {"epoch", info.epoch()},
       {"step", info.step()},
       {"bytes", info.size_bytes()},
       {"pruned_files", removed},
       {"ms", absl::ToInt64Milliseconds(options_.timer->Now() - start)}});
  return info;
}

int CheckpointRecorder::RemoveUnreferencedBlobs(absl::Span<const std::string> shas,
                                                std::string_view job_id) {
  int removed = 0;
  for (const std::string& sha : shas) {
    std::optional<absl::MutexLock> removal_lock;
    if (options_.removal_mu != nullptr) removal_lock.emplace(options_.removal_mu);
    absl::StatusOr<bool> referenced = store_->IsBlobReferenced(sha);
    if (!referenced.ok()) {
      // Safe: the file stays until the start-up sweep finds it unreferenced.
      options_.logger->Problem(LogLevel::kWarn, "store_error", job_id,
                               absl::StrCat("checkpoint file ", sha, " kept"),
                               referenced.status());
      continue;
    }
    if (*referenced) continue;
    absl::Status s = blobs_->Remove(sha);
    if (s.ok()) {
      ++removed;
    } else if (!absl::IsNotFound(s)) {
      options_.logger->Problem(LogLevel::kWarn, "store_error", job_id,
                               absl::StrCat("checkpoint file ", sha, " not removed"), s);
    }
  }
  return removed;
}

absl::StatusOr<v1::CheckpointInfo> CheckpointRecorder::Import(const std::string& sha256) {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError("sha256 must be 64 lower-case hex characters");
  }
  std::optional<absl::MutexLock> lock;
  if (options_.blob_mu != nullptr) lock.emplace(options_.blob_mu);
  absl::StatusOr<v1::CheckpointInfo> info = ImportLocked(sha256);
  if (info.ok()) {
    options_.logger->Info("checkpoint_imported", {{"checkpoint", info->id()},
                                                  {"epoch", info->epoch()},
                                                  {"step", info->step()},
                                                  {"bytes", info->size_bytes()}});
  } else {
    // The upload's bytes were committed as a blob before they could be
    // validated (server/upload_reactor.cc): a refused one must not stay.
    std::optional<absl::MutexLock> removal_lock;
    if (options_.removal_mu != nullptr) removal_lock.emplace(options_.removal_mu);
    absl::StatusOr<bool> referenced = store_->IsBlobReferenced(sha256);
    if (!referenced.ok()) {
      options_.logger->Problem(LogLevel::kWarn, "store_error", "",
                               absl::StrCat("refused checkpoint upload ", sha256, " kept"),
                               referenced.status());
    } else if (!*referenced) {
      absl::Status s = blobs_->Remove(sha256);
      if (!absl::IsNotFound(s)) {
        options_.logger->Problem(
            LogLevel::kWarn, "store_error", "",
            absl::StrCat("refused checkpoint upload ", sha256, " not removed"), s);
      }
    }
  }
  return info;
}

absl::StatusOr<v1::CheckpointInfo> CheckpointRecorder::ImportLocked(const std::string& sha256) {
  if (absl::StatusOr<v1::CheckpointInfo> known = store_->GetCheckpoint(sha256); known.ok()) {
    return known;  // the same file again
  }
  absl::StatusOr<std::string> bytes = blobs_->ReadAll(sha256);
  if (!bytes.ok()) return bytes.status();
  if (static_cast<int64_t>(bytes->size()) > options_.max_checkpoint_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("checkpoint has ", bytes->size(), " bytes, more than the limit ",
                     options_.max_checkpoint_bytes));
  }
  absl::StatusOr<v1::Checkpoint> ckpt = DecodeCheckpoint(*bytes);
  if (!ckpt.ok()) return ckpt.status();
  ModelLimits limits;
  limits.max_params = options_.max_params;
  absl::StatusOr<ModelShape> model = AnalyzeModel(ckpt->model(), limits);
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint model: ", model.status().message()));
  }
  const v1::CheckpointInfo info =
      MakeInfo(*ckpt, *model, sha256, static_cast<int64_t>(bytes->size()), "", v1::UPLOADED);
  if (absl::Status s = store_->InsertCheckpoint(info); !s.ok()) {
    if (absl::IsAlreadyExists(s)) return store_->GetCheckpoint(sha256);
    return s;
  }
  return info;
}

absl::StatusOr<v1::Checkpoint> CheckpointRecorder::Load(std::string_view id,
                                                        std::string_view field) {
  if (!IsSha256Hex(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(field), " must be a checkpoint id (64 lower-case hex characters)"));
  }
  absl::StatusOr<v1::CheckpointInfo> info = store_->GetCheckpoint(id);
  if (!info.ok()) {
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(
          absl::StrCat(std::string(field), ": checkpoint ", std::string(id), " not found"));
    }
    return info.status();
  }
  absl::StatusOr<std::string> bytes = blobs_->ReadAll(id);
  if (!bytes.ok()) return bytes.status();
  return DecodeCheckpoint(*bytes);
}

}  // namespace trainyard::server
