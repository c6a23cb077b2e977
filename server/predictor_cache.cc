#include "server/predictor_cache.h"

namespace trainyard::server {

absl::StatusOr<std::shared_ptr<PredictorEntry>> PredictorCache::Get(
    std::string_view checkpoint_id) {
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == checkpoint_id) {
        entries_.splice(entries_.begin(), entries_, it);
        return entries_.front().second;
      }
    }
  }
  absl::StatusOr<v1::Checkpoint> ckpt = load_(checkpoint_id);
  if (!ckpt.ok()) return ckpt.status();
  absl::StatusOr<std::unique_ptr<Predictor>> predictor = Predictor::Create(*ckpt, threads_);
  if (!predictor.ok()) return predictor.status();
  auto entry = std::make_shared<PredictorEntry>();
  entry->loss_kind = ckpt->training().loss().kind();
  entry->model = ckpt->model();
  {
    absl::MutexLock entry_lock(&entry->mu);
    entry->predictor = std::move(*predictor);
  }
  absl::MutexLock lock(&mu_);
  entries_.emplace_front(std::string(checkpoint_id), entry);
  while (entries_.size() > kCapacity) entries_.pop_back();
  return entry;
}

void PredictorCache::Evict(std::string_view checkpoint_id, const PredictorEntry* entry) {
  absl::MutexLock lock(&mu_);
  entries_.remove_if([&](const auto& e) { return e.first == checkpoint_id && e.second.get() == entry; });
}

void PredictorCache::Forget(std::string_view checkpoint_id) {
  absl::MutexLock lock(&mu_);
  entries_.remove_if([&](const auto& e) { return e.first == checkpoint_id; });
}

}  // namespace trainyard::server
