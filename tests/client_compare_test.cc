// jobs compare: configuration paths, which of them vary, ranking by the best
// epoch, and the table a user reads.
#include "client/compare.h"

#include <gtest/gtest.h>

#include "client/errors.h"

namespace trainyard::client {
namespace {

v1::Job MakeJob(const std::string& id, double lr, bool adam) {
  v1::Job job;
  job.set_id(id);
  job.set_state(v1::SUCCEEDED);
  job.set_dataset_id("ds-1");
  v1::ModelSpec* model = job.mutable_model();
  model->set_input_dim(2);
  model->add_layers()->mutable_dense()->set_units(8);
  model->add_layers()->mutable_activation()->set_kind(v1::RELU);
  v1::TrainingConfig* t = job.mutable_training();
  t->set_epochs(3);
  t->mutable_optimizer()->set_learning_rate(lr);
  if (adam) {
    t->mutable_optimizer()->mutable_adam()->set_beta1(0.9f);
  } else {
    t->mutable_optimizer()->mutable_sgd()->set_momentum(0.9f);
  }
  return job;
}

v1::EpochSummary EpochOf(int epoch, double val_loss, double val_acc) {
  v1::EpochSummary e;
  e.set_epoch(epoch);
  e.set_train_loss(val_loss + 0.1);
  e.set_train_accuracy(-1);
  e.set_val_loss(val_loss);
  e.set_val_accuracy(val_acc);
  return e;
}

TEST(FlattenConfig, PathsNameFieldsListIndicesAndOneofChoices) {
  const std::map<std::string, std::string> config = FlattenConfig(MakeJob("job-a", 0.1, false));
  EXPECT_EQ(config.at("model.input_dim"), "2");
  EXPECT_EQ(config.at("model.layers[0]"), "dense");
  EXPECT_EQ(config.at("model.layers[0].dense.units"), "8");
  EXPECT_EQ(config.at("model.layers[1].activation.kind"), "RELU");
  EXPECT_EQ(config.at("training.optimizer.kind"), "sgd");
  EXPECT_EQ(config.at("training.optimizer.learning_rate"), "0.1");
  EXPECT_EQ(config.at("training.optimizer.sgd.momentum"), "0.9");  // the float's own form
  EXPECT_EQ(config.at("dataset_id"), "ds-1");
  EXPECT_EQ(config.at("validation_dataset_id"), "-");
}

TEST(EpochHistory, TheLastSummaryOfAnEpochWins) {
  std::vector<v1::JobEvent> events(3);
  *events[0].mutable_epoch_metrics() = EpochOf(1, 0.9, 0.5);
  *events[1].mutable_epoch_metrics() = EpochOf(1, 0.8, 0.6);  // reported again after a resume
  *events[2].mutable_epoch_metrics() = EpochOf(2, 0.7, 0.7);
  const std::vector<v1::EpochSummary> epochs = EpochHistory(events);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0].val_loss(), 0.8);
  EXPECT_EQ(epochs[1].epoch(), 2);
}

TEST(Compare, RanksBestFirstAndShowsOnlyVariedPaths) {
  std::vector<JobRun> runs = {
      {MakeJob("job-a", 0.1, false), {EpochOf(1, 0.9, 0.50), EpochOf(2, 0.8, 0.60)}},
      {MakeJob("job-b", 0.01, true), {EpochOf(1, 0.5, 0.80), EpochOf(2, 0.6, 0.75)}},
      {MakeJob("job-c", 0.1, true), {}},  // never finished an epoch
  };
  EXPECT_EQ(DefaultRankingMetric(runs), "val_accuracy");
  absl::StatusOr<Comparison> c = Compare(runs, "val_accuracy");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->varied, (std::vector<std::string>{
                           "training.optimizer.adam.beta1", "training.optimizer.kind",
                           "training.optimizer.learning_rate", "training.optimizer.sgd.momentum"}));
  ASSERT_EQ(c->ranked.size(), 3u);
  EXPECT_EQ(c->ranked[0]->job.id(), "job-b");
  EXPECT_EQ(c->ranked[1]->job.id(), "job-a");
  EXPECT_EQ(c->ranked[2]->job.id(), "job-c");  // no metric: last

  const std::vector<std::vector<std::string>> table = ComparisonTable(*c);
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table[0], (std::vector<std::string>{
                          "JOB", "NAME", "STATE", "EPOCHS", "TRAIN_LOSS", "VAL_LOSS", "VAL_ACC",
                          "BEST_VAL_ACC", "@EPOCH", "training.optimizer.adam.beta1",
                          "training.optimizer.kind", "training.optimizer.learning_rate",
                          "training.optimizer.sgd.momentum"}));
  // Final values are the last epoch's; the best is epoch 1's 0.8.
  EXPECT_EQ(table[1], (std::vector<std::string>{"job-b", "-", "SUCCEEDED", "2", "0.7000",
                                                "0.6000", "0.7500", "0.8000", "1", "0.9", "adam",
                                                "0.01", "-"}));
  EXPECT_EQ(table[3][7], "-");

  // Ranking by a loss puts the lowest first.
  absl::StatusOr<Comparison> by_loss = Compare(runs, "val_loss");
  ASSERT_TRUE(by_loss.ok());
  EXPECT_EQ(by_loss->ranked[0]->job.id(), "job-b");
  EXPECT_EQ(ComparisonTable(*by_loss)[0][7], "BEST_VAL_LOSS");

  const google::protobuf::Struct json = ComparisonJson(*c);
  const auto& first = json.fields().at("jobs").list_value().values(0).struct_value().fields();
  EXPECT_EQ(first.at("job_id").string_value(), "job-b");
  EXPECT_EQ(first.at("best").struct_value().fields().at("value").number_value(), 0.8);
  EXPECT_EQ(first.at("params").struct_value().fields().at("training.optimizer.kind").string_value(),
            "adam");
}

TEST(Compare, DefaultMetricFallsBackAndUnknownMetricIsAUsageError) {
  std::vector<JobRun> no_validation = {{MakeJob("job-a", 0.1, false), {EpochOf(1, -1, -1)}}};
  EXPECT_EQ(DefaultRankingMetric(no_validation), "train_loss");
  absl::StatusOr<Comparison> bad = Compare(no_validation, "accuracy");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsUsageError(bad.status()));
  EXPECT_NE(bad.status().message().find("--metric"), std::string::npos);
  // One job: nothing varies.
  absl::StatusOr<Comparison> one = Compare(no_validation, "train_loss");
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->varied.empty());
}

}  // namespace
}  // namespace trainyard::client
