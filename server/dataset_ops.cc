// Backend: datasets (create from an uploaded blob, get, list, delete). The
// parsed data in memory is server/dataset_cache.h's.
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/dataset.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/backend.h"
#include "server/backend_internal.h"
#include "server/ids.h"
#include "server/time_util.h"

namespace trainyard::server {
namespace {

absl::Status CheckHeader(const v1::DatasetHeader& header) {
  if (header.name().empty() || header.name().size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.name must be 1..128 characters, got ", header.name().size()));
  }
  if (header.format() != v1::CSV && header.format() != v1::IDX) {
    return absl::InvalidArgumentError("header.format must be CSV or IDX");
  }
  if (header.format() == v1::IDX) {
    const v1::IdxParts& parts = header.idx_parts();
    if (parts.images_size_bytes() <= 0 || parts.labels_size_bytes() <= 0) {
      return absl::InvalidArgumentError(
          "header.idx_parts.images_size_bytes and labels_size_bytes must be > 0");
    }
  }
  return absl::OkStatus();
}

// The parse-relevant part of a dataset row: rows with equal keys and equal
// bytes parse to the same data.
bool SameParse(const v1::Dataset& a, const v1::Dataset& b) {
  using google::protobuf::util::MessageDifferencer;
  return a.format() == b.format() &&
         MessageDifferencer::Equals(a.csv_options(), b.csv_options()) &&
         MessageDifferencer::Equals(a.idx_parts(), b.idx_parts()) &&
         a.idx_preprocessing() == b.idx_preprocessing();
}

absl::Status CheckDatasetId(std::string_view id) {
  if (IsDatasetId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "dataset_id \"", std::string(id.substr(0, 64)), "\" is not a dataset id (ds-...)"));
}

}  // namespace

absl::StatusOr<v1::Dataset> Backend::CreateDataset(const v1::DatasetHeader& header,
                                                   const std::string& sha256,
                                                   int64_t size_bytes) {
  Impl& im = *impl_;
  // Held from the start, so that the clean-up below cannot remove a blob
  // that another upload of the same bytes is about to record.
  absl::MutexLock lock(&im.dataset_mu);
  bool recorded = false;
  // The upload's bytes were committed as a blob before they could be parsed
  // (server/upload_reactor.cc): a refused upload must not leave them behind,
  // or a client could fill the disk one refused upload at a time. A crash
  // before this runs leaves an orphan that the start-up sweep removes
  // (server/blob_sweep.h).
  absl::Cleanup remove_refused = [&] {
    if (recorded || !IsSha256Hex(sha256)) return;
    absl::MutexLock removal(&im.blob_removal_mu);
    absl::StatusOr<bool> referenced = im.store->IsBlobReferenced(sha256);
    if (!referenced.ok()) {
      // Kept; the start-up sweep asks again.
      im.logger.Problem(LogLevel::kWarn, "store_error", "",
                        absl::StrCat("refused upload ", sha256, " kept"), referenced.status());
    } else if (!*referenced) {
      absl::Status s = im.blobs->Remove(sha256);
      if (!absl::IsNotFound(s)) {
        im.logger.Problem(LogLevel::kWarn, "store_error", "",
                          absl::StrCat("refused upload ", sha256, " not removed"), s);
      }
    }
  };
  if (absl::Status s = CheckHeader(header); !s.ok()) return s;
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError("sha256 must be 64 lower-case hex characters");
  }
  absl::StatusOr<int64_t> stored = im.blobs->Size(sha256);
  if (!stored.ok()) return stored.status();
  if (*stored != size_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("size_bytes is ", size_bytes,
                                                   " but the stored upload has ", *stored));
  }
  if (size_bytes > im.options.max_dataset_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "dataset has ", size_bytes, " bytes, more than the limit ", im.options.max_dataset_bytes));
  }

  v1::Dataset row;
  row.set_name(header.name());
  row.set_sha256(sha256);
  row.set_format(header.format());
  row.set_size_bytes(size_bytes);
  if (header.format() == v1::CSV) {
    *row.mutable_csv_options() = header.csv_options();
  } else {
    *row.mutable_idx_parts() = header.idx_parts();
    row.set_idx_preprocessing(header.idx_preprocessing());
  }

  absl::StatusOr<std::vector<v1::Dataset>> same_bytes = im.store->FindDatasetsBySha256(sha256);
  if (!same_bytes.ok()) return same_bytes.status();
  const v1::Dataset* parsed_before = nullptr;
  for (const v1::Dataset& other : *same_bytes) {
    if (!SameParse(other, row)) continue;
    if (other.name() == row.name()) return other;  // a repeated upload
    parsed_before = &other;
  }
  if (parsed_before != nullptr) {
    // Same bytes, same options: the counts are known, no need to parse again.
    row.set_num_samples(parsed_before->num_samples());
    row.set_num_features(parsed_before->num_features());
    row.set_target_dim(parsed_before->target_dim());
    row.set_num_classes(parsed_before->num_classes());
  } else {
    // Verified (an older copy of these bytes may have rotted on disk) and
    // within the parse budget and the decompression limit.
    absl::StatusOr<std::shared_ptr<const Dataset>> data = im.datasets->Parse(row);
    if (!data.ok()) return data.status();
    row.set_num_samples((*data)->num_samples());
    row.set_num_features((*data)->num_features());
    row.set_target_dim((*data)->target_dim());
    row.set_num_classes((*data)->num_classes());
  }
  row.set_id(NewDatasetId());
  SetTimestamp(absl::Now(), row.mutable_created_at());
  if (absl::Status s = im.store->InsertDataset(row); !s.ok()) return s;
  recorded = true;
  im.logger.Info("dataset_created", {{"dataset", row.id()},
                                     {"name", row.name()},
                                     {"format", v1::DatasetFormat_Name(row.format())},
                                     {"bytes", row.size_bytes()},
                                     {"rows", row.num_samples()}});
  return row;
}

absl::StatusOr<v1::Dataset> Backend::GetDataset(std::string_view id) {
  if (absl::Status s = CheckDatasetId(id); !s.ok()) return s;
  return impl_->store->GetDataset(id);
}

absl::StatusOr<v1::ListDatasetsResponse> Backend::ListDatasets(
    const v1::ListDatasetsRequest& r) {
  if (r.page_size() < 0) return absl::InvalidArgumentError("page_size must be >= 0");
  absl::StatusOr<DatasetPage> page =
      impl_->store->ListDatasets(r.name(), r.page_size(), r.page_token());
  if (!page.ok()) return page.status();
  v1::ListDatasetsResponse response;
  for (v1::Dataset& d : page->datasets) *response.add_datasets() = std::move(d);
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::Status Backend::DeleteDataset(std::string_view id) {
  Impl& im = *impl_;
  if (absl::Status s = CheckDatasetId(id); !s.ok()) return s;
  absl::MutexLock lock(&im.dataset_mu);
  absl::StatusOr<DeletedDataset> deleted = im.store->DeleteDataset(id);
  if (!deleted.ok()) return deleted.status();
  im.datasets->Forget(id);
  if (!deleted->blob_still_referenced) {
    // Asked again under blob_removal_mu: a checkpoint of the same bytes may
    // have been recorded since the delete's transaction.
    absl::MutexLock removal(&im.blob_removal_mu);
    absl::StatusOr<bool> referenced = im.store->IsBlobReferenced(deleted->sha256);
    if (!referenced.ok()) return referenced.status();
    if (!*referenced) {
      absl::Status s = im.blobs->Remove(deleted->sha256);
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace trainyard::server
