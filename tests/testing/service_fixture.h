// In-process trainyard server on 127.0.0.1:0 with a temporary data dir, and
// helpers that talk to it through the generated stub exactly as a remote
// client would (uploads in chunks with sha256, watching to the end).
#ifndef TRAINYARD_TESTS_TESTING_SERVICE_FIXTURE_H_
#define TRAINYARD_TESTS_TESTING_SERVICE_FIXTURE_H_

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/sha256.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/specs.h"
#include "trainyard/v1/service.grpc.pb.h"

namespace trainyard::testing {

// 60 rows "x1,x2,label": class 0 around (-1,-1), class 1 around (1,1).
inline std::string TwoClassCsv() {
  std::string csv = "x1,x2,label\n";
  for (int i = 0; i < 60; ++i) {
    const int c = i % 2;
    const double s = c ? 1.0 : -1.0;
    const double a = s + 0.3 * std::sin(i * 1.7), b = s + 0.3 * std::cos(i * 2.3);
    csv += std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c) + "\n";
  }
  return csv;
}

inline v1::DatasetHeader CsvHeader(const std::string& name) {
  v1::DatasetHeader header;
  header.set_name(name);
  header.set_format(v1::CSV);
  header.mutable_csv_options()->set_has_header(true);
  return header;
}

// A tiny classifier with dropout (so mc_samples has something to sample).
inline v1::SubmitJobRequest TinyJob(const std::string& dataset_id, int epochs) {
  v1::SubmitJobRequest r;
  r.set_dataset_id(dataset_id);
  *r.mutable_model() = FromJson<v1::ModelSpec>(R"({
    "input_dim": 2,
    "layers": [{"dense": {"units": 8}}, {"activation": {"kind": "TANH"}},
               {"dropout": {"rate": 0.2}}, {"dense": {"units": 2}}]})");
  *r.mutable_training() = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"adam": {}, "learning_rate": 0.05},
    "batch_size": 10, "seed": 1, "log_every_steps": 2,
    "checkpoint_every_epochs": 1})");
  r.mutable_training()->set_epochs(epochs);
  return r;
}

class ServiceFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    stub_.reset();
    server_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Starts the server; `tweak` edits the options first.
  void Start(const std::function<void(server::ServerOptions&)>& tweak = nullptr) {
    if (dir_.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "svc-test-XXXXXX").string();
      ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
      dir_ = tmpl;
    }
    server::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_;
    options.durable_sync = false;
    options.workers = 1;
    options.heartbeat_seconds = 0.2;
    options.shutdown_grace_seconds = 5;
    if (tweak) tweak(options);
    auto server = server::Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::TrainingService::NewStub(channel_);
  }

  // A context with a 30 s deadline and, when non-empty, a bearer token.
  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    return ctx;
  }

  // Uploads `data` in `chunk`-byte chunks; `sha` overrides the trailer hash.
  grpc::Status Upload(const v1::DatasetHeader& header, const std::string& data,
                      v1::Dataset* out, size_t chunk = 100, std::string sha = "",
                      bool send_header = true) {
    auto ctx = Ctx();
    auto writer = stub_->UploadDataset(ctx.get(), out);
    v1::UploadDatasetRequest req;
    if (send_header) {
      *req.mutable_header() = header;
      writer->Write(req);
    }
    for (size_t i = 0; i < data.size(); i += chunk) {
      req.set_chunk(data.substr(i, chunk));
      if (!writer->Write(req)) break;  // the server already answered
    }
    req.mutable_trailer()->set_sha256(sha.empty() ? Sha256Hex(data) : sha);
    writer->Write(req);
    writer->WritesDone();
    return writer->Finish();
  }

  v1::Dataset UploadOk(const std::string& name = "two-class") {
    v1::Dataset ds;
    grpc::Status s = Upload(CsvHeader(name), TwoClassCsv(), &ds);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return ds;
  }

  v1::Job SubmitOk(const v1::SubmitJobRequest& r) {
    v1::Job job;
    grpc::Status s = stub_->SubmitJob(Ctx().get(), r, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  // Pauses `job_id` and waits (up to 5 s) until the pause landed: the job is
  // PAUSED and its event log stops growing. *paused is the job then.
  void PauseAndWait(const std::string& job_id, v1::Job* paused) {
    v1::PauseJobRequest pause;
    pause.set_job_id(job_id);
    ASSERT_TRUE(stub_->PauseJob(Ctx().get(), pause, paused).ok());
    for (int i = 0; i < 100 && paused->state() != v1::PAUSED; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      v1::GetJobRequest get;
      get.set_job_id(job_id);
      ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, paused).ok());
    }
    ASSERT_EQ(paused->state(), v1::PAUSED);
  }

  // Reads a WatchJob stream to its end (or `max_events` non-heartbeat events).
  grpc::Status Watch(const std::string& job_id, int64_t after_seq, std::vector<v1::JobEvent>* out,
                     int max_events = 1 << 30, int* heartbeats = nullptr) {
    auto ctx = Ctx();
    v1::WatchJobRequest req;
    req.set_job_id(job_id);
    req.set_after_seq(after_seq);
    auto reader = stub_->WatchJob(ctx.get(), req);
    v1::JobEvent ev;
    int n = 0;
    while (reader->Read(&ev)) {
      if (ev.has_heartbeat()) {
        if (heartbeats) ++*heartbeats;
        continue;
      }
      out->push_back(ev);
      if (++n >= max_events) {
        ctx->TryCancel();
        break;
      }
    }
    return reader->Finish();
  }

  std::string dir_;
  std::string token_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TrainingService::Stub> stub_;
};

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_SERVICE_FIXTURE_H_
