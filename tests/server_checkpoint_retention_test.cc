// The retention decision (server/checkpoint_retention.h) and the ranking it
// shares with the CLI's JOB:best (core/checkpoint_rank.h), as pure functions.
#include "server/checkpoint_retention.h"

#include <limits>
#include <string>
#include <vector>

#include "core/checkpoint_rank.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A checkpoint "c<step>" at `step` with val_loss `val` (-1: no validation),
// train_loss `train`.
v1::CheckpointInfo Ckpt(int step, double val, double train = 1.0,
                        v1::CheckpointReason reason = v1::PERIODIC) {
  v1::CheckpointInfo c;
  c.set_id("c" + std::to_string(step));
  c.set_step(step);
  c.set_reason(reason);
  c.mutable_created_at()->set_seconds(1000 + step);
  c.mutable_metrics()->set_val_loss(val);
  c.mutable_metrics()->set_train_loss(train);
  c.mutable_metrics()->set_val_accuracy(val < 0 ? -1 : 1 - val);
  c.mutable_metrics()->set_train_accuracy(-1);
  return c;
}

v1::CheckpointRetention Policy(int keep_last, int keep_best,
                               v1::RetentionMetric metric = v1::RETENTION_METRIC_UNSPECIFIED) {
  v1::CheckpointRetention p;
  p.set_keep_last(keep_last);
  p.set_keep_best(keep_best);
  p.set_metric(metric);
  return p;
}

TEST(CheckpointRetentionTest, UnsetPolicyKeepsEverything) {
  const std::vector<v1::CheckpointInfo> all = {Ckpt(1, 0.5), Ckpt(2, 0.4), Ckpt(3, 0.3)};
  EXPECT_THAT(CheckpointsToPrune(v1::CheckpointRetention(), all, "c3"), IsEmpty());
}

TEST(CheckpointRetentionTest, KeepLastKeepsTheNewestBySteps) {
  // Given out of order: the decision sorts by step itself.
  const std::vector<v1::CheckpointInfo> all = {Ckpt(3, 0.3), Ckpt(1, 0.5), Ckpt(4, 0.2),
                                               Ckpt(2, 0.4)};
  // In the order given.
  EXPECT_THAT(CheckpointsToPrune(Policy(2, 0), all, "c4"), ElementsAre("c1", "c2"));
  EXPECT_THAT(CheckpointsToPrune(Policy(1, 0), all, "c4"), ElementsAre("c3", "c1", "c2"));
  EXPECT_THAT(CheckpointsToPrune(Policy(10, 0), all, "c4"), IsEmpty());
}

TEST(CheckpointRetentionTest, KeepBestRanksByTheMetric) {
  // val_loss best at step 2; train_loss best at step 1.
  const std::vector<v1::CheckpointInfo> all = {Ckpt(1, 0.9, 0.1), Ckpt(2, 0.2, 0.5),
                                               Ckpt(3, 0.6, 0.4), Ckpt(4, 0.7, 0.3)};
  EXPECT_THAT(CheckpointsToPrune(Policy(1, 1, v1::RETAIN_MIN_VAL_LOSS), all, "c4"),
              ElementsAre("c1", "c3"));
  EXPECT_THAT(CheckpointsToPrune(Policy(1, 1, v1::RETAIN_MIN_TRAIN_LOSS), all, "c4"),
              ElementsAre("c2", "c3"));
  // val_accuracy = 1 - val_loss here: max accuracy is the same one as min loss.
  EXPECT_THAT(CheckpointsToPrune(Policy(1, 1, v1::RETAIN_MAX_VAL_ACCURACY), all, "c4"),
              ElementsAre("c1", "c3"));
  EXPECT_THAT(CheckpointsToPrune(Policy(0, 2, v1::RETAIN_MIN_VAL_LOSS), all, "c4"),
              ElementsAre("c1"));  // best two are c2, c3; c4 is latest
}

TEST(CheckpointRetentionTest, TiesGoToTheNewerAndUnmeasuredNeverCountAsBest) {
  // c1 and c2 tie on val_loss; c3..c5 have none (no validation at the time).
  std::vector<v1::CheckpointInfo> all = {Ckpt(1, 0.3), Ckpt(2, 0.3), Ckpt(3, -1), Ckpt(4, -1),
                                         Ckpt(5, -1)};
  EXPECT_THAT(CheckpointsToPrune(Policy(0, 1, v1::RETAIN_MIN_VAL_LOSS), all, "c5"),
              ElementsAre("c1", "c3", "c4"));
  // Saved before any epoch ended: no metrics at all.
  v1::CheckpointInfo no_metrics = Ckpt(6, 0.0);
  no_metrics.clear_metrics();
  all.push_back(no_metrics);
  EXPECT_THAT(CheckpointsToPrune(Policy(0, 1, v1::RETAIN_MIN_VAL_LOSS), all, "c6"),
              ElementsAre("c1", "c3", "c4", "c5"));
}

TEST(CheckpointRetentionTest, FinalAndLatestAreAlwaysKept) {
  const std::vector<v1::CheckpointInfo> all = {Ckpt(1, 0.5, 1, v1::FINAL), Ckpt(2, 0.4),
                                               Ckpt(3, 0.3), Ckpt(4, 0.35)};
  // keep_last 1 would keep c4; the latest pointer says c2 (a shared row
  // saved again), and the FINAL c1 stays whatever the policy.
  EXPECT_THAT(CheckpointsToPrune(Policy(1, 0), all, "c2"), ElementsAre("c3"));
}

TEST(CheckpointRankTest, ScoresAreHigherIsBetterAndMissingValuesHaveNone) {
  v1::EpochSummary s;
  s.set_train_loss(0.5);
  s.set_val_loss(-1);
  s.set_train_accuracy(0.8);
  s.set_val_accuracy(-1);
  EXPECT_EQ(MetricScore(s, v1::RETAIN_MIN_TRAIN_LOSS), -0.5);
  EXPECT_EQ(MetricScore(s, v1::RETAIN_MAX_TRAIN_ACCURACY), 0.8);
  EXPECT_EQ(MetricScore(s, v1::RETAIN_MIN_VAL_LOSS), std::nullopt);
  EXPECT_EQ(MetricScore(s, v1::RETAIN_MAX_VAL_ACCURACY), std::nullopt);
  EXPECT_EQ(MetricScore(s, v1::RETENTION_METRIC_UNSPECIFIED), std::nullopt);
  s.set_train_loss(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(MetricScore(s, v1::RETAIN_MIN_TRAIN_LOSS), std::nullopt);
}

TEST(CheckpointRankTest, BestMetricPrefersRetentionThenValidationThenTraining) {
  v1::TrainingConfig t;
  EXPECT_EQ(BestMetric(t, false), v1::RETAIN_MIN_TRAIN_LOSS);
  EXPECT_EQ(BestMetric(t, true), v1::RETAIN_MIN_VAL_LOSS);
  t.set_validation_fraction(0.2f);
  EXPECT_EQ(BestMetric(t, false), v1::RETAIN_MIN_VAL_LOSS);
  t.mutable_retention()->set_metric(v1::RETAIN_MAX_TRAIN_ACCURACY);
  EXPECT_EQ(BestMetric(t, true), v1::RETAIN_MAX_TRAIN_ACCURACY);
}

}  // namespace
}  // namespace trainyard::server
