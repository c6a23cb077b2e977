#include "server/dataset_cache.h"

#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"

namespace trainyard::server {

absl::StatusOr<std::shared_ptr<const Dataset>> ParseDataset(const v1::Dataset& row,
                                                            std::string_view bytes,
                                                            const DataLimits& limits) {
  if (row.format() == v1::CSV) return LoadCsv(bytes, row.csv_options(), limits);
  const int64_t images = row.idx_parts().images_size_bytes();
  const int64_t labels = row.idx_parts().labels_size_bytes();
  if (images <= 0 || labels <= 0 || images + labels != static_cast<int64_t>(bytes.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.idx_parts sizes (", images, " + ", labels,
        ") must add up to the bytes uploaded (", bytes.size(), ")"));
  }
  return LoadIdx(bytes.substr(0, images), bytes.substr(images), row.idx_preprocessing(),
                 limits);
}

// ------------------------------------------------------------ ParseBudget

absl::Status ParseBudget::Reservation::Grow(int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  if (absl::Status s = budget_->Take(bytes, held_); !s.ok()) return s;
  held_ += bytes;
  return absl::OkStatus();
}

absl::Status ParseBudget::Take(int64_t bytes, int64_t held) {
  absl::MutexLock lock(&mu_);
  // in_use_ == held: no other parse holds anything, and a lone parse may pass
  // the budget (see the class comment).
  if (in_use_ != held && in_use_ + bytes > total_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is parsing other uploads (", in_use_ - held, " of its ", total_,
        "-byte parse budget, ", DatasetCache::kParseBudgetDatasets,
        " x max_dataset_bytes, in use) and this one needs ", bytes,
        " bytes more; retry when they finish"));
  }
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return absl::OkStatus();
}

void ParseBudget::Release(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  in_use_ -= bytes;
}

int64_t ParseBudget::in_use() const {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

int64_t ParseBudget::peak() const {
  absl::MutexLock lock(&mu_);
  return peak_;
}

// ----------------------------------------------------------- DatasetCache

namespace {

int64_t BudgetFor(int64_t max_dataset_bytes) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t n = DatasetCache::kParseBudgetDatasets;
  return max_dataset_bytes > kMax / n ? kMax : max_dataset_bytes * n;
}

}  // namespace

DatasetCache::DatasetCache(BlobStore* blobs, int64_t max_dataset_bytes)
    : blobs_(blobs),
      max_dataset_bytes_(max_dataset_bytes),
      budget_(BudgetFor(max_dataset_bytes)) {}

absl::StatusOr<std::shared_ptr<const Dataset>> DatasetCache::ReadAndParse(
    const v1::Dataset& row, ParseBudget::Reservation* reservation) {
  if (reservation != nullptr) {
    // The blob's bytes, held for the whole parse.
    if (absl::Status s = reservation->Grow(row.size_bytes()); !s.ok()) return s;
  }
  absl::StatusOr<std::string> bytes = blobs_->ReadVerified(row.sha256());
  if (!bytes.ok()) {
    if (absl::IsDataLoss(bytes.status())) {
      return absl::DataLossError(absl::StrCat("dataset ", row.id().empty() ? "upload" : row.id(),
                                              " (\"", row.name(), "\"): ",
                                              bytes.status().message()));
    }
    return bytes.status();
  }
  DataLimits limits;
  // A gzip part may not decompress to more than a whole upload may hold.
  limits.max_decompressed_bytes = max_dataset_bytes_;
  limits.decompressed_limit_name = "max_dataset_bytes";
  if (reservation != nullptr) {
    limits.reserve_memory = [reservation](int64_t n) { return reservation->Grow(n); };
  }
  return ParseDataset(row, *bytes, limits);
}

absl::StatusOr<std::shared_ptr<const Dataset>> DatasetCache::Parse(const v1::Dataset& row) {
  ParseBudget::Reservation reservation(&budget_);
  return ReadAndParse(row, &reservation);
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
  // Not charged to the parse budget: this dataset was accepted before, and
  // loads for jobs are bounded by the number of workers.
  absl::StatusOr<std::shared_ptr<const Dataset>> data = ReadAndParse(row, nullptr);
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
