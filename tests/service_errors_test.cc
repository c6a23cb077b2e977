// The service's error paths through the real transport: upload validation and
// limits, auth, message size, health and shutdown.
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

using ServiceErrorsTest = ServiceFixture;
using grpc::StatusCode;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(grpc::Channel* channel,
                                                            grpc::Status* status) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  *status = stub->Check(&ctx, req, &resp);
  return resp.status();
}

TEST_F(ServiceErrorsTest, UploadWithWrongShaIsInvalidArgumentNamingTrailer) {
  Start();
  v1::Dataset ds;
  grpc::Status s = Upload(CsvHeader("x"), TwoClassCsv(), &ds, 100, std::string(64, '0'));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "trailer.sha256")) << s.error_message();
  s = Upload(CsvHeader("x"), TwoClassCsv(), &ds, 100, "not-hex");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "trailer.sha256")) << s.error_message();
  // Nothing was stored.
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(stub_->ListDatasets(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.datasets_size(), 0);
}

TEST_F(ServiceErrorsTest, UploadOverTheLimitIsResourceExhausted) {
  Start([](server::ServerOptions& o) { o.max_dataset_bytes = 1000; });
  const std::string csv = TwoClassCsv();
  ASSERT_GT(csv.size(), 1000u);
  v1::Dataset ds;
  // Refused early from the declared size...
  v1::DatasetHeader header = CsvHeader("big");
  header.set_total_size_bytes(csv.size());
  grpc::Status s = Upload(header, csv, &ds);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Contains(s.error_message(), "max_dataset_bytes")) << s.error_message();
  // ...and while streaming when the size was not declared.
  s = Upload(CsvHeader("big"), csv, &ds);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Contains(s.error_message(), "max_dataset_bytes")) << s.error_message();
}

TEST_F(ServiceErrorsTest, StreamedUploadOneByteOverTheLimitNamesTheLimit) {
  const std::string csv = TwoClassCsv();
  // Exactly at the limit is accepted; the chunk that crosses it is refused
  // by name (the reactor checks the limit itself, so that other write errors,
  // such as a full disk, are never reported as the limit).
  Start([&csv](server::ServerOptions& o) { o.max_dataset_bytes = csv.size(); });
  v1::Dataset ds;
  grpc::Status s = Upload(CsvHeader("exact"), csv, &ds, 256);
  EXPECT_TRUE(s.ok()) << s.error_message();
  server_.reset();
  Start([&csv](server::ServerOptions& o) { o.max_dataset_bytes = csv.size() - 1; });
  for (size_t chunk : {size_t{256}, csv.size()}) {  // many chunks, or one big one
    s = Upload(CsvHeader("over"), csv, &ds, chunk);
    EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << chunk;
    EXPECT_TRUE(Contains(s.error_message(), "max_dataset_bytes")) << s.error_message();
  }
}

TEST_F(ServiceErrorsTest, BadCsvNamesLineAndColumn) {
  Start();
  v1::Dataset ds;
  grpc::Status s = Upload(CsvHeader("bad"), "a,b,label\n1,2,0\n3,oops,1\n", &ds);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "line 3")) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "column 2")) << s.error_message();
}

TEST_F(ServiceErrorsTest, DiagnosticsWithoutAPeriodAreRefusedAtSubmit) {
  Start();
  v1::Dataset ds = UploadOk();
  v1::SubmitJobRequest req = TinyJob(ds.id(), 1);
  req.mutable_training()->mutable_diagnostics()->set_histograms(true);  // every_steps 0
  v1::Job job;
  grpc::Status s = stub_->SubmitJob(Ctx().get(), req, &job);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "training.diagnostics.every_steps must be >= 1"))
      << s.error_message();
}

TEST_F(ServiceErrorsTest, UploadWithoutHeaderOrTrailerIsInvalidArgument) {
  Start();
  v1::Dataset ds;
  grpc::Status s = Upload(CsvHeader("x"), TwoClassCsv(), &ds, 100, "", /*send_header=*/false);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "first message must be a header")) << s.error_message();

  grpc::ClientContext ctx;
  auto writer = stub_->UploadDataset(&ctx, &ds);
  v1::UploadDatasetRequest req;
  *req.mutable_header() = CsvHeader("x");
  writer->Write(req);
  req.set_chunk("1,2,0\n");
  writer->Write(req);
  writer->WritesDone();
  s = writer->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "trailer")) << s.error_message();
}

TEST_F(ServiceErrorsTest, TokenRequiredExceptForHealth) {
  dir_ = (std::filesystem::temp_directory_path() / ("svc-auth-" + std::to_string(getpid())))
             .string();
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ + "/token") << "s3cret-token\n";
  Start([this](server::ServerOptions& o) { o.auth_token_file = dir_ + "/token"; });

  v1::ServerInfo info;
  grpc::Status s = stub_->GetServerInfo(Ctx().get(), {}, &info);
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED);
  token_ = "wrong-token!";
  EXPECT_EQ(stub_->GetServerInfo(Ctx().get(), {}, &info).error_code(),
            StatusCode::UNAUTHENTICATED);
  token_ = "s3cret-token";
  EXPECT_TRUE(stub_->GetServerInfo(Ctx().get(), {}, &info).ok());

  // Streaming methods check too.
  token_.clear();
  std::vector<v1::JobEvent> events;
  EXPECT_EQ(Watch("job-0123456789abcdef", 0, &events).error_code(), StatusCode::UNAUTHENTICATED);
  v1::Dataset ds;
  EXPECT_EQ(Upload(CsvHeader("x"), TwoClassCsv(), &ds).error_code(), StatusCode::UNAUTHENTICATED);

  // Health needs no token.
  EXPECT_EQ(Health(channel_.get(), &s), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ServiceErrorsTest, NoTokenNeededWhenAuthIsOff) {
  Start();
  token_ = "anything";
  v1::ServerInfo info;
  EXPECT_TRUE(stub_->GetServerInfo(Ctx().get(), {}, &info).ok());
  token_.clear();
  EXPECT_TRUE(stub_->GetServerInfo(Ctx().get(), {}, &info).ok());
}

TEST_F(ServiceErrorsTest, MessageOverMaxSizeIsResourceExhausted) {
  Start([](server::ServerOptions& o) { o.max_message_bytes = 64 << 10; });
  v1::PredictRequest p;
  p.set_checkpoint_id(std::string(64, 'a'));
  for (int i = 0; i < 40000; ++i) p.add_flat(1.0f);  // ~160 KB
  p.set_num_rows(1);
  v1::PredictResponse out;
  EXPECT_EQ(stub_->Predict(Ctx().get(), p, &out).error_code(), StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServiceErrorsTest, DrainingReportsNotServingAndRefusesNewWork) {
  Start();
  v1::Dataset ds = UploadOk();
  grpc::Status s;
  EXPECT_EQ(Health(channel_.get(), &s), grpc::health::v1::HealthCheckResponse::SERVING);
  v1::Job running = SubmitOk(TinyJob(ds.id(), 100000));

  server_->Drain();
  EXPECT_EQ(Health(channel_.get(), &s), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  v1::Job job;
  s = stub_->SubmitJob(Ctx().get(), TinyJob(ds.id(), 1), &job);
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
  v1::Dataset again;
  EXPECT_EQ(Upload(CsvHeader("late"), TwoClassCsv(), &again).error_code(),
            StatusCode::UNAVAILABLE);
  // Reads still work while draining.
  v1::GetJobRequest get;
  get.set_job_id(running.id());
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());

  // A watcher of the running job is ended by the shutdown, and the shutdown
  // is bounded although the job had far to go.
  grpc::ClientContext wctx;
  v1::WatchJobRequest wreq;
  wreq.set_job_id(running.id());
  auto reader = stub_->WatchJob(&wctx, wreq);
  v1::JobEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  const auto t0 = std::chrono::steady_clock::now();
  server_->Shutdown(absl::Seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(12));
  while (reader->Read(&ev)) {
  }
  EXPECT_FALSE(reader->Finish().ok());

  // After a restart on the same data dir the job is back in the queue (or
  // already running again), not lost.
  server_.reset();
  Start();
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());
  EXPECT_TRUE(job.state() == v1::QUEUED || job.state() == v1::RUNNING) << job.state();
  v1::CancelJobRequest cancel;
  cancel.set_job_id(running.id());
  EXPECT_TRUE(stub_->CancelJob(Ctx().get(), cancel, &job).ok());
}

}  // namespace
}  // namespace trainyard::testing
