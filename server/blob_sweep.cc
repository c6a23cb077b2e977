#include "server/blob_sweep.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/sha256.h"

namespace trainyard::server {
namespace {

// A shard directory: two lower-case hex digits.
bool IsShardName(const std::string& name) {
  if (name.size() != 2) return false;
  for (char c : name) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> SweepOrphanBlobs(Env* env, const std::string& blob_root,
                                          MetadataStore* store, const Logger* logger) {
  auto problem = [logger](std::string_view what, const absl::Status& s) {
    logger->Problem(LogLevel::kWarn, "blob_sweep_error", "", what, s);
  };
  std::vector<std::string> removed;
  absl::StatusOr<std::vector<std::string>> shards = env->ListDir(blob_root);
  if (!shards.ok()) {
    problem("blob sweep skipped", shards.status());
    return removed;
  }
  for (const std::string& shard : *shards) {
    // Only the BlobStore's shards: tmp/ is swept by BlobStore::Open, and
    // anything else is not ours to delete.
    if (!IsShardName(shard)) continue;
    const std::string dir = absl::StrCat(blob_root, "/", shard);
    absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
    if (!names.ok()) {
      problem(absl::StrCat("blob sweep skipped ", dir), names.status());
      continue;
    }
    bool changed = false;
    for (const std::string& name : *names) {
      if (IsSha256Hex(name) && name.compare(0, 2, shard) == 0) {
        absl::StatusOr<bool> referenced = store->IsBlobReferenced(name);
        if (!referenced.ok()) {
          // Unknown is not orphaned: keep it; the next start asks again.
          problem(absl::StrCat("blob sweep kept ", name), referenced.status());
          continue;
        }
        if (*referenced) continue;
      }
      const std::string path = absl::StrCat(dir, "/", name);
      if (absl::Status s = env->RemoveFile(path); !s.ok()) {
        problem(absl::StrCat("could not remove orphan blob ", path), s);
        continue;
      }
      changed = true;
      removed.push_back(path);
      logger->Info("orphan_blob_removed",
                   {{"path", path}, {"why", "no dataset or checkpoint row"}});
    }
    if (changed) {
      // Not durable is harmless: a file that comes back is swept again.
      problem(absl::StrCat("blob sweep: sync of ", dir), env->SyncDir(dir));
    }
  }
  return removed;
}

}  // namespace trainyard::server
