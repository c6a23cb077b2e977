// trainyard side of bench/vs_pytorch.sh: trains a Fashion-MNIST model with the
// core alone (no server) and prints one line:
//   trainyard model=plain epochs=1 threads=1 samples_per_s=61234.5 test_acc=0.8521
// Usage: train_bench --model plain|bn [--epochs N] [--threads T] [--batch B]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/data/file_util.h"
#include "core/evaluate.h"
#include "core/spec_json.h"
#include "core/trainer.h"

namespace {

constexpr char kData[] = "/usr/share/datasets/fashion-mnist/";

// The same networks as bench/vs_pytorch.py.
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

std::shared_ptr<const trainyard::Dataset> Load(const std::string& prefix) {
  auto images = trainyard::ReadFile(std::string(kData) + prefix + "-images-idx3-ubyte.gz");
  auto labels = trainyard::ReadFile(std::string(kData) + prefix + "-labels-idx1-ubyte.gz");
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

}  // namespace

int main(int argc, char** argv) {
  std::string model = "plain";
  int epochs = 1, threads = 1, batch = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
  }
  auto spec = trainyard::ParseModelSpecJson(model == "bn" ? kBn : kPlain);
  auto config = trainyard::ParseTrainingConfigJson(
      R"({"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
          "optimizer": {"learningRate": 0.001, "adam": {}},
          "schedule": {"unit": "EPOCHS", "cosine": {"tMax": )" +
      std::to_string(epochs) + R"(}}, "seed": 1, "logEverySteps": 1000000})");
  if (!spec.ok() || !config.ok()) return 2;
  config->set_batch_size(batch);
  config->set_epochs(epochs);
  auto train = Load("train");
  auto test = Load("t10k");
  auto trainer = trainyard::Trainer::Create(*spec, *config, train, nullptr,
                                            trainyard::TrainerOptions{threads});
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    return 1;
  }
  struct Timer : trainyard::TrainingObserver {
    double seconds = 0;
    void OnEpoch(const trainyard::v1::EpochSummary& m) override { seconds += m.epoch_seconds(); }
  } timer;
  auto outcome = (*trainer)->Run(&timer, nullptr);
  if (!outcome.ok()) {
    std::fprintf(stderr, "%s\n", outcome.status().ToString().c_str());
    return 1;
  }
  auto predictor = trainyard::Predictor::Create((*trainer)->MakeCheckpoint(), threads);
  if (!predictor.ok()) return 1;
  auto metrics = (*predictor)->Evaluate(*test);
  if (!metrics.ok()) return 1;
  std::printf("trainyard model=%s epochs=%d threads=%d samples_per_s=%.1f test_acc=%.4f\n",
              model.c_str(), epochs, threads,
              static_cast<double>(train->num_samples()) * epochs / timer.seconds,
              metrics->accuracy);
  return 0;
}
