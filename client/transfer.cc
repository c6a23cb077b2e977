// Client::UploadDataset, UploadCheckpoint and DownloadCheckpoint: the
// streaming transfers, chunked and verified by sha256.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/errors.h"
#include "core/sha256.h"

namespace trainyard::client {
namespace {

struct InputFile {
  std::string path;
  int64_t size = 0;
};

absl::StatusOr<std::vector<InputFile>> StatFiles(
    const std::vector<std::string>& paths) {
  std::vector<InputFile> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      return LocalInputError(absl::StatusCode::kNotFound,
                             absl::StrCat("'", path, "' is not a readable file"));
    }
    const auto size = std::filesystem::file_size(path, error);
    if (error) {
      return LocalInputError(absl::StatusCode::kNotFound,
                             absl::StrCat("cannot read '", path, "': ", error.message()));
    }
    files.push_back({path, static_cast<int64_t>(size)});
  }
  return files;
}

// Sends every file's bytes as chunks, then the trailer, and finishes the
// call. Request is UploadDatasetRequest or UploadCheckpointRequest (same
// oneof shape); the header was written by the caller.
template <typename Request>
absl::Status StreamChunks(grpc::ClientContext* context,
                          grpc::ClientWriter<Request>* writer,
                          const std::vector<InputFile>& files, int64_t total,
                          const ProgressFn& progress) {
  Sha256Hasher hasher;
  std::string buffer(kChunkBytes, '\0');
  Request request;
  int64_t sent = 0;
  bool server_closed = false;
  for (const InputFile& file : files) {
    std::ifstream in(file.path, std::ios::binary);
    int64_t file_bytes = 0;
    while (in && !server_closed) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const std::streamsize n = in.gcount();
      if (n <= 0) break;
      std::string_view chunk(buffer.data(), static_cast<size_t>(n));
      hasher.Update(chunk);
      request.set_chunk(chunk.data(), chunk.size());
      // Write fails once the server has ended the call (e.g. a limit hit);
      // Finish below then says why.
      if (!writer->Write(request)) server_closed = true;
      file_bytes += n;
      sent += n;
      if (progress) progress(sent, total);
    }
    if (server_closed) break;
    if (in.bad() || file_bytes != file.size) {
      context->TryCancel();
      writer->Finish();
      return LocalInputError(
          absl::StatusCode::kAborted,
          absl::StrCat("'", file.path, "' changed or could not be read while uploading"));
    }
  }
  if (!server_closed) {
    request.mutable_trailer()->set_sha256(hasher.FinishHex());
    if (writer->Write(request)) writer->WritesDone();
  }
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (status.ok() && server_closed) {
    return absl::InternalError("the server ended the upload before all data was sent");
  }
  return status;
}

}  // namespace

absl::StatusOr<v1::Dataset> Client::UploadDataset(
    v1::DatasetHeader header, const std::vector<std::string>& paths,
    const ProgressFn& progress) {
  absl::StatusOr<std::vector<InputFile>> files = StatFiles(paths);
  if (!files.ok()) return files.status();
  int64_t total = 0;
  for (const InputFile& file : *files) total += file.size;
  if (header.format() == v1::IDX) {
    if (files->size() != 2) {
      return UsageError("an IDX dataset needs an images file and a labels file");
    }
    header.mutable_idx_parts()->set_images_size_bytes((*files)[0].size);
    header.mutable_idx_parts()->set_labels_size_bytes((*files)[1].size);
  }
  header.set_total_size_bytes(total);

  grpc::ClientContext context;
  PrepareStream(&context);
  v1::Dataset dataset;
  auto writer = stub_->UploadDataset(&context, &dataset);
  v1::UploadDatasetRequest first;
  *first.mutable_header() = std::move(header);
  if (writer->Write(first)) {
    absl::Status status = StreamChunks(&context, writer.get(), *files, total, progress);
    if (!status.ok()) return status;
    return dataset;
  }
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (status.ok()) return absl::InternalError("the server ended the upload at once");
  return status;
}

absl::StatusOr<v1::CheckpointInfo> Client::UploadCheckpoint(
    const std::string& path, const ProgressFn& progress) {
  absl::StatusOr<std::vector<InputFile>> files = StatFiles({path});
  if (!files.ok()) return files.status();
  const int64_t total = (*files)[0].size;

  grpc::ClientContext context;
  PrepareStream(&context);
  v1::CheckpointInfo info;
  auto writer = stub_->UploadCheckpoint(&context, &info);
  v1::UploadCheckpointRequest first;
  first.mutable_header()->set_total_size_bytes(total);
  if (writer->Write(first)) {
    absl::Status status = StreamChunks(&context, writer.get(), *files, total, progress);
    if (!status.ok()) return status;
    return info;
  }
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (status.ok()) return absl::InternalError("the server ended the upload at once");
  return status;
}

absl::Status Client::DownloadOnce(const std::string& id,
                                  const std::string& part_path,
                                  const ProgressFn& progress,
                                  DownloadResult* result) {
  std::error_code error;
  int64_t offset = 0;
  Sha256Hasher hasher;
  if (std::filesystem::exists(part_path, error)) {
    // Resume: the bytes already here count towards the whole file's hash.
    std::ifstream in(part_path, std::ios::binary);
    std::string buffer(kChunkBytes, '\0');
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) ||
           in.gcount() > 0) {
      hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
      offset += in.gcount();
    }
  }
  result->resumed_from = offset;
  std::ofstream out(part_path, std::ios::binary | std::ios::app);
  if (!out) {
    return LocalError(absl::StatusCode::kPermissionDenied,
                      absl::StrCat("cannot write '", part_path, "'"));
  }
  int64_t total = -1;
  std::string expected_sha;
  int failures = 0;
  absl::Duration backoff = options_.retry.initial_backoff;
  while (true) {
    grpc::ClientContext context;
    PrepareStream(&context);
    v1::DownloadCheckpointRequest request;
    request.set_checkpoint_id(id);
    request.set_offset(offset);
    auto reader = stub_->DownloadCheckpoint(&context, request);
    v1::DownloadCheckpointResponse chunk;
    bool got_message = false;
    while (reader->Read(&chunk)) {
      got_message = true;
      if (chunk.offset() != offset) {
        context.TryCancel();
        reader->Finish();
        return absl::InternalError(absl::StrCat(
            "server sent bytes at offset ", chunk.offset(), ", expected ", offset));
      }
      total = chunk.total_size();
      expected_sha = chunk.sha256();
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      if (!out) {
        context.TryCancel();
        reader->Finish();
        return LocalError(absl::StatusCode::kDataLoss,
                          absl::StrCat("writing '", part_path, "' failed"));
      }
      hasher.Update(chunk.data());
      offset += static_cast<int64_t>(chunk.data().size());
      if (progress) progress(offset, total);
    }
    absl::Status status = FromGrpcStatus(reader->Finish());
    if (status.ok()) break;
    if (status.code() != absl::StatusCode::kUnavailable) return status;
    if (got_message) failures = 0;
    if (++failures > options_.retry.max_attempts) return status;
    out.flush();
    if (options_.retry.sleep) {
      options_.retry.sleep(backoff);
    } else {
      absl::SleepFor(backoff);
    }
    backoff = std::min(backoff * 2, options_.retry.max_backoff);
  }
  out.close();
  if (!out) {
    return LocalError(absl::StatusCode::kDataLoss,
                      absl::StrCat("writing '", part_path, "' failed"));
  }
  result->size_bytes = offset;
  if (expected_sha.empty()) {
    return LocalError(absl::StatusCode::kDataLoss,
                      "the server sent no checksum to verify the download against");
  }
  if (total >= 0 && offset != total) {
    return LocalError(absl::StatusCode::kDataLoss,
                      absl::StrCat("download ended at byte ", offset, " of ", total));
  }
  result->sha256 = hasher.FinishHex();
  if (result->sha256 != expected_sha) {
    return LocalError(absl::StatusCode::kDataLoss,
                      absl::StrCat("sha256 mismatch: got ", result->sha256,
                                   ", server says ", expected_sha));
  }
  return absl::OkStatus();
}

absl::StatusOr<DownloadResult> Client::DownloadCheckpoint(
    const std::string& id, const std::string& path, const ProgressFn& progress) {
  const std::string part_path = path + ".part";
  for (int attempt = 0;; ++attempt) {
    DownloadResult result;
    absl::Status status = DownloadOnce(id, part_path, progress, &result);
    if (status.ok()) {
      std::error_code error;
      std::filesystem::rename(part_path, path, error);
      if (error) {
        return LocalError(absl::StatusCode::kPermissionDenied,
                          absl::StrCat("cannot rename '", part_path, "' to '", path,
                                       "': ", error.message()));
      }
      return result;
    }
    // A leftover .part from another file (bad hash) or longer than this one
    // (OUT_OF_RANGE) is worthless: start over once from zero.
    const bool stale_part =
        result.resumed_from > 0 &&
        (status.code() == absl::StatusCode::kDataLoss ||
         status.code() == absl::StatusCode::kOutOfRange);
    if (stale_part || status.code() == absl::StatusCode::kDataLoss) {
      std::error_code ignored;
      std::filesystem::remove(part_path, ignored);
    }
    if (!stale_part || attempt > 0) return status;
  }
}

}  // namespace trainyard::client
