// TrainingObserverList: every callback reaches every observer, in order.
#include "core/training_observer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/specs.h"

namespace trainyard {
namespace {

using ::testing::ElementsAre;

// Appends "<name>:<callback> <value>" to a log shared by several observers.
class Named final : public TrainingObserver {
 public:
  Named(std::string name, std::vector<std::string>* log)
      : name_(std::move(name)), log_(log) {}
  void OnStep(const StepMetrics& m) override {
    log_->push_back(absl::StrCat(name_, ":step ", m.step));
  }
  void OnEpoch(const v1::EpochSummary& s) override {
    log_->push_back(absl::StrCat(name_, ":epoch ", s.epoch()));
  }
  void OnCheckpoint(const v1::Checkpoint& c) override {
    log_->push_back(absl::StrCat(name_, ":checkpoint ", c.step()));
  }

 private:
  const std::string name_;
  std::vector<std::string>* const log_;
};

TEST(TrainingObserverListTest, ForwardsEveryCallbackToEveryObserverInOrder) {
  std::vector<std::string> log;
  Named a("a", &log), b("b", &log), c("c", &log);
  TrainingObserverList list{&a, nullptr, &b};
  list.Add(&c);
  list.Add(nullptr);
  EXPECT_FALSE(list.empty());

  list.OnStep(StepMetrics{7, 1, 0.5, 0.1, 2.0});
  v1::EpochSummary summary;
  summary.set_epoch(3);
  list.OnEpoch(summary);
  v1::Checkpoint checkpoint;
  checkpoint.set_step(40);
  list.OnCheckpoint(checkpoint);
  EXPECT_THAT(log, ElementsAre("a:step 7", "b:step 7", "c:step 7",     //
                               "a:epoch 3", "b:epoch 3", "c:epoch 3",  //
                               "a:checkpoint 40", "b:checkpoint 40",
                               "c:checkpoint 40"));
}

// A list of nulls is empty and passes its callbacks to nobody: an observer
// added afterwards sees only what comes after it (nothing is kept or
// replayed), and the nulls are never called.
TEST(TrainingObserverListTest, EmptyListReachesNobodyAndALateObserverOnlyWhatFollows) {
  std::vector<std::string> log;
  TrainingObserverList list{nullptr, nullptr};
  list.Add(nullptr);
  EXPECT_TRUE(list.empty());
  auto report = [&list](int n) {
    list.OnStep(StepMetrics{n, n, 0.5, 0.1, 2.0});
    v1::EpochSummary summary;
    summary.set_epoch(n);
    list.OnEpoch(summary);
    v1::Checkpoint checkpoint;
    checkpoint.set_step(n);
    list.OnCheckpoint(checkpoint);
  };
  report(1);
  Named late("late", &log);
  list.Add(&late);
  EXPECT_FALSE(list.empty());
  report(2);
  EXPECT_THAT(log, ElementsAre("late:step 2", "late:epoch 2", "late:checkpoint 2"));
}

// Two listeners on one training run see the same reports, each in the
// trainer's order, the first before the second every time.
TEST(TrainingObserverListTest, TwoListenersOnOneRunSeeTheSameReports) {
  auto config = testing::FromJson<v1::TrainingConfig>(R"({
    "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"sgd": {}},
    "batchSize": 50, "epochs": 2, "seed": 1, "logEverySteps": 2,
    "checkpointEveryEpochs": 1})");
  auto spec = testing::FromJson<v1::ModelSpec>(
      R"({"inputDim": 5, "layers": [{"dense": {"units": 3}}]})");
  auto t = Trainer::Create(spec, config, testing::BlobsDataset(150, 5, 1), nullptr,
                           TrainerOptions{});
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<std::string> log;
  Named events("events", &log), metrics("metrics", &log);
  TrainingObserverList list{&events, &metrics};
  ASSERT_EQ(*(*t)->Run(&list, nullptr), RunOutcome::kCompleted);
  // 3 steps an epoch, every second one logged; a checkpoint after epoch 1
  // only (none after the last).
  EXPECT_THAT(log, ElementsAre("events:step 2", "metrics:step 2",        //
                               "events:epoch 1", "metrics:epoch 1",      //
                               "events:checkpoint 3", "metrics:checkpoint 3",
                               "events:step 4", "metrics:step 4",        //
                               "events:step 6", "metrics:step 6",        //
                               "events:epoch 2", "metrics:epoch 2"));
}

}  // namespace
}  // namespace trainyard
