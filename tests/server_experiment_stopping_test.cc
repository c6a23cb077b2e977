// Early-stopping policies (server/experiment_stopping.h) against synthetic
// metric sequences: median stopping's grace period, best-so-far and
// quorum; ASHA's rungs and asynchronous top-1/eta cut; both modes; NaN; and
// the refusals of bad settings, each naming its field.
#include "server/experiment_stopping.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard::server {
namespace {

using ::testing::HasSubstr;

v1::ExperimentMetric Metric(const std::string& name, v1::ExperimentMetric::Mode mode) {
  v1::ExperimentMetric m;
  m.set_name(name);
  m.set_mode(mode);
  return m;
}

// A loss for MIN, an accuracy for MAX.
v1::ExperimentMetric MetricFor(v1::ExperimentMetric::Mode mode) {
  return Metric(mode == v1::ExperimentMetric::MAX ? "val_accuracy" : "val_loss", mode);
}

std::unique_ptr<EarlyStoppingPolicy> Median(int grace, int min_trials,
                                            v1::ExperimentMetric::Mode mode = v1::ExperimentMetric::MIN,
                                            int max_epochs = 10) {
  v1::ExperimentEarlyStopping spec;
  spec.mutable_median()->set_grace_epochs(grace);
  spec.mutable_median()->set_min_trials(min_trials);
  auto p = MakeEarlyStoppingPolicy(spec, MetricFor(mode), max_epochs, "early_stopping");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::unique_ptr<EarlyStoppingPolicy> Asha(int min_epochs, int eta, int max_epochs,
                                          v1::ExperimentMetric::Mode mode = v1::ExperimentMetric::MIN) {
  v1::ExperimentEarlyStopping spec;
  spec.mutable_asha()->set_min_epochs(min_epochs);
  spec.mutable_asha()->set_reduction_factor(eta);
  auto p = MakeEarlyStoppingPolicy(spec, MetricFor(mode), max_epochs, "early_stopping");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(MedianStoppingTest, StopsATrialWorseThanTheMedianAfterTheGrace) {
  auto p = Median(/*grace=*/1, /*min_trials=*/2);
  // Epoch 1 is the grace period: nothing stops, however bad.
  EXPECT_FALSE(p->Report(0, 1, 1.0).stop);
  EXPECT_FALSE(p->Report(1, 1, 1.0).stop);
  EXPECT_FALSE(p->Report(2, 1, 9.0).stop);
  // Epoch 2: trial 0 and 1 have too few others at epoch 2 to compare with.
  EXPECT_FALSE(p->Report(0, 2, 0.8).stop);
  EXPECT_FALSE(p->Report(1, 2, 0.9).stop);
  // Trial 2's best (1.1) is worse than the median of 0.8 and 0.9.
  const StopDecision d = p->Report(2, 2, 1.1);
  ASSERT_TRUE(d.stop);
  EXPECT_EQ(d.reason,
            "early-stopped by median stopping at epoch 2: best val_loss so far 1.1 is worse than "
            "the median 0.85 of 2 other trials' best at epoch 2");
}

TEST(MedianStoppingTest, ComparesTheBestSoFarNotTheLatestValue) {
  auto p = Median(0, 2);
  // Trial 2 was the best at epoch 1 and got worse since: its best still is.
  p->Report(0, 1, 0.9);
  p->Report(1, 1, 0.9);
  EXPECT_FALSE(p->Report(2, 1, 0.3).stop);
  p->Report(0, 2, 0.7);
  p->Report(1, 2, 0.8);
  EXPECT_FALSE(p->Report(2, 2, 5.0).stop);  // best so far 0.3 < median 0.75
  // A trial level with the median is not worse than it.
  auto q = Median(0, 2);
  q->Report(0, 1, 0.4);
  q->Report(1, 1, 0.6);
  EXPECT_FALSE(q->Report(2, 1, 0.5).stop);
}

TEST(MedianStoppingTest, OnlyTrialsThatReachedTheEpochCountAndTheDefaultQuorumIsThree) {
  v1::ExperimentEarlyStopping spec;
  spec.mutable_median();  // grace 0, min_trials default 3
  auto made = MakeEarlyStoppingPolicy(spec, Metric("val_loss", v1::ExperimentMetric::MIN), 10, "e");
  ASSERT_TRUE(made.ok()) << made.status();
  auto& p = *made;
  for (int t = 0; t < 3; ++t) p->Report(t, 1, 0.5);
  // Only trials 0 and 1 reach epoch 2 (trial 2 stopped or is slower).
  p->Report(0, 2, 0.4);
  p->Report(1, 2, 0.4);
  EXPECT_TRUE(p->Report(3, 1, 0.9).stop);            // 3 others at epoch 1, 0.9 > 0.5
  p->Report(3, 1, 0.45);                             // re-run epoch 1: replaced
  EXPECT_FALSE(p->Report(3, 2, 0.9).stop);           // only 2 others reached epoch 2
  p->Report(2, 2, 0.4);
  EXPECT_TRUE(p->Report(3, 2, 0.9).stop);  // now 3 have, median 0.4 < best 0.45
}

TEST(MedianStoppingTest, MaxModeAndNaN) {
  auto p = Median(0, 2, v1::ExperimentMetric::MAX);
  p->Report(0, 1, 0.8);
  p->Report(1, 1, 0.9);
  EXPECT_FALSE(p->Report(2, 1, 0.95).stop);  // more accuracy is better
  const StopDecision low = p->Report(3, 1, 0.5);
  EXPECT_TRUE(low.stop);
  EXPECT_THAT(low.reason, HasSubstr("best val_accuracy so far 0.5 is worse than the median 0.9 of 3"));
  // A diverged trial (NaN) ranks below every number.
  EXPECT_TRUE(p->Report(4, 1, std::numeric_limits<double>::quiet_NaN()).stop);
  auto q = Median(0, 2, v1::ExperimentMetric::MIN);
  q->Report(0, 1, 0.8);
  q->Report(1, 1, 0.9);
  EXPECT_TRUE(q->Report(2, 1, std::nan("")).stop);
}

TEST(AshaTest, CutsToTheTopOneOverEtaAsResultsArrive) {
  // eta 2, rungs at epochs 1, 2, 4 (below 8).
  auto p = Asha(1, 2, 8);
  EXPECT_FALSE(p->Report(0, 1, 0.5).stop);  // first at the rung: nothing to halve
  const StopDecision second = p->Report(1, 1, 0.7);
  ASSERT_TRUE(second.stop);  // 2 results, top 1 goes on, it is 2nd
  EXPECT_EQ(second.reason,
            "early-stopped by ASHA at epoch 1: val_loss 0.7 ranks 2 of 2 trials at this rung; "
            "only the top 1 (1/2) go on");
  EXPECT_FALSE(p->Report(2, 1, 0.4).stop);  // 1st of 3
  EXPECT_TRUE(p->Report(3, 1, 0.6).stop);   // 3rd of 4, top 2 go on
  EXPECT_FALSE(p->Report(4, 1, 0.45).stop); // 2nd of 5, top 2 go on
  // Epoch 3 is no rung: no decision however bad.
  EXPECT_FALSE(p->Report(0, 3, 100).stop);
  // The next rung starts empty: its first arrival goes on.
  EXPECT_FALSE(p->Report(0, 2, 0.45).stop);
  EXPECT_TRUE(p->Report(4, 2, 0.5).stop);
  EXPECT_FALSE(p->Report(2, 2, 0.3).stop);
}

TEST(AshaTest, RungsAreMinEpochsTimesEtaToTheKBelowTheLastEpoch) {
  // eta 3, min 1, 27 epochs: rungs 1, 3, 9 — not 2, 27.
  auto p = Asha(1, 3, 27);
  auto decided_at = [&](int epoch) {
    // Three results at `epoch`, the last the worst: stopped iff a rung.
    p->Report(100 + epoch, epoch, 0.1);
    p->Report(200 + epoch, epoch, 0.2);
    return p->Report(300 + epoch, epoch, 0.9).stop;
  };
  EXPECT_TRUE(decided_at(1));
  EXPECT_FALSE(decided_at(2));
  EXPECT_TRUE(decided_at(3));
  EXPECT_TRUE(decided_at(9));
  EXPECT_FALSE(decided_at(27));
  // min_epochs 2, eta 2, 9 epochs: 2, 4, 8.
  auto q = Asha(2, 2, 9);
  q->Report(0, 1, 0.1);
  EXPECT_FALSE(q->Report(1, 1, 0.9).stop);
  q->Report(0, 8, 0.1);
  EXPECT_TRUE(q->Report(1, 8, 0.9).stop);
}

TEST(AshaTest, OnSyntheticCurvesTheBestTrialSurvivesAndMostAreCut) {
  // 27 trials with loss c / epoch, c a scrambled order of 1..27, reported
  // round-robin epoch by epoch (the asynchronous arrival a pool of workers
  // gives); eta 3 over 27 epochs (rungs 1, 3, 9).
  auto p = Asha(1, 3, 27);
  std::vector<int> c(27);
  for (int t = 0; t < 27; ++t) c[t] = (t * 10) % 27 + 1;  // 10 is coprime to 27
  std::set<int> alive;
  for (int t = 0; t < 27; ++t) alive.insert(t);
  for (int epoch = 1; epoch <= 27; ++epoch) {
    for (int t = 0; t < 27; ++t) {
      if (!alive.count(t)) continue;
      if (p->Report(t, epoch, c[t] / static_cast<double>(epoch)).stop) alive.erase(t);
    }
  }
  const int best = static_cast<int>(std::find(c.begin(), c.end(), 1) - c.begin());
  EXPECT_TRUE(alive.count(best));
  // Successive halving by 3 at three rungs leaves about 27 / 27 = 1; the
  // asynchronous variant lets the early arrivals through, so a few more.
  EXPECT_LE(alive.size(), 6u);
  EXPECT_GE(alive.size(), 1u);
}

TEST(AshaTest, MaxMode) {
  auto p = Asha(1, 2, 4, v1::ExperimentMetric::MAX);
  p->Report(0, 1, 0.6);
  EXPECT_FALSE(p->Report(1, 1, 0.9).stop);
  EXPECT_TRUE(p->Report(2, 1, 0.7).stop);  // 2nd of 3, top 1
}

TEST(ExperimentStoppingTest, NoPolicyIsNull) {
  auto p = MakeEarlyStoppingPolicy({}, Metric("val_loss", v1::ExperimentMetric::MIN), 5, "e");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, nullptr);
}

void ExpectInvalid(const v1::ExperimentEarlyStopping& spec, int max_epochs,
                   const std::string& part) {
  auto p = MakeEarlyStoppingPolicy(spec, Metric("val_loss", v1::ExperimentMetric::MIN), max_epochs,
                                   "early_stopping");
  ASSERT_FALSE(p.ok()) << spec.ShortDebugString();
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(part));
}

TEST(ExperimentStoppingTest, BadSettingsNameTheField) {
  v1::ExperimentEarlyStopping s;
  s.mutable_asha()->set_reduction_factor(1);
  ExpectInvalid(s, 10, "early_stopping.asha.reduction_factor: must be >= 2, got 1");
  s.mutable_asha()->set_reduction_factor(-2);
  ExpectInvalid(s, 10, "early_stopping.asha.reduction_factor");
  s.mutable_asha()->set_reduction_factor(2);
  s.mutable_asha()->set_min_epochs(-1);
  ExpectInvalid(s, 10, "early_stopping.asha.min_epochs: must be >= 1");
  s.mutable_asha()->set_min_epochs(5);
  ExpectInvalid(s, 5, "early_stopping.asha.min_epochs: 5 leaves no rung below the trials' 5");
  s.mutable_median()->set_grace_epochs(-1);
  ExpectInvalid(s, 10, "early_stopping.median.grace_epochs: must be >= 0");
  s.mutable_median()->set_grace_epochs(3);
  ExpectInvalid(s, 3, "early_stopping.median.grace_epochs: 3 leaves no epoch");
  s.mutable_median()->set_grace_epochs(0);
  s.mutable_median()->set_min_trials(-1);
  ExpectInvalid(s, 3, "early_stopping.median.min_trials");
}

TEST(ExperimentStoppingTest, MetricsAreEpochSummaryFieldsWithAMode) {
  EXPECT_TRUE(CheckExperimentMetric(Metric("val_accuracy", v1::ExperimentMetric::MAX), "m").ok());
  const absl::Status name = CheckExperimentMetric(Metric("val_acc", v1::ExperimentMetric::MAX),
                                                  "metric");
  EXPECT_EQ(name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(name.message()), HasSubstr("metric.name: \"val_acc\""));
  const absl::Status mode =
      CheckExperimentMetric(Metric("val_loss", v1::ExperimentMetric::MODE_UNSPECIFIED), "metric");
  EXPECT_EQ(mode.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mode.message()), HasSubstr("metric.mode"));

  v1::EpochSummary s;
  s.set_train_loss(0.3);
  s.set_train_accuracy(-1);
  s.set_val_loss(-1);
  s.set_val_accuracy(0.75);
  EXPECT_EQ(MetricValue(Metric("train_loss", v1::ExperimentMetric::MIN), s), 0.3);
  EXPECT_EQ(MetricValue(Metric("train_accuracy", v1::ExperimentMetric::MAX), s), std::nullopt);
  EXPECT_EQ(MetricValue(Metric("val_loss", v1::ExperimentMetric::MIN), s), std::nullopt);
  EXPECT_EQ(MetricValue(Metric("val_accuracy", v1::ExperimentMetric::MAX), s), 0.75);
  EXPECT_TRUE(MetricBetter(v1::ExperimentMetric::MIN, 0.1, 0.2));
  EXPECT_TRUE(MetricBetter(v1::ExperimentMetric::MAX, 0.2, 0.1));
  EXPECT_TRUE(MetricBetter(v1::ExperimentMetric::MAX, 0.2, std::nan("")));
  EXPECT_FALSE(MetricBetter(v1::ExperimentMetric::MIN, std::nan(""), 0.2));
}

}  // namespace
}  // namespace trainyard::server
