// Issue 9, classes 12, 7 and 5 through the real service: bytes a client
// sends that once crashed the server (an unterminated wide CSV) or blew up
// its memory (a gzip bomb), and bytes the server stored that went bad on disk
// (a corrupted checkpoint or dataset blob must never be served or used as
// good).
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/dataset_cache.h"
#include "tests/testing/backend_peer.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

using ::testing::HasSubstr;
using server::BackendTestPeer;

// `bytes` zeros, gzip-compressed in 1 MiB steps.
std::string GzipZeros(int64_t bytes) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::vector<char> buf(1 << 16);
  for (int64_t left = bytes;;) {
    const int64_t n = std::min<int64_t>(left, zeros.size());
    left -= n;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(n);
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&z, flush);
      out.append(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (flush == Z_FINISH) break;
  }
  deflateEnd(&z);
  return out;
}

class ServiceBytesTest : public ServiceFixture {
 protected:
  std::string BlobPath(const std::string& sha) {
    return BackendTestPeer::blobs(server_->backend()).root() + "/" + sha.substr(0, 2) + "/" + sha;
  }

  // Flips one byte of a stored blob in place (same size, same name).
  void Corrupt(const std::string& sha, int64_t at) {
    std::fstream f(BlobPath(sha), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << BlobPath(sha);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(at);
    f.write(&c, 1);
    ASSERT_TRUE(f.good());
  }

  // Trains TinyJob, widened to 256 units (a checkpoint of ~15 KB, several
  // chunks at the smallest max_message_bytes), and returns its checkpoint.
  std::string TrainedCheckpoint(const std::string& dataset_id, int epochs) {
    v1::SubmitJobRequest request = TinyJob(dataset_id, epochs);
    request.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(256);
    v1::Job job = SubmitOk(request);
    std::vector<v1::JobEvent> events;
    EXPECT_TRUE(Watch(job.id(), 0, &events).ok());
    v1::GetJobRequest get;
    get.set_job_id(job.id());
    v1::Job done;
    EXPECT_TRUE(stub_->GetJob(Ctx().get(), get, &done).ok());
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
    return done.latest_checkpoint_id();
  }

  struct Download {
    grpc::Status status;
    std::vector<v1::DownloadCheckpointResponse> parts;
    std::string data;
  };
  Download DownloadFrom(const std::string& id, int64_t offset) {
    Download d;
    auto ctx = Ctx();
    v1::DownloadCheckpointRequest req;
    req.set_checkpoint_id(id);
    req.set_offset(offset);
    auto reader = stub_->DownloadCheckpoint(ctx.get(), req);
    v1::DownloadCheckpointResponse part;
    while (reader->Read(&part)) {
      d.data += part.data();
      d.parts.push_back(part);
    }
    d.status = reader->Finish();
    return d;
  }

  // No chunk received ends the file: a client can never take a corrupt
  // download for a complete one.
  static void ExpectNoFinalChunk(const Download& d) {
    for (const auto& p : d.parts) {
      EXPECT_LT(p.offset() + static_cast<int64_t>(p.data().size()), p.total_size())
          << "a chunk at " << p.offset() << " completes the file";
    }
  }
};

// Class 12 over the wire: 3 rows of 2,000 columns without a final newline
// made the server abort (realloc(): invalid next size). Now it is a dataset
// with every value in place.
TEST_F(ServiceBytesTest, WideCsvWithoutFinalNewlineIsParsedWhole) {
  Start();
  constexpr int kColumns = 2000;
  std::string csv;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < kColumns; ++c) {
      if (c > 0) csv += ',';
      csv += std::to_string(c == kColumns - 1 ? r % 2 : r * 10 + c % 7);
    }
    if (r < 2) csv += '\n';
  }
  v1::DatasetHeader header;
  header.set_name("wide");
  header.set_format(v1::CSV);
  v1::Dataset ds;
  grpc::Status s = Upload(header, csv, &ds, 4096);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ds.num_samples(), 3);
  EXPECT_EQ(ds.num_features(), kColumns - 1);
  EXPECT_EQ(ds.num_classes(), 2);
  auto data = BackendTestPeer::datasets(server_->backend()).Load(ds);
  ASSERT_TRUE(data.ok()) << data.status();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < kColumns - 1; ++c) {
      ASSERT_EQ((*data)->features()(c, r), r * 10 + c % 7) << "row " << r << ", column " << c;
    }
    EXPECT_EQ((*data)->targets()(0, r), r % 2);
  }
}

// Class 7: a ~260 KB gzip part that inflates to 256 MiB is refused as soon
// as it passes max_dataset_bytes, and the parse never held more than the
// upload plus that limit (the parse budget's counter, which the inflater
// charges before every buffer growth).
TEST_F(ServiceBytesTest, GzipBombIsRefusedAtTheDatasetLimit) {
  constexpr int64_t kLimit = 1 << 20;
  Start([](server::ServerOptions& o) { o.max_dataset_bytes = kLimit; });
  const std::string images = GzipZeros(int64_t{256} << 20);
  ASSERT_LT(images.size(), 400u << 10);
  const std::string labels("\0\0\x08\x01\0\0\0\x01\x07", 9);
  v1::DatasetHeader header;
  header.set_name("bomb");
  header.set_format(v1::IDX);
  header.mutable_idx_parts()->set_images_size_bytes(images.size());
  header.mutable_idx_parts()->set_labels_size_bytes(labels.size());
  v1::Dataset ds;
  grpc::Status s = Upload(header, images + labels, &ds, 64 << 10);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("images file"));
  EXPECT_THAT(s.error_message(), HasSubstr("max_dataset_bytes"));
  const server::ParseBudget& budget =
      BackendTestPeer::datasets(server_->backend()).parse_budget();
  EXPECT_GT(budget.peak(), kLimit);  // it did inflate up to the limit
  EXPECT_LE(budget.peak(), static_cast<int64_t>(images.size() + labels.size()) + kLimit + 1);
  EXPECT_EQ(budget.in_use(), 0);
  // The server is fine and takes a good upload.
  UploadOk();
}

// Class 5: a checkpoint altered on disk (same size) is never served as
// good, from 0 or resumed at an offset past the damage.
TEST_F(ServiceBytesTest, CorruptedCheckpointDownloadEndsDataLoss) {
  // Small messages, so the file goes out in many chunks.
  Start([](server::ServerOptions& o) { o.max_message_bytes = 4096; });
  const std::string ckpt = TrainedCheckpoint(UploadOk().id(), 1);
  ASSERT_FALSE(ckpt.empty());
  Download good = DownloadFrom(ckpt, 0);
  ASSERT_TRUE(good.status.ok()) << good.status.error_message();
  ASSERT_GE(good.parts.size(), 4u);
  ASSERT_EQ(Sha256Hex(good.data), ckpt);
  const int64_t size = static_cast<int64_t>(good.data.size());

  Corrupt(ckpt, size / 4);
  Download bad = DownloadFrom(ckpt, 0);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::DATA_LOSS) << bad.status.error_message();
  EXPECT_THAT(bad.status.error_message(), HasSubstr(ckpt));
  EXPECT_FALSE(bad.parts.empty());  // streamed up to the last chunk...
  ExpectNoFinalChunk(bad);          // ...which was withheld

  // Resumed past the damage: the prefix is hashed too.
  Download resumed = DownloadFrom(ckpt, size / 2);
  EXPECT_EQ(resumed.status.error_code(), grpc::StatusCode::DATA_LOSS)
      << resumed.status.error_message();
  ExpectNoFinalChunk(resumed);
  // Resumed at the very end (only the empty closing chunk is left).
  Download at_end = DownloadFrom(ckpt, size);
  EXPECT_EQ(at_end.status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_TRUE(at_end.parts.empty());

  // Repaired, it is served again (nothing was remembered as bad or good).
  Corrupt(ckpt, size / 4);
  Download again = DownloadFrom(ckpt, size / 2);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(again.data, good.data.substr(size / 2));
}

TEST_F(ServiceBytesTest, TruncatedCheckpointDownloadEndsDataLoss) {
  Start([](server::ServerOptions& o) { o.max_message_bytes = 4096; });
  const std::string ckpt = TrainedCheckpoint(UploadOk().id(), 1);
  ASSERT_FALSE(ckpt.empty());
  const auto size = std::filesystem::file_size(BlobPath(ckpt));
  std::filesystem::resize_file(BlobPath(ckpt), size - 10);
  for (int64_t offset : {int64_t{0}, static_cast<int64_t>(size / 2)}) {
    Download d = DownloadFrom(ckpt, offset);
    EXPECT_EQ(d.status.error_code(), grpc::StatusCode::DATA_LOSS) << d.status.error_message();
    EXPECT_THAT(d.status.error_message(), HasSubstr(ckpt));
    ExpectNoFinalChunk(d);
  }
}

// Class 5 for datasets: a dataset blob that no longer hashes to its sha256
// fails to load with DATA_LOSS naming the dataset, for Evaluate, SubmitJob
// and a job that was waiting to run; the server keeps running.
TEST_F(ServiceBytesTest, CorruptedDatasetBlobIsDataLossEverywhere) {
  Start();
  const v1::Dataset ds = UploadOk();
  const std::string ckpt = TrainedCheckpoint(ds.id(), 1);
  // A job paused before the damage, to be resumed after it.
  v1::Job paused = SubmitOk(TinyJob(ds.id(), 100000));
  v1::PauseJobRequest pause;
  pause.set_job_id(paused.id());
  v1::Job ignored;
  ASSERT_TRUE(stub_->PauseJob(Ctx().get(), pause, &ignored).ok());
  v1::GetJobRequest get;
  get.set_job_id(paused.id());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &ignored).ok());
    if (ignored.state() == v1::PAUSED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ignored.state(), v1::PAUSED);

  // Restart, so that no parsed copy is held in memory, with the blob damaged.
  server_.reset();
  {
    std::fstream f(dir_ + "/blobs/" + ds.sha256().substr(0, 2) + "/" + ds.sha256(),
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(20);
    f.write("9", 1);
  }
  Start();

  v1::EvaluateRequest eval;
  eval.set_checkpoint_id(ckpt);
  eval.set_dataset_id(ds.id());
  v1::EvaluateResponse eval_out;
  grpc::Status s = stub_->Evaluate(Ctx().get(), eval, &eval_out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(ds.id()));

  v1::Job job;
  s = stub_->SubmitJob(Ctx().get(), TinyJob(ds.id(), 1), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(ds.id()));

  v1::ResumeJobRequest resume;
  resume.set_job_id(paused.id());
  s = stub_->ResumeJob(Ctx().get(), resume, &job);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(paused.id(), 0, &events).ok());
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_EQ(job.error().code(), static_cast<int>(grpc::StatusCode::DATA_LOSS));
  EXPECT_THAT(job.error().message(), HasSubstr(ds.id()));

  // Still serving; uploading the same bytes again replaces the damaged copy
  // (the blob store keeps an existing copy only if it still hashes right),
  // after which the old dataset works too.
  EXPECT_FALSE(TrainedCheckpoint(UploadOk("again").id(), 1).empty());
  s = stub_->Evaluate(Ctx().get(), eval, &eval_out);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// The parse budget: a second parse that would pass it is refused, a lone
// one may pass it, and everything is released at the end.
TEST(ParseBudgetTest, RefusesWhatOthersWouldPass) {
  server::ParseBudget budget(100);
  {
    server::ParseBudget::Reservation a(&budget);
    ASSERT_TRUE(a.Grow(60).ok());
    {
      server::ParseBudget::Reservation b(&budget);
      EXPECT_TRUE(b.Grow(40).ok());
      absl::Status s = b.Grow(1);
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
      EXPECT_THAT(std::string(s.message()), HasSubstr("parse budget"));
      EXPECT_THAT(std::string(s.message()), HasSubstr("max_dataset_bytes"));
      EXPECT_EQ(a.Grow(1).code(), absl::StatusCode::kResourceExhausted);
    }
    EXPECT_EQ(budget.in_use(), 60);
    EXPECT_TRUE(a.Grow(500).ok());  // alone: may pass the budget
    server::ParseBudget::Reservation c(&budget);
    EXPECT_EQ(c.Grow(1).code(), absl::StatusCode::kResourceExhausted);
  }
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.peak(), 560);
}

}  // namespace
}  // namespace trainyard::testing
