// Built Predictors for the checkpoints most recently used by Predict and
// Evaluate (a small LRU); each holds one model's weights.
//
// Locking: mu_ guards the LRU list only; building a predictor (reading and
// decoding the checkpoint) happens outside it. A Predictor is not
// thread-safe, so each use locks its entry's own mutex. Thread-safe.
#ifndef TRAINYARD_SERVER_PREDICTOR_CACHE_H_
#define TRAINYARD_SERVER_PREDICTOR_CACHE_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/evaluate.h"
#include "trainyard/v1/service.pb.h"

namespace trainyard::server {

// One cached Predictor; lock `mu` for each use.
struct PredictorEntry {
  absl::Mutex mu;
  // Null once an allocation failed inside it (see Backend::Predict): the
  // entry was evicted and callers still holding it get UNAVAILABLE.
  std::unique_ptr<Predictor> predictor ABSL_GUARDED_BY(mu);
  v1::LossKind loss_kind = v1::LOSS_UNSPECIFIED;  // immutable after creation
  v1::ModelSpec model;  // immutable after creation: for memory estimates
};

class PredictorCache {
 public:
  static constexpr size_t kCapacity = 4;
  // Reads and decodes a checkpoint by id (errors name the request field).
  using Loader = std::function<absl::StatusOr<v1::Checkpoint>(std::string_view id)>;

  PredictorCache(Loader load, int threads) : load_(std::move(load)), threads_(threads) {}
  PredictorCache(const PredictorCache&) = delete;
  PredictorCache& operator=(const PredictorCache&) = delete;

  // The predictor for `checkpoint_id`, built if not cached. Two racing
  // builds of one checkpoint are harmless.
  absl::StatusOr<std::shared_ptr<PredictorEntry>> Get(std::string_view checkpoint_id);

  // Drops `entry` if it is still cached under `checkpoint_id` (the next Get
  // builds a fresh predictor).
  void Evict(std::string_view checkpoint_id, const PredictorEntry* entry);
  // Drops whatever is cached under `checkpoint_id` (it was deleted: the next
  // Get goes to the loader, which says NOT_FOUND).
  void Forget(std::string_view checkpoint_id);

 private:
  const Loader load_;
  const int threads_;
  absl::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<PredictorEntry>>> entries_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trainyard::server

#endif  // TRAINYARD_SERVER_PREDICTOR_CACHE_H_
