// Datasets in memory, held once: every job and evaluation using a dataset
// shares the same parsed object, freed when the last user lets go — except
// the most recently used few, kept warm (SubmitJob validates against the
// data and the job starts moments later; re-parsing Fashion-MNIST in between
// cost seconds before the first metric).
//
// Every parse reads its blob verified (BlobStore::ReadVerified): bytes that no
// longer hash to the row's sha256 are DATA_LOSS naming the dataset, never
// parsed. Parses of new uploads (Parse) draw their memory from a ParseBudget.
//
// Locking: mu_ guards the two tables only; blob reads and parsing happen
// outside it, so a big dataset never stalls other lookups. Thread-safe.
#ifndef TRAINYARD_SERVER_DATASET_CACHE_H_
#define TRAINYARD_SERVER_DATASET_CACHE_H_

#include <cstddef>
#include <cstdint>
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
// INVALID_ARGUMENT naming the field, line and column; RESOURCE_EXHAUSTED for
// a gzip part past limits.max_decompressed_bytes or a refused reservation.
absl::StatusOr<std::shared_ptr<const Dataset>> ParseDataset(const v1::Dataset& row,
                                                            std::string_view bytes,
                                                            const DataLimits& limits = {});

// Bytes of memory that the parses of uploads in flight may hold together
// (the blob's bytes, decompression buffers, the matrices). A parse that would
// pass it is refused with RESOURCE_EXHAUSTED (retry-able) rather than made to
// wait: parses run on the service's executor, and a waiting parse would hold
// one of its threads. A parse alone may pass the budget (bounded then by the
// dataset limits), so the largest allowed dataset can always be uploaded.
// Thread-safe.
class ParseBudget {
 public:
  explicit ParseBudget(int64_t total_bytes) : total_(total_bytes) {}
  ParseBudget(const ParseBudget&) = delete;
  ParseBudget& operator=(const ParseBudget&) = delete;

  // One parse's share; released when destroyed. Not thread-safe itself.
  class Reservation {
   public:
    explicit Reservation(ParseBudget* budget) : budget_(budget) {}
    ~Reservation() { budget_->Release(held_); }
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;

    // Takes `bytes` more. RESOURCE_EXHAUSTED naming the budget when other
    // parses hold too much of it.
    absl::Status Grow(int64_t bytes);
    int64_t held() const { return held_; }

   private:
    ParseBudget* const budget_;
    int64_t held_ = 0;
  };

  int64_t total() const { return total_; }
  int64_t in_use() const;
  int64_t peak() const;  // largest in_use() so far

 private:
  absl::Status Take(int64_t bytes, int64_t held);
  void Release(int64_t bytes);

  const int64_t total_;
  mutable absl::Mutex mu_;
  int64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_ ABSL_GUARDED_BY(mu_) = 0;
};

class DatasetCache {
 public:
  // Datasets kept in memory with no user.
  static constexpr size_t kRecentDatasets = 2;
  // The parse budget, in units of max_dataset_bytes: one dataset at its
  // limit needs its bytes plus matrices of up to about twice that (a CSV of
  // one-digit values).
  static constexpr int64_t kParseBudgetDatasets = 3;

  // `blobs` must outlive the cache. `max_dataset_bytes` (ServerOptions) also
  // bounds what a gzip part may decompress to, and sets the parse budget.
  DatasetCache(BlobStore* blobs, int64_t max_dataset_bytes);
  DatasetCache(const DatasetCache&) = delete;
  DatasetCache& operator=(const DatasetCache&) = delete;

  // Parses the blob of a new upload's `row` (not cached: the row has no id
  // yet), within the parse budget. DATA_LOSS if the blob does not hash to
  // row.sha256(); the loaders' errors otherwise.
  absl::StatusOr<std::shared_ptr<const Dataset>> Parse(const v1::Dataset& row);

  // The dataset of `row` in memory, parsed from its blob if no one holds it.
  // Two racing loads both parse, and the second keeps the first one's copy.
  // DATA_LOSS naming the dataset if its blob no longer hashes to its sha256.
  absl::StatusOr<std::shared_ptr<const Dataset>> Load(const v1::Dataset& row);

  // Drops `id` (the dataset was deleted).
  void Forget(std::string_view id);

  const ParseBudget& parse_budget() const { return budget_; }

 private:
  // Reads row's blob verified and parses it; charges `reservation` if given.
  absl::StatusOr<std::shared_ptr<const Dataset>> ReadAndParse(
      const v1::Dataset& row, ParseBudget::Reservation* reservation);
  void TouchRecent(const std::string& id, std::shared_ptr<const Dataset> data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  BlobStore* const blobs_;
  const int64_t max_dataset_bytes_;
  ParseBudget budget_;
  absl::Mutex mu_;
  std::map<std::string, std::weak_ptr<const Dataset>, std::less<>> live_ ABSL_GUARDED_BY(mu_);
  // Most recent first, at most kRecentDatasets.
  std::deque<std::pair<std::string, std::shared_ptr<const Dataset>>> recent_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_DATASET_CACHE_H_
