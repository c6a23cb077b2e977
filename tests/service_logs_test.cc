// The operator log of a real in-process server (json lines captured through
// ServerOptions::log_sink, time from a clock that moves only when told): a
// job's lifecycle once per event and never per step, a NaN failure with its
// reason, a flood of refused calls rate-limited with the count held back,
// token refusals, a slow call, a graceful shutdown, and recovery after a
// crash (requeued, quarantined, orphan blob and temp file removed).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server/backend_internal.h"
#include "server/metadata_store.h"
#include "tests/testing/log_capture.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;

constexpr char kGetJob[] = "/trainyard.v1.TrainingService/GetJob";

class LogsTest : public ServiceFixture {
 protected:
  void StartLogged(const std::function<void(server::ServerOptions&)>& tweak = nullptr) {
    Start([&](server::ServerOptions& o) {
      o.log_format = "json";
      o.log_sink = &sink_;
      o.clock = &clock_;
      if (tweak) tweak(o);
    });
  }

  std::function<bool(const Struct&)> ForJob(const std::string& id) {
    return [id](const Struct& s) { return Str(s, "job") == id; };
  }

  grpc::Status GetJob(const std::string& id) {
    v1::GetJobRequest get;
    get.set_job_id(id);
    v1::Job job;
    return stub_->GetJob(Ctx().get(), get, &job);
  }

  // Opens the stopped server's store, lets `edit` change job `id`, closes it.
  void EditStoredJob(const std::string& id, const std::function<void(v1::Job&)>& edit) {
    server::MetadataStoreOptions options;
    options.synchronous_full = false;
    auto store = server::MetadataStore::Open(dir_ + "/trainyard.db", options);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<v1::Job> job = (*store)->GetJob(id);
    ASSERT_TRUE(job.ok()) << job.status();
    edit(*job);
    ASSERT_TRUE((*store)->UpdateJob(*job).ok());
  }

  CaptureSink sink_;
  ManualClock clock_;
};

TEST_F(LogsTest, JobLifecycleIsOneLinePerEventNeverPerStep) {
  StartLogged([&](server::ServerOptions& o) {
    // Predict "takes" 3 s: the slow-call line, without sleeping.
    o.test_hooks.before_inference = [&] { clock_.Advance(absl::Seconds(3)); };
  });
  std::optional<Struct> start = WaitEvent(sink_, "server_start");
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(Num(*start, "workers"), 1);
  EXPECT_GE(Num(*start, "cores"), 1);
  EXPECT_EQ(Str(*start, "data_dir"), dir_);
  EXPECT_EQ(Str(*start, "tls"), "off");
  EXPECT_EQ(Str(*start, "auth"), "off");
  EXPECT_EQ(Num(*start, "slow_call_ms"), 1000);
  EXPECT_TRUE(Has(*start, "max_dataset_bytes"));
  std::optional<Struct> listening = WaitEvent(sink_, "server_listening");
  ASSERT_TRUE(listening.has_value());
  EXPECT_EQ(Str(*listening, "address"), server_->address());

  const v1::Dataset ds = UploadOk();
  ASSERT_TRUE(WaitEvent(sink_, "dataset_created", [&](const Struct& s) {
    return Str(s, "dataset") == ds.id() && Num(s, "rows") == 60;
  }).has_value());
  const v1::Job job = SubmitOk(TinyJob(ds.id(), 3));
  std::optional<Struct> finished = WaitEvent(sink_, "job_finished", ForJob(job.id()));
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(Str(*finished, "state"), "SUCCEEDED");
  EXPECT_EQ(Str(*finished, "level"), "info");
  EXPECT_EQ(Num(*finished, "epoch"), 3);
  EXPECT_EQ(Num(*finished, "step"), 18);  // 60 rows / batch 10 x 3 epochs

  std::vector<Struct> submitted = Events(sink_, "job_submitted", ForJob(job.id()));
  ASSERT_EQ(submitted.size(), 1u);
  EXPECT_EQ(Str(submitted[0], "dataset"), ds.id());
  EXPECT_EQ(Num(submitted[0], "threads"), 1);
  EXPECT_EQ(Num(submitted[0], "epochs"), 3);
  std::vector<Struct> started = Events(sink_, "job_started", ForJob(job.id()));
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(Num(started[0], "worker"), 0);
  EXPECT_FALSE(started[0].fields().at("resumed").bool_value());
  EXPECT_EQ(Str(started[0], "from_checkpoint"), "none");
  // checkpoint_every_epochs 1: after epochs 1 and 2, and the final one.
  std::vector<Struct> saved = Events(sink_, "checkpoint_saved", ForJob(job.id()));
  ASSERT_EQ(saved.size(), 3u);
  EXPECT_EQ(Str(saved[0], "kind"), "PERIODIC");
  EXPECT_EQ(Num(saved[0], "epoch"), 1);
  EXPECT_EQ(Num(saved[0], "step"), 6);
  EXPECT_EQ(Str(saved[2], "kind"), "FINAL");
  EXPECT_EQ(Num(saved[2], "epoch"), 3);
  EXPECT_GT(Num(saved[2], "bytes"), 100);
  EXPECT_TRUE(Has(saved[2], "ms"));
  const std::string final_checkpoint = Str(saved[2], "checkpoint");
  EXPECT_EQ(final_checkpoint.size(), 64u);
  // 18 steps, 6 lines: submitted, started, 3 checkpoints, finished.
  size_t job_lines = 0;
  for (const std::string& line : sink_.Lines()) {
    if (Str(ParseJsonLine(line), "job") == job.id()) ++job_lines;
  }
  EXPECT_EQ(job_lines, 6u);

  v1::PredictRequest predict;
  predict.set_checkpoint_id(final_checkpoint);
  auto* row = predict.add_rows();
  row->add_values(1);
  row->add_values(1);
  v1::PredictResponse out;
  ASSERT_TRUE(stub_->Predict(Ctx().get(), predict, &out).ok());
  std::vector<Struct> slow = Events(sink_, "rpc_slow");
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(Str(slow[0], "method"), "/trainyard.v1.TrainingService/Predict");
  EXPECT_EQ(Str(slow[0], "code"), "OK");
  EXPECT_EQ(Num(slow[0], "ms"), 3000);
  EXPECT_EQ(Str(slow[0], "level"), "warn");
}

TEST_F(LogsTest, DivergedJobFinishesFailedWithTheReason) {
  StartLogged();
  const v1::Dataset ds = UploadOk();
  // Unbounded ReLU activations and a huge SGD step: the loss overflows.
  v1::SubmitJobRequest r = TinyJob(ds.id(), 50);
  *r.mutable_model() = FromJson<v1::ModelSpec>(R"({
    "input_dim": 2,
    "layers": [{"dense": {"units": 32}}, {"activation": {"kind": "RELU"}},
               {"dense": {"units": 2}}]})");
  r.mutable_training()->mutable_optimizer()->mutable_sgd();
  r.mutable_training()->mutable_optimizer()->set_learning_rate(1e30);
  const v1::Job job = SubmitOk(r);
  std::optional<Struct> finished = WaitEvent(sink_, "job_finished", ForJob(job.id()));
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(Str(*finished, "state"), "FAILED");
  EXPECT_EQ(Str(*finished, "level"), "warn");
  EXPECT_EQ(Str(*finished, "reason"), "training failed");
  EXPECT_EQ(Str(*finished, "code"), "FAILED_PRECONDITION");
  EXPECT_NE(Str(*finished, "error").find("became"), std::string::npos) << Str(*finished, "error");
  EXPECT_NE(Str(*finished, "error").find("NaN") + Str(*finished, "error").find("Inf"),
            2 * std::string::npos)
      << Str(*finished, "error");
}

TEST_F(LogsTest, RefusedFloodIsRateLimitedAndTheHeldBackCountFollows) {
  StartLogged();
  constexpr int kCalls = 30;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(GetJob("not-a-job").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto get_job = [](const Struct& s) { return Str(s, "method") == kGetJob; };
  std::vector<Struct> refused = Events(sink_, "rpc_refused", get_job);
  ASSERT_EQ(refused.size(), static_cast<size_t>(server::RequestLog::kRefusedPerSecond));
  EXPECT_EQ(Str(refused[0], "code"), "INVALID_ARGUMENT");
  EXPECT_NE(Str(refused[0], "error").find("job_id"), std::string::npos);
  EXPECT_EQ(Num(refused[0], "suppressed"), 0);
  clock_.Advance(absl::Seconds(2));
  ASSERT_EQ(GetJob("not-a-job").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  refused = Events(sink_, "rpc_refused", get_job);
  ASSERT_EQ(refused.size(), static_cast<size_t>(server::RequestLog::kRefusedPerSecond) + 1);
  EXPECT_EQ(Num(refused.back(), "suppressed"), kCalls - server::RequestLog::kRefusedPerSecond);
  // An unknown job is NOT_FOUND: its own key, its own budget.
  ASSERT_EQ(GetJob("job-0000000000000000").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Events(sink_, "rpc_refused", [](const Struct& s) {
              return Str(s, "code") == "NOT_FOUND";
            }).size(),
            1u);
}

TEST_F(LogsTest, TokenRefusalsAreLoggedOnceEachAndTheTokenNever) {
  std::string tmpl = (fs::temp_directory_path() / "logs-token-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string token_file = tmpl + "/token";
  std::ofstream(token_file) << "sup3r-s3cret\n";
  StartLogged([&](server::ServerOptions& o) { o.auth_token_file = token_file; });
  for (int i = 0; i < 3; ++i) {
    v1::ListJobsResponse list;
    ASSERT_EQ(stub_->ListJobs(Ctx().get(), v1::ListJobsRequest(), &list).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  token_ = "sup3r-s3cret";
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), v1::ListJobsRequest(), &list).ok());
  std::vector<Struct> refused = Events(sink_, "rpc_refused");
  ASSERT_EQ(refused.size(), 3u);  // not 0 (the auth filter's), not 6 (twice)
  EXPECT_EQ(Str(refused[0], "method"), "/trainyard.v1.TrainingService/ListJobs");
  EXPECT_EQ(Str(refused[0], "code"), "UNAUTHENTICATED");
  EXPECT_EQ(Str(refused[0], "level"), "warn");
  std::optional<Struct> start = WaitEvent(sink_, "server_start");
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(Str(*start, "auth"), "on");
  for (const std::string& line : sink_.Lines()) {
    EXPECT_EQ(line.find("sup3r-s3cret"), std::string::npos) << line;
  }
  fs::remove_all(tmpl);
}

TEST_F(LogsTest, GracefulShutdownSavesAndRequeuesBetweenBeginAndEnd) {
  StartLogged();
  const v1::Dataset ds = UploadOk();
  const v1::Job job = SubmitOk(TinyJob(ds.id(), 100000));
  ASSERT_TRUE(WaitEvent(sink_, "job_started", ForJob(job.id())).has_value());
  server_->Shutdown(absl::Seconds(10));
  std::vector<std::string> order;
  for (const std::string& line : sink_.Lines()) order.push_back(Str(ParseJsonLine(line), "event"));
  auto at = [&](const std::string& event) {
    return std::find(order.begin(), order.end(), event) - order.begin();
  };
  ASSERT_LT(at("shutdown_begin"), static_cast<long>(order.size()));
  ASSERT_LT(at("shutdown_end"), static_cast<long>(order.size()));
  EXPECT_LT(at("shutdown_begin"), at("job_finished"));
  EXPECT_LT(at("job_finished"), at("shutdown_end"));
  std::vector<Struct> saved = Events(sink_, "checkpoint_saved", [&](const Struct& s) {
    return Str(s, "job") == job.id() && Str(s, "kind") == "SHUTDOWN";
  });
  EXPECT_EQ(saved.size(), 1u);
  std::vector<Struct> finished = Events(sink_, "job_finished", ForJob(job.id()));
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(Str(finished[0], "state"), "QUEUED");
  EXPECT_EQ(Str(finished[0], "reason"), "server shutdown");
}

TEST_F(LogsTest, RecoveryAfterACrashSaysWhatItDid) {
  auto two_workers = [](server::ServerOptions& o) { o.workers = 2; };
  StartLogged(two_workers);
  const v1::Dataset ds = UploadOk();
  const v1::Job poison = SubmitOk(TinyJob(ds.id(), 100000));
  const v1::Job innocent = SubmitOk(TinyJob(ds.id(), 100000));
  ASSERT_TRUE(WaitEvent(sink_, "job_started", ForJob(poison.id())).has_value());
  ASSERT_TRUE(WaitEvent(sink_, "job_started", ForJob(innocent.id())).has_value());
  // The innocent job has a checkpoint to resume from.
  ASSERT_TRUE(WaitEvent(sink_, "checkpoint_saved", ForJob(innocent.id())).has_value());
  stub_.reset();
  server_.reset();  // stopped, not shut down: as a crash
  EditStoredJob(poison.id(),
                [](v1::Job& j) { j.set_crash_restarts(server::kMaxCrashRestarts - 1); });
  // What a crash mid-upload leaves: a temp file, and a blob no row names.
  const std::string orphan = Sha256Hex("nobody's bytes");
  fs::create_directories(dir_ + "/blobs/" + orphan.substr(0, 2));
  std::ofstream(dir_ + "/blobs/" + orphan.substr(0, 2) + "/" + orphan) << "nobody's bytes";
  std::ofstream(dir_ + "/blobs/tmp/upload.tmp") << "half an upload";
  const size_t before = sink_.Lines().size();

  StartLogged(two_workers);
  auto after_restart = [&](std::string_view event, const std::string& job_id = "") {
    std::vector<Struct> out;
    const std::vector<std::string> lines = sink_.Lines();
    for (size_t i = before; i < lines.size(); ++i) {
      Struct s = ParseJsonLine(lines[i]);
      if (Str(s, "event") == event && (job_id.empty() || Str(s, "job") == job_id)) {
        out.push_back(s);
      }
    }
    return out;
  };
  std::vector<Struct> quarantined = after_restart("job_quarantined", poison.id());
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_EQ(Str(quarantined[0], "level"), "warn");
  EXPECT_EQ(Num(quarantined[0], "crash_restarts"), server::kMaxCrashRestarts);
  EXPECT_NE(Str(quarantined[0], "error").find("quarantined"), std::string::npos);
  std::vector<Struct> requeued = after_restart("job_requeued", innocent.id());
  ASSERT_EQ(requeued.size(), 1u);
  EXPECT_EQ(Num(requeued[0], "crash_restarts"), 1);
  const std::string resume_from = Str(requeued[0], "resume_from");
  EXPECT_EQ(resume_from.size(), 64u) << resume_from;
  std::vector<Struct> removed = after_restart("orphan_blob_removed");
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_NE(Str(removed[0], "path").find(orphan), std::string::npos);
  std::vector<Struct> temp = after_restart("temp_files_removed");
  ASSERT_EQ(temp.size(), 1u);
  EXPECT_EQ(Num(temp[0], "count"), 1);
  std::vector<Struct> done = after_restart("recovery_done");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Num(done[0], "requeued"), 1);
  EXPECT_EQ(Num(done[0], "quarantined"), 1);
  EXPECT_EQ(Num(done[0], "orphan_blobs_removed"), 1);
  EXPECT_EQ(Num(done[0], "temp_files_removed"), 1);
  // server_start comes before recovery, server_listening after it.
  std::vector<std::string> order;
  const std::vector<std::string> lines = sink_.Lines();
  for (size_t i = before; i < lines.size(); ++i) order.push_back(Str(ParseJsonLine(lines[i]), "event"));
  auto at = [&](const std::string& e) { return std::find(order.begin(), order.end(), e) - order.begin(); };
  EXPECT_LT(at("server_start"), at("job_quarantined"));
  EXPECT_LT(at("recovery_done"), at("server_listening"));
  // And the requeued job starts again from its checkpoint.
  std::optional<Struct> restarted = WaitEvent(sink_, "job_started", [&](const Struct& s) {
    return Str(s, "job") == innocent.id() && s.fields().at("resumed").bool_value();
  });
  ASSERT_TRUE(restarted.has_value());
  EXPECT_EQ(Str(*restarted, "from_checkpoint"), resume_from);
}

}  // namespace
}  // namespace trainyard::testing
