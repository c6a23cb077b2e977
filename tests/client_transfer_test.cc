// The client library against an in-process fake TrainingService over a real
// gRPC channel: chunked uploads with sha256, resumable verified downloads,
// the watch reconnect, the bearer token and unary deadlines.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/cli.h"
#include "client/client.h"
#include "client/errors.h"
#include "core/sha256.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace trainyard::client {
namespace {

namespace fs = std::filesystem;
constexpr size_t kServerChunk = 256 * 1024;

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u + seed;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

class FakeService final : public v1::TrainingService::Service {
 public:
  // Upload.
  std::string auth;
  v1::DatasetHeader header;
  std::vector<size_t> chunk_sizes;
  std::string received;

  grpc::Status UploadDataset(grpc::ServerContext* context,
                             grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                             v1::Dataset* dataset) override {
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) auth = std::string(it->second.data(), it->second.size());
    v1::UploadDatasetRequest request;
    Sha256Hasher hasher;
    std::string trailer;
    while (reader->Read(&request)) {
      if (request.has_header()) header = request.header();
      if (request.has_trailer()) trailer = request.trailer().sha256();
      if (request.part_case() == v1::UploadDatasetRequest::kChunk) {
        chunk_sizes.push_back(request.chunk().size());
        hasher.Update(request.chunk());
        received += request.chunk();
      }
    }
    const std::string sha = hasher.FinishHex();
    if (sha != trailer) return {grpc::StatusCode::INVALID_ARGUMENT, "sha256 mismatch"};
    dataset->set_id("ds-0000000000000001");
    dataset->set_sha256(sha);
    dataset->set_size_bytes(static_cast<int64_t>(received.size()));
    return grpc::Status::OK;
  }

  // Download.
  std::string blob;
  std::string announced_sha;  // empty: the real one
  int drop_after_chunks = -1;  // once: fail with UNAVAILABLE after this many chunks
  std::vector<int64_t> offsets_asked;

  grpc::Status DownloadCheckpoint(grpc::ServerContext*,
                                  const v1::DownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::DownloadCheckpointResponse>* writer) override {
    offsets_asked.push_back(request->offset());
    const size_t size = blob.size();
    if (request->offset() < 0 || static_cast<size_t>(request->offset()) > size) {
      return {grpc::StatusCode::OUT_OF_RANGE, "offset beyond the file"};
    }
    v1::DownloadCheckpointResponse response;
    response.set_total_size(static_cast<int64_t>(size));
    response.set_sha256(announced_sha.empty() ? Sha256Hex(blob) : announced_sha);
    int sent = 0;
    size_t offset = static_cast<size_t>(request->offset());
    do {
      if (drop_after_chunks >= 0 && sent == drop_after_chunks) {
        drop_after_chunks = -1;
        return {grpc::StatusCode::UNAVAILABLE, "connection dropped"};
      }
      response.set_offset(static_cast<int64_t>(offset));
      response.set_data(blob.substr(offset, kServerChunk));
      writer->Write(response);
      ++sent;
      offset += response.data().size();
    } while (offset < size);
    return grpc::Status::OK;
  }

  // Watch: the first call sends seq 1..3 and drops; later calls send the rest.
  // hang_first: the first call sends seq 1 and then goes silent (no
  // heartbeats) until the client gives up on it.
  std::vector<int64_t> watch_after;
  bool hang_first = false;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    watch_after.push_back(request->after_seq());
    const bool first = watch_after.size() == 1;
    if (first && hang_first) {
      v1::JobEvent event;
      event.set_seq(1);
      event.mutable_log()->set_text("tick");
      writer->Write(event);
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return grpc::Status::CANCELLED;
    }
    for (int64_t seq = request->after_seq() + 1; seq <= (first ? 3 : 5); ++seq) {
      v1::JobEvent event;
      event.set_job_id(request->job_id());
      event.set_seq(seq);
      if (seq == 5) {
        event.mutable_state_change()->set_from(v1::RUNNING);
        event.mutable_state_change()->set_to(v1::SUCCEEDED);
      } else {
        event.mutable_log()->set_level(v1::LOG_INFO);
        event.mutable_log()->set_text("tick");
      }
      writer->Write(event);
      v1::JobEvent heartbeat;
      heartbeat.set_seq(seq);
      heartbeat.mutable_heartbeat();
      writer->Write(heartbeat);
    }
    if (first) return {grpc::StatusCode::UNAVAILABLE, "server restarting"};
    return grpc::Status::OK;
  }

  // Enough of the job RPCs for the CLI commands.
  std::string listed_name;
  v1::SubmitJobRequest submitted;
  grpc::Status ListDatasets(grpc::ServerContext*, const v1::ListDatasetsRequest* request,
                            v1::ListDatasetsResponse* response) override {
    listed_name = request->name();
    if (request->name() == "xor") {
      response->add_datasets()->set_id("ds-00000000000000bb");  // newest first
      response->add_datasets()->set_id("ds-00000000000000aa");
    }
    return grpc::Status::OK;
  }
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                         v1::Job* job) override {
    submitted = *request;
    job->set_id("job-0000000000000001");
    job->set_state(v1::QUEUED);
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::Job* job) override {
    if (request->job_id() != "job-0000000000000001") {
      return {grpc::StatusCode::NOT_FOUND, "no job"};
    }
    job->set_id("job-0000000000000001");
    job->set_state(watch_after.size() >= 2 ? v1::SUCCEEDED : v1::RUNNING);
    job->mutable_progress()->set_epochs(2);
    job->mutable_progress()->set_epoch(watch_after.size() >= 2 ? 2 : 0);
    return grpc::Status::OK;
  }

  // Slow unary call, for the deadline.
  grpc::Status GetServerInfo(grpc::ServerContext* context, const v1::GetServerInfoRequest*,
                             v1::ServerInfo* info) override {
    for (int i = 0; i < 100 && !context->IsCancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    info->set_version("slow");
    return grpc::Status::OK;
  }
};

class ClientTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ClientOptions options;
    options.address = "127.0.0.1:" + std::to_string(port);
    address_ = options.address;
    options.token = "s3cret";
    options.timeout_seconds = 0.3;
    options.retry.sleep = [](absl::Duration) {};
    auto client = Client::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    dir_ = fs::path(::testing::TempDir()) /
           ("client_transfer_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Runs the CLI against the fake (a real channel; retries without waiting).
  struct CliResult {
    int code;
    std::string out, err;
  };
  CliResult RunTrainyard(std::vector<std::string> args) {
    std::ostringstream out, err;
    CliContext ctx;
    ctx.out = &out;
    ctx.err = &err;
    ctx.client_factory = [](ClientOptions options) {
      options.retry.sleep = [](absl::Duration) {};
      return Client::Create(options);
    };
    args.insert(args.begin(), {"trainyard", "--addr", address_});
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    const int code = RunCli(static_cast<int>(argv.size()), argv.data(), ctx);
    return {code, out.str(), err.str()};
  }

  FakeService service_;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
  fs::path dir_;
};

TEST_F(ClientTransferTest, UploadStreamsOneMebibyteChunksWithSha256AndToken) {
  const std::string data = Pattern((5 << 20) / 2, 1);  // 2.5 MiB
  const std::string path = Write("data.csv", data);
  v1::DatasetHeader header;
  header.set_name("big");
  header.set_format(v1::CSV);
  std::vector<int64_t> progress;
  auto dataset = client_->UploadDataset(header, {path}, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, static_cast<int64_t>(data.size()));
    progress.push_back(done);
  });
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->sha256(), Sha256Hex(data));
  EXPECT_EQ(service_.received, data);
  EXPECT_EQ(service_.chunk_sizes, (std::vector<size_t>{1 << 20, 1 << 20, 1 << 19}));
  EXPECT_EQ(service_.header.total_size_bytes(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(service_.auth, "Bearer s3cret");
  EXPECT_EQ(progress.back(), static_cast<int64_t>(data.size()));
}

TEST_F(ClientTransferTest, IdxUploadSendsImagesThenLabelsWithTheirSizes) {
  const std::string images = Pattern(3000, 2), labels = Pattern(70, 3);
  v1::DatasetHeader header;
  header.set_name("idx");
  header.set_format(v1::IDX);
  auto dataset = client_->UploadDataset(
      header, {Write("images", images), Write("labels", labels)}, nullptr);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(service_.received, images + labels);
  EXPECT_EQ(service_.header.idx_parts().images_size_bytes(), 3000);
  EXPECT_EQ(service_.header.idx_parts().labels_size_bytes(), 70);
}

TEST_F(ClientTransferTest, UploadOfMissingFileFailsBeforeTheCall) {
  auto dataset = client_->UploadDataset(v1::DatasetHeader(), {(dir_ / "nope").string()}, nullptr);
  EXPECT_EQ(ExitCodeFor(dataset.status()), kExitUsage) << dataset.status();
  EXPECT_TRUE(service_.chunk_sizes.empty());
}

TEST_F(ClientTransferTest, DownloadResumesAfterDropAndVerifies) {
  service_.blob = Pattern(3 * kServerChunk + 5, 4);
  service_.drop_after_chunks = 1;
  const std::string path = (dir_ / "model.ckpt").string();
  auto result = client_->DownloadCheckpoint("abc", path, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Read(path), service_.blob);
  EXPECT_FALSE(fs::exists(path + ".part"));
  EXPECT_EQ(result->sha256, Sha256Hex(service_.blob));
  EXPECT_EQ(service_.offsets_asked,
            (std::vector<int64_t>{0, static_cast<int64_t>(kServerChunk)}));
}

TEST_F(ClientTransferTest, DownloadContinuesAnEarlierPartFile) {
  service_.blob = Pattern(2 * kServerChunk, 5);
  const std::string path = (dir_ / "model.ckpt").string();
  Write("model.ckpt.part", service_.blob.substr(0, 1000));
  auto result = client_->DownloadCheckpoint("abc", path, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->resumed_from, 1000);
  EXPECT_EQ(service_.offsets_asked, (std::vector<int64_t>{1000}));
  EXPECT_EQ(Read(path), service_.blob);
}

TEST_F(ClientTransferTest, StalePartFileIsDiscardedAndDownloadRestarts) {
  service_.blob = Pattern(kServerChunk, 6);
  const std::string path = (dir_ / "model.ckpt").string();
  Write("model.ckpt.part", "garbage from another file");
  auto result = client_->DownloadCheckpoint("abc", path, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(service_.offsets_asked, (std::vector<int64_t>{25, 0}));
  EXPECT_EQ(Read(path), service_.blob);
}

TEST_F(ClientTransferTest, ChecksumMismatchIsDataLossAndLeavesNoFile) {
  service_.blob = Pattern(1000, 7);
  service_.announced_sha = std::string(64, '0');
  const std::string path = (dir_ / "model.ckpt").string();
  auto result = client_->DownloadCheckpoint("abc", path, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ExitCodeFor(result.status()), kExitLocalError);
  EXPECT_NE(result.status().message().find("sha256 mismatch"), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".part"));
}

TEST_F(ClientTransferTest, WatchReconnectsWithLastSeqOverGrpc) {
  std::vector<int64_t> seqs;
  int heartbeats = 0;
  WatchCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) { seqs.push_back(e.seq()); };
  callbacks.on_heartbeat = [&] { ++heartbeats; };
  ASSERT_TRUE(client_->WatchJob("job-1", 0, callbacks).ok());
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(service_.watch_after, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(heartbeats, 5);
}

TEST_F(ClientTransferTest, SilentWatchStreamIsReopenedAfterIdleTimeout) {
  service_.hang_first = true;
  ClientOptions options;
  options.address = address_;
  options.watch_idle_timeout_seconds = 1;
  options.retry.sleep = [](absl::Duration) {};
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<int64_t> seqs;
  std::string reconnect_reason;
  WatchCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) { seqs.push_back(e.seq()); };
  callbacks.on_reconnect = [&](const absl::Status& s, absl::Duration) {
    reconnect_reason = std::string(s.message());
  };
  const absl::Time start = absl::Now();
  ASSERT_TRUE((*client)->WatchJob("job-1", 0, callbacks).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // (Under heavy load a slow second stream may be reopened once more, so
  // only the first reconnect's after_seq is pinned.)
  ASSERT_GE(service_.watch_after.size(), 2u);
  EXPECT_EQ(service_.watch_after[0], 0);
  EXPECT_EQ(service_.watch_after[1], 1);
  EXPECT_NE(reconnect_reason.find("no event or heartbeat"), std::string::npos)
      << reconnect_reason;
}

TEST_F(ClientTransferTest, UnaryCallsHaveADeadline) {
  const absl::Time start = absl::Now();
  auto info = client_->GetServerInfo();
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.5));
}

TEST_F(ClientTransferTest, CliUploadPrintsOnlyTheIdOnStdout) {
  const std::string path = Write("xor.csv", "0,0,0\n0,1,1\n");
  CliResult run = RunTrainyard({"datasets", "upload", path, "--name", "xor"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "ds-0000000000000001\n");
  EXPECT_EQ(service_.header.name(), "xor");
}

TEST_F(ClientTransferTest, CliSubmitResolvesNameAndWaitExitsBySuccess) {
  const std::string model = Write("m.json", R"({"input_dim": 2})");
  const std::string training = Write("t.json", R"({"epochs": 2})");
  CliResult run = RunTrainyard({"jobs", "submit", "--model", model, "--training", training,
                                "--dataset", "xor", "--priority", "3", "--wait"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(service_.listed_name, "xor");
  EXPECT_EQ(service_.submitted.dataset_id(), "ds-00000000000000bb");
  EXPECT_EQ(service_.submitted.priority(), 3);
  // The file's text travels as written, for the server to parse.
  EXPECT_EQ(service_.submitted.training_json(), R"({"epochs": 2})");
  EXPECT_FALSE(service_.submitted.has_training());
  EXPECT_NE(run.err.find("note: 2 datasets are named 'xor'; using the newest, "
                         "ds-00000000000000bb"),
            std::string::npos) << run.err;
  // Not a terminal: the id, plain event lines, a reconnect note, the summary.
  EXPECT_EQ(run.out.rfind("job-0000000000000001\nlog INFO: tick\n", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("connection lost (UNAVAILABLE)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("state RUNNING -> SUCCEEDED\njob job-0000000000000001 SUCCEEDED: 2/2 epochs"),
            std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("\x1b["), std::string::npos);
}

TEST_F(ClientTransferTest, CliJsonOutputIsOneDocumentOrJsonLines) {
  const std::string model = Write("m.json", R"({"input_dim": 2})");
  const std::string training = Write("t.json", R"({"epochs": 2})");
  CliResult wait = RunTrainyard({"--output", "json", "jobs", "submit", "--model", model,
                                 "--training", training, "--dataset",
                                 "ds-00000000000000aa", "--wait"});
  EXPECT_EQ(wait.code, 0) << wait.err;
  v1::Job job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(wait.out, &job).ok()) << wait.out;
  EXPECT_EQ(job.state(), v1::SUCCEEDED);
  EXPECT_TRUE(service_.listed_name.empty());  // an id needs no look-up

  service_.watch_after.clear();
  // A full id: used as is (a shorter one would be an id prefix, looked up).
  CliResult watch =
      RunTrainyard({"jobs", "watch", "job-0000000000000001", "--output", "json"});
  EXPECT_EQ(watch.code, 0) << watch.err;
  std::istringstream lines(watch.out);
  std::string line;
  std::vector<int64_t> seqs;
  while (std::getline(lines, line)) {
    v1::JobEvent event;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &event).ok()) << line;
    seqs.push_back(event.seq());
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST_F(ClientTransferTest, CliServerErrorIsOneLineAndExit3) {
  CliResult run = RunTrainyard({"jobs", "watch", "job-0000000000000404"});
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.err, "error: NOT_FOUND: no job\n");
}

}  // namespace
}  // namespace trainyard::client
