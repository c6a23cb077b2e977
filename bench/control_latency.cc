// Control-plane latency under inference load (issue 9, class 6): starts a
// real trainyard server in process on 127.0.0.1:0, trains a small model with
// dropout, then keeps N concurrent Predict calls with a large mc_samples
// running while the main thread times GetJob, ListJobs, SubmitJob and
// CancelJob over the same loopback channel. Prints p50/p99/max per RPC and
// how many Predicts finished or were refused (RESOURCE_EXHAUSTED).
//   control_latency [N=3] [SECONDS=10] [MC_SAMPLES=1000] [ROWS=200]
// Not a test: never run by ctest.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/sha256.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "server/server.h"
#include "trainyard/v1/service.grpc.pb.h"

namespace {

using trainyard::v1::TrainingService;
namespace v1 = trainyard::v1;
using Clock = std::chrono::steady_clock;

template <typename M>
M FromJson(const std::string& json) {
  M m;
  if (!google::protobuf::util::JsonStringToMessage(json, &m).ok()) std::abort();
  return m;
}

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 600) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

std::string Csv() {
  std::string csv = "x1,x2,label\n";
  for (int i = 0; i < 200; ++i) {
    const double s = i % 2 ? 1.0 : -1.0;
    csv += std::to_string(s + 0.3 * std::sin(i * 1.7)) + "," +
           std::to_string(s + 0.3 * std::cos(i * 2.3)) + "," + std::to_string(i % 2) + "\n";
  }
  return csv;
}

v1::SubmitJobRequest Job(const std::string& ds, int epochs) {
  v1::SubmitJobRequest r;
  r.set_dataset_id(ds);
  *r.mutable_model() = FromJson<v1::ModelSpec>(R"({"input_dim": 2, "layers": [
      {"dense": {"units": 256}}, {"activation": {"kind": "TANH"}}, {"dropout": {"rate": 0.2}},
      {"dense": {"units": 256}}, {"activation": {"kind": "TANH"}}, {"dropout": {"rate": 0.2}},
      {"dense": {"units": 2}}]})");
  *r.mutable_training() = FromJson<v1::TrainingConfig>(R"({
      "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
      "batch_size": 20, "seed": 1})");
  r.mutable_training()->set_epochs(epochs);
  return r;
}

struct Samples {
  const char* name;
  std::vector<double> ms;
  int failed = 0;
  void Print() {
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, size_t(q * ms.size()))]; };
    std::printf("%-10s n=%-5zu p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms  failed=%d\n", name,
                ms.size(), at(0.5), at(0.99), ms.empty() ? 0.0 : ms.back(), failed);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 3;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  const int mc = argc > 3 ? std::atoi(argv[3]) : 1000;
  const int rows = argc > 4 ? std::atoi(argv[4]) : 200;

  std::string dir = (std::filesystem::temp_directory_path() / "ctl-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  trainyard::server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.data_dir = dir;
  options.durable_sync = false;
  options.workers = 1;
  auto server = trainyard::server::Server::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = TrainingService::NewStub(channel);

  // Upload, train, find the checkpoint.
  const std::string csv = Csv();
  v1::Dataset ds;
  {
    auto ctx = Ctx();
    auto writer = stub->UploadDataset(ctx.get(), &ds);
    v1::UploadDatasetRequest req;
    req.mutable_header()->set_name("bench");
    req.mutable_header()->set_format(v1::CSV);
    req.mutable_header()->mutable_csv_options()->set_has_header(true);
    writer->Write(req);
    req.Clear();
    req.set_chunk(csv);
    writer->Write(req);
    req.Clear();
    req.mutable_trailer()->set_sha256(trainyard::Sha256Hex(csv));
    writer->Write(req);
    writer->WritesDone();
    if (!writer->Finish().ok()) return 1;
  }
  v1::Job job;
  if (!stub->SubmitJob(Ctx().get(), Job(ds.id(), 2), &job).ok()) return 1;
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stub->GetJob(Ctx().get(), get, &job);
  } while (job.state() != v1::SUCCEEDED && job.state() != v1::FAILED);
  if (job.latest_checkpoint_id().empty()) return 1;
  // A long job for GetJob/CancelJob to act on.
  v1::Job target;
  stub->SubmitJob(Ctx().get(), Job(ds.id(), 1000000), &target);

  v1::PredictRequest predict;
  predict.set_checkpoint_id(job.latest_checkpoint_id());
  predict.set_mc_samples(mc);
  for (int i = 0; i < rows; ++i) {
    v1::Row* row = predict.add_rows();
    row->add_values(0.01f * i);
    row->add_values(-0.01f * i);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> predicted{0}, refused{0}, other{0};
  std::vector<std::thread> load;
  for (int i = 0; i < n; ++i) {
    load.emplace_back([&] {
      while (!stop.load()) {
        v1::PredictResponse out;
        grpc::Status s = stub->Predict(Ctx().get(), predict, &out);
        if (s.ok()) {
          ++predicted;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
          ++other;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the load start

  Samples get_s{"GetJob", {}}, list_s{"ListJobs", {}}, submit_s{"SubmitJob", {}},
      cancel_s{"CancelJob", {}};
  auto timed = [](Samples& s, auto&& call) {
    const auto t0 = Clock::now();
    const bool ok = call();
    s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!ok) ++s.failed;
  };
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    v1::Job out;
    timed(get_s, [&] { return stub->GetJob(Ctx(30).get(), get, &out).ok(); });
    v1::ListJobsResponse list;
    timed(list_s, [&] { return stub->ListJobs(Ctx(30).get(), v1::ListJobsRequest(), &list).ok(); });
    v1::Job submitted;
    timed(submit_s, [&] { return stub->SubmitJob(Ctx(30).get(), Job(ds.id(), 1), &submitted).ok(); });
    v1::CancelJobRequest cancel;
    cancel.set_job_id(submitted.id());
    timed(cancel_s, [&] { return stub->CancelJob(Ctx(30).get(), cancel, &out).ok(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop.store(true);
  std::printf("control-RPC latency with %d concurrent Predicts of %d rows x mc_samples %d, %d s:\n",
              n, rows, mc, seconds);
  get_s.Print();
  list_s.Print();
  submit_s.Print();
  cancel_s.Print();
  for (std::thread& t : load) t.join();
  std::printf("Predict: %d finished, %d refused (RESOURCE_EXHAUSTED), %d other errors\n",
              predicted.load(), refused.load(), other.load());
  (*server)->Shutdown(absl::Seconds(2));
  server->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
