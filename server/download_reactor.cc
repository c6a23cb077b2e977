// DownloadCheckpoint: the file from `offset` in chunks of up to 1 MiB, each
// carrying its offset, the total size and the file's sha256, with one write in
// flight. File reads run on the Executor; the reactor's reactions only start
// the next read or write.
//
// What is served is verified: every byte from 0 is hashed before it is sent
// (for a resumed download the prefix before `offset` is read and hashed
// first), and the chunk that completes the file is sent only if the hash is
// the checkpoint's id. Otherwise the stream ends DATA_LOSS and the client
// never receives a last chunk (docs/decisions.md, "Verifying what is served").
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/sha256.h"
#include "server/blob_store.h"
#include "server/reactors.h"
#include "server/status_util.h"

namespace trainyard::server {
namespace {

constexpr int64_t kChunkBytes = 1 << 20;
// Room for the other fields and framing when a small max message size forces
// smaller chunks.
constexpr int64_t kEnvelopeBytes = 1024;

class DownloadReactor : public grpc::ServerWriteReactor<v1::DownloadCheckpointResponse> {
 public:
  DownloadReactor(const ServiceDeps& deps, v1::DownloadCheckpointRequest request)
      : deps_(deps), request_(std::move(request)) {
    chunk_bytes_ = std::max<int64_t>(
        1, std::min<int64_t>(kChunkBytes,
                             deps_.backend->options().max_message_bytes - kEnvelopeBytes));
    if (!deps_.executor->Submit([this] { Start(); })) End(ShuttingDownError());
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("download cancelled"));
      return;
    }
    if (next_offset_ >= total_size_) {
      End(absl::OkStatus());
      return;
    }
    if (!deps_.executor->Submit([this] { ReadAndWrite(); })) End(ShuttingDownError());
  }

  void OnDone() override { delete this; }

 private:
  void Start() {
    const std::string& id = request_.checkpoint_id();
    if (!IsSha256Hex(id)) {
      End(absl::InvalidArgumentError("checkpoint_id must be 64 lower-case hex characters"));
      return;
    }
    if (request_.offset() < 0) {
      End(absl::InvalidArgumentError("offset must be >= 0"));
      return;
    }
    absl::StatusOr<int64_t> size = deps_.backend->CheckpointSize(id);
    if (!size.ok()) {
      End(size.status());
      return;
    }
    total_size_ = *size;
    if (request_.offset() > total_size_) {
      End(absl::OutOfRangeError(absl::StrCat("offset ", request_.offset(),
                                              " is beyond the checkpoint's size of ",
                                              total_size_, " bytes")));
      return;
    }
    next_offset_ = request_.offset();
    HashPrefix();
  }

  // Runs on the executor: hashes one chunk of [0, offset) per task, so a
  // resume near the end of a big file does not hold an executor thread for
  // the whole prefix, then starts sending.
  void HashPrefix() {
    if (hashed_ >= next_offset_) {
      ReadAndWrite();
      return;
    }
    absl::StatusOr<std::string> data = deps_.backend->ReadCheckpoint(
        request_.checkpoint_id(), hashed_, std::min(chunk_bytes_, next_offset_ - hashed_));
    if (!data.ok()) {
      End(data.status());
      return;
    }
    if (data->empty()) {  // the file shrank under us
      End(absl::DataLossError(absl::StrCat("checkpoint ", request_.checkpoint_id(),
                                           " is corrupt on the server: it ends after ",
                                           hashed_, " of its ", total_size_, " bytes")));
      return;
    }
    hash_.Update(*data);
    hashed_ += static_cast<int64_t>(data->size());
    if (!deps_.executor->Submit([this] { HashPrefix(); })) End(ShuttingDownError());
  }

  // Runs on the executor while no write is in flight. REQUIRES: hashed_ ==
  // next_offset_.
  void ReadAndWrite() {
    absl::StatusOr<std::string> data = deps_.backend->ReadCheckpoint(
        request_.checkpoint_id(), next_offset_,
        std::min(chunk_bytes_, total_size_ - next_offset_));
    if (!data.ok()) {
      End(data.status());
      return;
    }
    hash_.Update(*data);
    hashed_ += static_cast<int64_t>(data->size());
    next_offset_ += static_cast<int64_t>(data->size());
    if (next_offset_ >= total_size_ || data->empty()) {
      // The chunk that ends the stream: sent only if the whole file, as read,
      // is what its id says. (An empty chunk here is offset == size, or a
      // file that shrank, which the digest then catches.)
      absl::Status verified =
          CheckBlobDigest(request_.checkpoint_id(), hash_.FinishHex(), hashed_);
      if (!verified.ok()) {
        End(absl::DataLossError(absl::StrCat("checkpoint ", request_.checkpoint_id(),
                                             " is corrupt on the server: ",
                                             verified.message())));
        return;
      }
      next_offset_ = total_size_;
    }
    response_.Clear();
    response_.set_offset(next_offset_ - static_cast<int64_t>(data->size()));
    response_.set_total_size(total_size_);
    response_.set_sha256(request_.checkpoint_id());
    *response_.mutable_data() = *std::move(data);
    StartWrite(&response_);
  }

  void End(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

  const ServiceDeps deps_;
  const v1::DownloadCheckpointRequest request_;
  int64_t chunk_bytes_ = kChunkBytes;
  int64_t total_size_ = 0;
  int64_t next_offset_ = 0;
  // sha256 of the file's bytes [0, hashed_); only the task that holds the
  // reactor (one executor task or write at a time) touches them.
  Sha256Hasher hash_;
  int64_t hashed_ = 0;
  v1::DownloadCheckpointResponse response_;
};

}  // namespace

grpc::ServerWriteReactor<v1::DownloadCheckpointResponse>* NewDownloadCheckpointReactor(
    const ServiceDeps& deps, const v1::DownloadCheckpointRequest& request) {
  return new DownloadReactor(deps, request);
}

}  // namespace trainyard::server
