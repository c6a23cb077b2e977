#include "server/dataset_cache.h"

#include <iterator>

#include "absl/strings/str_cat.h"

namespace trainyard::server {

absl::StatusOr<std::shared_ptr<const Dataset>> ParseDataset(const v1::Dataset& row,
                                                            std::string_view bytes) {
  if (row.format() == v1::CSV) return LoadCsv(bytes, row.csv_options());
  const int64_t images = row.idx_parts().images_size_bytes();
  const int64_t labels = row.idx_parts().labels_size_bytes();
  if (images <= 0 || labels <= 0 || images + labels != static_cast<int64_t>(bytes.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.idx_parts sizes (", images, " + ", labels,
        ") must add up to the bytes uploaded (", bytes.size(), ")"));
  }
  return LoadIdx(bytes.substr(0, images), bytes.substr(images), row.idx_preprocessing());
}

absl::StatusOr<std::shared_ptr<const Dataset>> DatasetCache::Load(const v1::Dataset& row) {
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(row.id());
    if (it != live_.end()) {
      if (std::shared_ptr<const Dataset> live = it->second.lock()) {
        TouchRecent(row.id(), live);
        return live;
      }
    }
  }
  absl::StatusOr<std::string> bytes = blobs_->ReadAll(row.sha256());
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::shared_ptr<const Dataset>> data = ParseDataset(row, *bytes);
  if (!data.ok()) return data.status();
  absl::MutexLock lock(&mu_);
  std::weak_ptr<const Dataset>& slot = live_[row.id()];
  if (std::shared_ptr<const Dataset> live = slot.lock()) {
    TouchRecent(row.id(), live);
    return live;
  }
  slot = *data;
  // Drop expired entries now and then so the map does not grow forever.
  for (auto it = live_.begin(); it != live_.end();) {
    it = it->second.expired() ? live_.erase(it) : std::next(it);
  }
  live_[row.id()] = *data;
  TouchRecent(row.id(), *data);
  return *data;
}

void DatasetCache::Forget(std::string_view id) {
  absl::MutexLock lock(&mu_);
  if (auto it = live_.find(id); it != live_.end()) live_.erase(it);
  std::erase_if(recent_, [&](const auto& entry) { return entry.first == id; });
}

void DatasetCache::TouchRecent(const std::string& id, std::shared_ptr<const Dataset> data) {
  std::erase_if(recent_, [&](const auto& entry) { return entry.first == id; });
  recent_.emplace_front(id, std::move(data));
  if (recent_.size() > kRecentDatasets) recent_.pop_back();
}

}  // namespace trainyard::server
