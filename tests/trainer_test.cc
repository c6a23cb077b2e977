// The training loop: exact resume, pause, cancellation, NaN detection, early
// stopping, thread budgets and determinism.
#include "core/trainer.h"

#include <cmath>
#include <thread>
#include <vector>

#include "core/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"
#include "tests/testing/trainer_state.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;
using testing::BlobsDataset;
using testing::FromJson;
using testing::LayerState;
using testing::Params;

// A model touching every stateful piece: batch norm (running stats), dropout
// (RNG), Adam (moments), a cosine schedule with warm-up.
v1::ModelSpec BnDropoutModel(int dims) {
  return FromJson<v1::ModelSpec>(R"({"inputDim": )" + std::to_string(dims) + R"(,
    "layers": [{"dense": {"units": 16}}, {"batchNorm": {}},
               {"activation": {"kind": "RELU"}}, {"dropout": {"rate": 0.2}},
               {"dense": {"units": 3}}]})");
}

v1::TrainingConfig AdamConfig(int epochs) {
  v1::TrainingConfig c = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 0.01, "adam": {}},
    "schedule": {"cosine": {"tMax": 40}, "warmup": {"steps": 5}},
    "batchSize": 16, "seed": 11, "validationFraction": 0.2, "logEverySteps": 1})");
  c.set_epochs(epochs);
  return c;
}

std::unique_ptr<Trainer> MustCreate(const v1::ModelSpec& spec,
                                    const v1::TrainingConfig& config,
                                    std::shared_ptr<const Dataset> data,
                                    int threads = 1) {
  auto t = Trainer::Create(spec, config, std::move(data), nullptr,
                           TrainerOptions{threads});
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

TEST(TrainerTest, LearnsBlobs) {
  auto data = BlobsDataset(300, 5, 1);
  auto t = MustCreate(BnDropoutModel(5), AdamConfig(8), data);
  struct Last : TrainingObserver {
    v1::EpochSummary last;
    int epochs = 0;
    void OnEpoch(const v1::EpochSummary& m) override { last = m, ++epochs; }
  } obs;
  ASSERT_EQ(*t->Run(&obs, nullptr), RunOutcome::kCompleted);
  EXPECT_EQ(obs.epochs, 8);
  EXPECT_GT(obs.last.val_accuracy(), 0.9);
  EXPECT_GT(obs.last.train_accuracy(), 0.85);
  EXPECT_GT(obs.last.samples_per_second(), 0);
  EXPECT_EQ(t->step(), 8 * 15);  // 240 training samples / 16 per batch
}

TEST(TrainerTest, SameSeedSameThreadsIsBitIdentical) {
  auto data = BlobsDataset(200, 5, 2);
  auto a = MustCreate(BnDropoutModel(5), AdamConfig(3), data, 2);
  auto b = MustCreate(BnDropoutModel(5), AdamConfig(3), data, 2);
  ASSERT_TRUE(a->Run(nullptr, nullptr).ok());
  ASSERT_TRUE(b->Run(nullptr, nullptr).ok());
  EXPECT_EQ(Params(*a), Params(*b));
  EXPECT_EQ(LayerState(*a), LayerState(*b));
}

TEST(TrainerTest, DifferentSeedsDiffer) {
  auto data = BlobsDataset(200, 5, 2);
  v1::TrainingConfig other = AdamConfig(1);
  other.set_seed(12);
  auto a = MustCreate(BnDropoutModel(5), AdamConfig(1), data);
  auto b = MustCreate(BnDropoutModel(5), other, data);
  ASSERT_TRUE(a->Run(nullptr, nullptr).ok());
  ASSERT_TRUE(b->Run(nullptr, nullptr).ok());
  EXPECT_NE(Params(*a), Params(*b));
}

// Two epochs straight equal one epoch, a checkpoint through the file format,
// a fresh trainer and one more epoch, to the bit.
TEST(TrainerTest, ResumeAfterEpochIsExact) {
  auto data = BlobsDataset(200, 5, 3);
  auto straight = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  ASSERT_TRUE(straight->Run(nullptr, nullptr).ok());

  auto first = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  StopToken stop;
  struct PauseAfterEpoch : TrainingObserver {
    StopToken* stop;
    void OnEpoch(const v1::EpochSummary&) override { stop->RequestPause(); }
  } obs;
  obs.stop = &stop;
  ASSERT_EQ(*first->Run(&obs, &stop), RunOutcome::kPaused);
  EXPECT_EQ(first->epoch(), 1);
  absl::StatusOr<v1::Checkpoint> ckpt =
      DecodeCheckpoint(EncodeCheckpoint(first->MakeCheckpoint()).value());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto resumed = Trainer::Resume(*ckpt, data, nullptr, TrainerOptions{1});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(*(*resumed)->Run(nullptr, nullptr), RunOutcome::kCompleted);
  EXPECT_EQ(Params(**resumed), Params(*straight));
  EXPECT_EQ(LayerState(**resumed), LayerState(*straight));
  EXPECT_EQ((*resumed)->step(), straight->step());
}

TEST(TrainerTest, PauseMidEpochResumesExactly) {
  auto data = BlobsDataset(200, 5, 4);
  auto straight = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  ASSERT_TRUE(straight->Run(nullptr, nullptr).ok());

  auto first = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  StopToken stop;
  struct PauseAtStep : TrainingObserver {
    StopToken* stop;
    void OnStep(const StepMetrics& m) override {
      if (m.step == 17) stop->RequestPause();  // epoch 2, batch 7 of 10
    }
  } obs;
  obs.stop = &stop;
  ASSERT_EQ(*first->Run(&obs, &stop), RunOutcome::kPaused);
  EXPECT_EQ(first->step(), 17);
  v1::Checkpoint ckpt = first->MakeCheckpoint();
  EXPECT_EQ(ckpt.completed_epochs(), 1);
  EXPECT_EQ(ckpt.batches_in_epoch(), 7);
  auto resumed = Trainer::Resume(ckpt, data, nullptr, TrainerOptions{1});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  struct Last : TrainingObserver {
    v1::EpochSummary last;
    void OnEpoch(const v1::EpochSummary& m) override { last = m; }
  } obs_resumed, obs_straight;
  ASSERT_TRUE((*resumed)->Run(&obs_resumed, nullptr).ok());
  EXPECT_EQ(Params(**resumed), Params(*straight));
  EXPECT_EQ(LayerState(**resumed), LayerState(*straight));
  // The interrupted epoch's training loss counts the batches before the pause.
  auto again = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  ASSERT_TRUE(again->Run(&obs_straight, nullptr).ok());
  EXPECT_DOUBLE_EQ(obs_resumed.last.train_loss(), obs_straight.last.train_loss());
  EXPECT_DOUBLE_EQ(obs_resumed.last.val_loss(), obs_straight.last.val_loss());
}

TEST(TrainerTest, CancelStopsWithinOneStep) {
  auto data = BlobsDataset(200, 5, 5);
  auto t = MustCreate(BnDropoutModel(5), AdamConfig(50), data);
  StopToken stop;
  struct CancelAtStep : TrainingObserver {
    StopToken* stop;
    void OnStep(const StepMetrics& m) override {
      if (m.step == 3) stop->RequestCancel();
    }
  } obs;
  obs.stop = &stop;
  EXPECT_EQ(*t->Run(&obs, &stop), RunOutcome::kCancelled);
  EXPECT_EQ(t->step(), 3);
}

TEST(TrainerTest, CancelFromAnotherThread) {
  auto data = BlobsDataset(600, 5, 5);
  auto t = MustCreate(BnDropoutModel(5), AdamConfig(100000), data);
  StopToken stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.RequestCancel();
  });
  EXPECT_EQ(*t->Run(nullptr, &stop), RunOutcome::kCancelled);
  canceller.join();
  EXPECT_LT(t->epoch(), 100000);
}

TEST(TrainerTest, DivergenceStopsWithClearStatus) {
  auto data = BlobsDataset(100, 5, 6);
  v1::TrainingConfig config = FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
    "optimizer": {"learningRate": 1e30, "sgd": {}},
    "batchSize": 10, "epochs": 5, "seed": 1})");
  auto spec = FromJson<v1::ModelSpec>(R"({"inputDim": 5, "layers": [
    {"dense": {"units": 32}}, {"activation": {"kind": "RELU"}},
    {"dense": {"units": 3}}]})");
  auto t = MustCreate(spec, config, data);
  absl::StatusOr<RunOutcome> r = t->Run(nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), ::testing::ContainsRegex(
      "(loss|gradient norm) became (NaN|Inf) at epoch 1, step [0-9]+"));
}

TEST(TrainerTest, EarlyStoppingRestoresBestWeights) {
  auto data = BlobsDataset(200, 5, 7);
  v1::TrainingConfig config = AdamConfig(200);
  config.mutable_schedule()->Clear();
  config.mutable_early_stopping()->set_patience(2);
  config.mutable_early_stopping()->set_min_delta(10.0);  // nothing is enough
  config.mutable_early_stopping()->set_restore_best(true);
  auto t = MustCreate(BnDropoutModel(5), config, data);
  std::vector<std::vector<Scalar>> after_epoch;
  struct Record : TrainingObserver {
    const Trainer* t;
    std::vector<std::vector<Scalar>>* params;
    void OnEpoch(const v1::EpochSummary&) override { params->push_back(Params(*t)); }
  } obs;
  obs.t = t.get();
  obs.params = &after_epoch;
  ASSERT_EQ(*t->Run(&obs, nullptr), RunOutcome::kEarlyStopped);
  // Epoch 1 improves on +inf; epochs 2 and 3 do not beat it by 10.
  EXPECT_EQ(t->epoch(), 3);
  ASSERT_EQ(after_epoch.size(), 3u);
  EXPECT_EQ(Params(*t), after_epoch[0]);
}

TEST(TrainerTest, EarlyStoppingWithoutValidationIsRefused) {
  v1::TrainingConfig config = AdamConfig(3);
  config.set_validation_fraction(0);
  config.mutable_early_stopping()->set_patience(2);
  auto t = Trainer::Create(BnDropoutModel(5), config, BlobsDataset(50, 5, 1),
                           nullptr, TrainerOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("early_stopping.patience"));
}

TEST(TrainerTest, DatasetMismatchNamesTheField) {
  auto t = Trainer::Create(BnDropoutModel(7), AdamConfig(1), BlobsDataset(50, 5, 1),
                           nullptr, TrainerOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("model.input_dim is 7"));

  auto two_outputs = FromJson<v1::ModelSpec>(
      R"({"inputDim": 5, "layers": [{"dense": {"units": 2}}]})");
  t = Trainer::Create(two_outputs, AdamConfig(1), BlobsDataset(50, 5, 1), nullptr,
                      TrainerOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("class label 2"));

  t = Trainer::Create(BnDropoutModel(5), AdamConfig(1), BlobsDataset(50, 5, 1),
                      nullptr, TrainerOptions{0});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("threads"));
}

// Two trainers with one thread each, side by side in one process, give the
// same weights as each alone: no shared or global thread state.
TEST(TrainerTest, ConcurrentTrainersDoNotInterfere) {
  auto data = BlobsDataset(300, 5, 8);
  v1::TrainingConfig other = AdamConfig(3);
  other.set_seed(99);
  auto alone_a = MustCreate(BnDropoutModel(5), AdamConfig(3), data);
  auto alone_b = MustCreate(BnDropoutModel(5), other, data);
  ASSERT_TRUE(alone_a->Run(nullptr, nullptr).ok());
  ASSERT_TRUE(alone_b->Run(nullptr, nullptr).ok());

  auto a = MustCreate(BnDropoutModel(5), AdamConfig(3), data);
  auto b = MustCreate(BnDropoutModel(5), other, data);
  std::thread ta([&] { ASSERT_TRUE(a->Run(nullptr, nullptr).ok()); });
  std::thread tb([&] { ASSERT_TRUE(b->Run(nullptr, nullptr).ok()); });
  ta.join();
  tb.join();
  EXPECT_EQ(Params(*a), Params(*alone_a));
  EXPECT_EQ(Params(*b), Params(*alone_b));
}

TEST(TrainerTest, InitializeFromCopiesWeightsOnly) {
  auto data = BlobsDataset(200, 5, 9);
  auto base = MustCreate(BnDropoutModel(5), AdamConfig(2), data);
  ASSERT_TRUE(base->Run(nullptr, nullptr).ok());
  auto tuned = MustCreate(BnDropoutModel(5), AdamConfig(1), data);
  ASSERT_TRUE(tuned->InitializeFrom(base->MakeCheckpoint()).ok());
  EXPECT_EQ(Params(*tuned), Params(*base));
  EXPECT_EQ(tuned->step(), 0);

  auto wider = FromJson<v1::ModelSpec>(
      R"({"inputDim": 5, "layers": [{"dense": {"units": 3}}]})");
  auto other = MustCreate(wider, AdamConfig(1), data);
  absl::Status s = other->InitializeFrom(base->MakeCheckpoint());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("params"));
}

}  // namespace
}  // namespace trainyard
