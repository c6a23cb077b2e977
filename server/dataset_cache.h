// Datasets in memory, held once: every job and evaluation using a dataset
// shares the same parsed object, freed when the last user lets go — except
// the most recently used few, kept warm (SubmitJob validates against the
// data and the job starts moments later; re-parsing Fashion-MNIST in between
// cost seconds before the first metric).
//
// Locking: mu_ guards the two tables only; blob reads and parsing happen
// outside it, so a big dataset never stalls other lookups. Thread-safe.
#ifndef TRAINYARD_SERVER_DATASET_CACHE_H_
#define TRAINYARD_SERVER_DATASET_CACHE_H_

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/dataset.h"
#include "server/blob_store.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// Parses a dataset row's uploaded bytes with the core loaders.
// INVALID_ARGUMENT naming the field, line and column.
absl::StatusOr<std::shared_ptr<const Dataset>> ParseDataset(const v1::Dataset& row,
                                                            std::string_view bytes);

class DatasetCache {
 public:
  // Datasets kept in memory with no user.
  static constexpr size_t kRecentDatasets = 2;

  // `blobs` must outlive the cache.
  explicit DatasetCache(BlobStore* blobs) : blobs_(blobs) {}
  DatasetCache(const DatasetCache&) = delete;
  DatasetCache& operator=(const DatasetCache&) = delete;

  // The dataset of `row` in memory, parsed from its blob if no one holds it.
  // Two racing loads both parse, and the second keeps the first one's copy.
  absl::StatusOr<std::shared_ptr<const Dataset>> Load(const v1::Dataset& row);

  // Drops `id` (the dataset was deleted).
  void Forget(std::string_view id);

 private:
  void TouchRecent(const std::string& id, std::shared_ptr<const Dataset> data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  BlobStore* const blobs_;
  absl::Mutex mu_;
  std::map<std::string, std::weak_ptr<const Dataset>, std::less<>> live_ ABSL_GUARDED_BY(mu_);
  // Most recent first, at most kRecentDatasets.
  std::deque<std::pair<std::string, std::shared_ptr<const Dataset>>> recent_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_DATASET_CACHE_H_
