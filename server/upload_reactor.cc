// UploadDataset and UploadCheckpoint: header, chunks, trailer. Chunks stream
// into a BlobWriter (hashing as they come, enforcing the size limit), so an
// upload is never held in memory. The commit (fsync) and the parse or
// checkpoint validation run on the Executor; the reactor only appends chunks
// between reads.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/blob_store.h"
#include "server/reactors.h"
#include "server/status_util.h"

namespace trainyard::server {

absl::Status ShuttingDownError() { return absl::UnavailableError("server is shutting down"); }

namespace {

absl::Status InvalidArgument(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// One reactor for both uploads; `Request` is UploadDatasetRequest or
// UploadCheckpointRequest (same oneof shape), `Response` what Finalize makes
// of the committed blob.
template <typename Request, typename Response>
class UploadReactor : public grpc::ServerReadReactor<Request> {
 public:
  // Turns the committed blob into the response (on the executor).
  using Finalize = std::function<absl::StatusOr<Response>(
      const Request& header, const std::string& sha256, int64_t size)>;

  UploadReactor(const ServiceDeps& deps, Response* response, int64_t max_bytes,
                std::string limit_name, Finalize finalize)
      : deps_(deps),
        response_(response),
        max_bytes_(max_bytes),
        limit_name_(std::move(limit_name)),
        finalize_(std::move(finalize)) {
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or vanished) before the trailer.
      Fail(InvalidArgument(writer_ == nullptr
                               ? "first message must be a header"
                               : "upload ended without a trailer (trailer.sha256)"));
      return;
    }
    switch (request_.part_case()) {
      case Request::kHeader:
        OnHeader();
        return;
      case Request::kChunk:
        OnChunk();
        return;
      case Request::kTrailer:
        OnTrailer();
        return;
      default:
        Fail(InvalidArgument("message has no header, chunk or trailer"));
        return;
    }
  }

  void OnDone() override { delete this; }  // ~BlobWriter drops an uncommitted temp file

 private:
  void OnHeader() {
    if (writer_ != nullptr) {
      Fail(InvalidArgument("header sent twice; only the first message is a header"));
      return;
    }
    if (deps_.draining->load()) {
      Fail(ShuttingDownError());
      return;
    }
    const int64_t total = request_.header().total_size_bytes();
    if (total < 0) {
      Fail(InvalidArgument("header.total_size_bytes must be >= 0"));
      return;
    }
    if (max_bytes_ > 0 && total > max_bytes_) {
      Fail(absl::ResourceExhaustedError(absl::StrCat("header.total_size_bytes ", total,
                                                     " exceeds ", limit_name_, " (", max_bytes_,
                                                     " bytes)")));
      return;
    }
    auto writer = deps_.backend->NewUpload(max_bytes_);
    if (!writer.ok()) {
      Fail(writer.status());
      return;
    }
    writer_ = *std::move(writer);
    header_ = std::move(request_);
    this->StartRead(&request_);
  }

  void OnChunk() {
    if (writer_ == nullptr) {
      Fail(InvalidArgument("first message must be a header"));
      return;
    }
    // The writer enforces the limit; only that error is reworded to name the
    // server option. Any other (a full disk, an I/O error) reaches the client
    // as what it is.
    if (absl::Status s = writer_->Append(request_.chunk()); !s.ok()) {
      if (IsSizeLimitError(s)) {
        s = absl::ResourceExhaustedError(absl::StrCat("upload is larger than ", limit_name_,
                                                      " (", max_bytes_, " bytes)"));
      }
      Fail(s);
      return;
    }
    this->StartRead(&request_);
  }

  void OnTrailer() {
    if (writer_ == nullptr) {
      Fail(InvalidArgument("first message must be a header"));
      return;
    }
    std::string expected = request_.trailer().sha256();
    if (!IsSha256Hex(expected)) {
      Fail(InvalidArgument("trailer.sha256 must be 64 lower-case hex characters"));
      return;
    }
    const int64_t total = header_.header().total_size_bytes();
    if (total > 0 && total != writer_->size()) {
      Fail(InvalidArgument(absl::StrCat("header.total_size_bytes is ", total, " but ",
                                        writer_->size(), " bytes were uploaded")));
      return;
    }
    // No read is outstanding from here on, so the task owns the reactor's
    // state until it calls Finish.
    bool queued = deps_.executor->Submit([this, expected = std::move(expected)] {
      const int64_t size = writer_->size();
      absl::StatusOr<std::string> sha = writer_->Commit(expected);
      if (!sha.ok()) {
        if (sha.status().code() == absl::StatusCode::kInvalidArgument) {
          Fail(InvalidArgument(absl::StrCat(
              "trailer.sha256 ", expected, " does not match the uploaded bytes")));
        } else {
          Fail(sha.status());
        }
        return;
      }
      absl::StatusOr<Response> result = finalize_(header_, *sha, size);
      if (!result.ok()) {
        Fail(result.status());
        return;
      }
      *response_ = *std::move(result);
      this->Finish(ToGrpcStatus(absl::OkStatus()));
    });
    if (!queued) Fail(ShuttingDownError());
  }

  void Fail(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }

  const ServiceDeps deps_;
  Response* const response_;
  const int64_t max_bytes_;
  const std::string limit_name_;
  const Finalize finalize_;
  Request request_;
  Request header_;
  std::unique_ptr<BlobWriter> writer_;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadDatasetRequest>* NewUploadDatasetReactor(
    const ServiceDeps& deps, v1::Dataset* response) {
  Backend* backend = deps.backend;
  return new UploadReactor<v1::UploadDatasetRequest, v1::Dataset>(
      deps, response, backend->options().max_dataset_bytes, "max_dataset_bytes",
      [backend](const v1::UploadDatasetRequest& header, const std::string& sha256,
                int64_t size) { return backend->CreateDataset(header.header(), sha256, size); });
}

grpc::ServerReadReactor<v1::UploadCheckpointRequest>* NewUploadCheckpointReactor(
    const ServiceDeps& deps, v1::CheckpointInfo* response) {
  Backend* backend = deps.backend;
  return new UploadReactor<v1::UploadCheckpointRequest, v1::CheckpointInfo>(
      deps, response, backend->options().max_checkpoint_bytes, "max_checkpoint_bytes",
      [backend](const v1::UploadCheckpointRequest&, const std::string& sha256, int64_t) {
        return backend->ImportCheckpoint(sha256);
      });
}

}  // namespace trainyard::server
