// What per-layer diagnostics (TrainingConfig.diagnostics) cost: trains the
// same Fashion-MNIST model with the core alone, alternately without and with
// diagnostics (histograms on), in one process, and prints a line per run and
// a summary:
//   round 1 plain 12.345 s
//   round 1 diagnosed 12.401 s (9 snapshots)
//   ...
//   diagnostics every_steps=50 model=bn rounds=3 ratio_median=1.004 ratios=1.005,1.004,0.999
//     snapshot_ms=2.1 step_ms=15.2 expected_ratio=1.003
// where each round's ratio is its diagnosed time over its plain time, and
// expected_ratio is 1 + (one snapshot's time, measured alone after each plain
// run) / (every_steps plain steps' time): the same figure with far less noise
// from other load on the machine. The
// order within a round alternates (plain first in odd rounds), so that a
// machine getting busier or quieter does not favour one side. The observer
// copies each snapshot, as the server's event log does.
// Usage: diagnostics_bench [--model plain|bn] [--every N] [--rounds R]
//                          [--epochs E] [--threads T]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/data/file_util.h"
#include "core/diagnostics.h"
#include "core/spec_json.h"
#include "core/trainer.h"

namespace {

constexpr char kData[] = "/usr/share/datasets/fashion-mnist/";

// bench/train_bench.cc's networks.
constexpr char kPlain[] = R"({"inputDim": 784, "layers": [
  {"dense": {"units": 256}}, {"activation": {"kind": "RELU"}},
  {"dense": {"units": 128}}, {"activation": {"kind": "RELU"}},
  {"dense": {"units": 10}}]})";
constexpr char kBn[] = R"({"inputDim": 784, "layers": [
  {"dense": {"units": 512}}, {"batchNorm": {}}, {"activation": {"kind": "RELU"}},
  {"dropout": {"rate": 0.2}},
  {"dense": {"units": 256}}, {"batchNorm": {}}, {"activation": {"kind": "RELU"}},
  {"dropout": {"rate": 0.2}},
  {"dense": {"units": 10}}]})";

std::shared_ptr<const trainyard::Dataset> LoadTrain() {
  auto images = trainyard::ReadFile(std::string(kData) + "train-images-idx3-ubyte.gz");
  auto labels = trainyard::ReadFile(std::string(kData) + "train-labels-idx1-ubyte.gz");
  if (!images.ok() || !labels.ok()) {
    std::fprintf(stderr, "cannot read Fashion-MNIST (apt-get install dataset-fashion-mnist)\n");
    std::exit(2);
  }
  auto data = trainyard::LoadIdx(*images, *labels, trainyard::v1::SCALE_01);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", std::string(data.status().message()).c_str());
    std::exit(2);
  }
  return *data;
}

struct Keeper : trainyard::TrainingObserver {
  std::vector<trainyard::v1::DiagnosticsSnapshot> kept;
  void OnDiagnostics(const trainyard::v1::DiagnosticsSnapshot& s) override {
    kept.push_back(s);
  }
};

// Seconds of one snapshot (BeforeUpdate + Measure, histograms on) of the
// trained model's latest step, the mean over `n` (less sensitive to other
// load on the machine than the ratio of two whole runs).
double TimeSnapshot(const trainyard::Trainer& trainer, int n) {
  trainyard::v1::DiagnosticsConfig config;
  config.set_every_steps(1);
  config.set_histograms(true);
  trainyard::DiagnosticsRecorder recorder(trainer.model(), config);
  trainyard::v1::DiagnosticsSnapshot snapshot;
  std::vector<trainyard::v1::DiagnosticsSnapshot> kept;  // as the observer copies
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    recorder.BeforeUpdate(trainer.model());
    recorder.Measure(trainer.model(), i + 1, 1, &snapshot);
    kept.push_back(snapshot);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / n;
}

// Wall seconds of one whole run, and the snapshots it produced.
double TimeRun(const trainyard::v1::ModelSpec& spec, const trainyard::v1::TrainingConfig& config,
               const std::shared_ptr<const trainyard::Dataset>& train, int threads,
               size_t* snapshots, double* snapshot_seconds = nullptr) {
  auto trainer =
      trainyard::Trainer::Create(spec, config, train, nullptr, trainyard::TrainerOptions{threads});
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    std::exit(1);
  }
  Keeper keeper;
  const auto start = std::chrono::steady_clock::now();
  auto outcome = (*trainer)->Run(&keeper, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!outcome.ok()) {
    std::fprintf(stderr, "%s\n", outcome.status().ToString().c_str());
    std::exit(1);
  }
  *snapshots = keeper.kept.size();
  if (snapshot_seconds != nullptr) *snapshot_seconds = TimeSnapshot(**trainer, 50);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "bn";
  int every = 50, rounds = 3, epochs = 1, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--every")) every = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  auto spec = trainyard::ParseModelSpecJson(model == "bn" ? kBn : kPlain);
  auto config = trainyard::ParseTrainingConfigJson(
      R"({"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
          "optimizer": {"learningRate": 0.001, "adam": {}},
          "batchSize": 128, "seed": 1, "logEverySteps": 1000000})");
  if (!spec.ok() || !config.ok() || every < 1 || rounds < 1) return 2;
  config->set_epochs(epochs);
  trainyard::v1::TrainingConfig diagnosed = *config;
  diagnosed.mutable_diagnostics()->set_every_steps(every);
  diagnosed.mutable_diagnostics()->set_histograms(true);
  const auto train = LoadTrain();

  std::vector<double> ratios;
  double snapshot_s = 0, step_s = 0;
  const int64_t steps_per_run = (train->num_samples() + 127) / 128 * epochs;
  for (int r = 1; r <= rounds; ++r) {
    double plain_s = 0, diag_s = 0;
    size_t plain_n = 0, diag_n = 0;
    for (int k = 0; k < 2; ++k) {
      const bool diag_now = (k == 0) == (r % 2 == 0);  // odd rounds: plain first
      if (diag_now) {
        diag_s = TimeRun(*spec, diagnosed, train, threads, &diag_n);
        std::printf("round %d diagnosed %.3f s (%zu snapshots)\n", r, diag_s, diag_n);
      } else {
        double one = 0;
        plain_s = TimeRun(*spec, *config, train, threads, &plain_n, &one);
        std::printf("round %d plain %.3f s (%zu snapshots); one snapshot %.3f ms\n", r, plain_s,
                    plain_n, one * 1e3);
        snapshot_s += one / rounds;
        step_s += plain_s / static_cast<double>(steps_per_run) / rounds;
      }
      std::fflush(stdout);
    }
    ratios.push_back(diag_s / plain_s);
  }
  std::string list;
  for (double q : ratios) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", list.empty() ? "" : ",", q);
    list += buf;
  }
  std::vector<double> sorted = ratios;
  std::sort(sorted.begin(), sorted.end());
  std::printf("diagnostics every_steps=%d model=%s threads=%d rounds=%d ratio_median=%.3f "
              "ratios=%s snapshot_ms=%.3f step_ms=%.3f expected_ratio=%.4f\n",
              every, model.c_str(), threads, rounds, sorted[sorted.size() / 2], list.c_str(),
              snapshot_s * 1e3, step_s * 1e3, 1 + snapshot_s / (every * step_s));
  return 0;
}
