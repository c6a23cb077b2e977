// LearningRateAt against hand-computed values. Gammas are powers of two so
// the expected rates are exact; cosine values use cos(pi/3) = 1/2 etc.
#include "core/schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace trainyard {
namespace {

constexpr double kBase = 0.1;
constexpr double kTol = 1e-15;

TEST(ScheduleTest, UnsetAndConstantKeepTheBaseRate) {
  v1::ScheduleSpec unset;
  v1::ScheduleSpec constant;
  constant.mutable_constant();
  for (int64_t step : {0, 1, 17, 100000}) {
    EXPECT_EQ(LearningRateAt(unset, kBase, step, 10), kBase);
    EXPECT_EQ(LearningRateAt(constant, kBase, step, 10), kBase);
  }
}

TEST(ScheduleTest, StepDecayHalvesEveryStepSize) {
  v1::ScheduleSpec spec;
  spec.mutable_step_decay()->set_step_size(3);
  spec.mutable_step_decay()->set_gamma(0.5f);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 0, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 2, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 3, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 5, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 6, 1), 0.025, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 10, 1), 0.0125, kTol);
}

TEST(ScheduleTest, ExponentialDecaysEveryStep) {
  v1::ScheduleSpec spec;
  spec.mutable_exponential()->set_gamma(0.5f);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 0, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 1, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 4, 1), 0.00625, kTol);
}

TEST(ScheduleTest, CosineAnnealsToEtaMinAndStaysThere) {
  // The default (periodic unset): hold at eta_min past t_max.
  v1::ScheduleSpec spec;
  spec.mutable_cosine()->set_t_max(6);
  spec.mutable_cosine()->set_eta_min(0.02);
  // lr = 0.02 + 0.08 * (1 + cos(pi t / 6)) / 2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 0, 1), 0.1, kTol);    // t = 0: base
  EXPECT_NEAR(LearningRateAt(spec, kBase, 2, 1), 0.08, kTol);   // cos(pi/3) = 1/2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 3, 1), 0.06, kTol);   // t_max/2: midpoint
  EXPECT_NEAR(LearningRateAt(spec, kBase, 4, 1), 0.04, kTol);   // cos(2pi/3) = -1/2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 6, 1), 0.02, kTol);   // t_max: eta_min
  EXPECT_NEAR(LearningRateAt(spec, kBase, 7, 1), 0.02, kTol);   // beyond: clamped
  EXPECT_NEAR(LearningRateAt(spec, kBase, 1000, 1), 0.02, kTol);
}

TEST(ScheduleTest, CosineWithZeroEtaMinEndsAtZero) {
  v1::ScheduleSpec spec;
  spec.mutable_cosine()->set_t_max(4);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 2, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 4, 1), 0.0, kTol);
}

TEST(ScheduleTest, WarmupRampsLinearlyThenStartsTheScheduleAtZero) {
  v1::ScheduleSpec spec;
  spec.mutable_warmup()->set_steps(4);
  spec.mutable_step_decay()->set_step_size(2);
  spec.mutable_step_decay()->set_gamma(0.5f);
  // base * (s + 1) / 4 for s < 4
  EXPECT_NEAR(LearningRateAt(spec, kBase, 0, 1), 0.025, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 1, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 3, 1), 0.1, kTol);
  // then t = step - 4
  EXPECT_NEAR(LearningRateAt(spec, kBase, 4, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 5, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 6, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 8, 1), 0.025, kTol);
}

TEST(ScheduleTest, WarmupBeforeConstantAndCosine) {
  v1::ScheduleSpec constant;
  constant.mutable_warmup()->set_steps(2);
  EXPECT_NEAR(LearningRateAt(constant, kBase, 0, 1), 0.05, kTol);
  EXPECT_NEAR(LearningRateAt(constant, kBase, 1, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(constant, kBase, 50, 1), 0.1, kTol);

  v1::ScheduleSpec cosine;
  cosine.mutable_warmup()->set_steps(2);
  cosine.mutable_cosine()->set_t_max(4);
  EXPECT_NEAR(LearningRateAt(cosine, kBase, 1, 1), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(cosine, kBase, 2, 1), 0.1, kTol);   // t = 0
  EXPECT_NEAR(LearningRateAt(cosine, kBase, 4, 1), 0.05, kTol);  // t = 2
  EXPECT_NEAR(LearningRateAt(cosine, kBase, 6, 1), 0.0, kTol);   // t = 4
}

TEST(ScheduleTest, EpochUnitChangesOnlyAtEpochBoundaries) {
  v1::ScheduleSpec spec;
  spec.set_unit(v1::EPOCHS);
  spec.mutable_exponential()->set_gamma(0.5f);
  const int64_t per_epoch = 5;
  for (int64_t s = 0; s < 5; ++s) EXPECT_NEAR(LearningRateAt(spec, kBase, s, per_epoch), 0.1, kTol);
  for (int64_t s = 5; s < 10; ++s) {
    EXPECT_NEAR(LearningRateAt(spec, kBase, s, per_epoch), 0.05, kTol);
  }
  EXPECT_NEAR(LearningRateAt(spec, kBase, 10, per_epoch), 0.025, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 23, per_epoch), 0.00625, kTol);  // t = 23 / 5 = 4

  // Step decay counted in epochs: step_size 2 epochs of 3 steps = 6 steps.
  v1::ScheduleSpec step;
  step.set_unit(v1::EPOCHS);
  step.mutable_step_decay()->set_step_size(2);
  step.mutable_step_decay()->set_gamma(0.5f);
  EXPECT_NEAR(LearningRateAt(step, kBase, 5, 3), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(step, kBase, 6, 3), 0.05, kTol);
}

TEST(ScheduleTest, EpochUnitCountsFromTheEpochWarmupEndsIn) {
  // Warm-up counts steps (3 of them); after it the rate changes only at epoch
  // boundaries (4 steps an epoch): the rest of epoch 0 is t = 0, epoch 1 is
  // t = 1. (Before issue 9 t was (step - 3) / 4, which changed the rate at
  // step 7, mid-epoch.)
  v1::ScheduleSpec spec;
  spec.set_unit(v1::EPOCHS);
  spec.mutable_warmup()->set_steps(3);
  spec.mutable_cosine()->set_t_max(2);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 0, 4), 0.1 / 3, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 2, 4), 0.1, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 3, 4), 0.1, kTol);   // t = 0
  EXPECT_NEAR(LearningRateAt(spec, kBase, 4, 4), 0.05, kTol);  // t = 1 = t_max/2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 7, 4), 0.05, kTol);  // t = 1
  EXPECT_NEAR(LearningRateAt(spec, kBase, 8, 4), 0.0, kTol);   // t = 2 = t_max
  EXPECT_NEAR(LearningRateAt(spec, kBase, 11, 4), 0.0, kTol);
}

TEST(ScheduleTest, EpochUnitWithWarmupNeverChangesMidEpoch) {
  // For every warm-up length and epoch size: once warm-up is over, steps of
  // the same epoch share one rate.
  for (int64_t per_epoch : {1, 3, 4, 7}) {
    for (int32_t warmup : {0, 1, 2, 3, 5, 8, 13}) {
      SCOPED_TRACE(testing::Message() << "per_epoch " << per_epoch << " warmup " << warmup);
      v1::ScheduleSpec spec;
      spec.set_unit(v1::EPOCHS);
      spec.mutable_warmup()->set_steps(warmup);
      spec.mutable_exponential()->set_gamma(0.5f);
      for (int64_t step = warmup + 1; step < 60; ++step) {
        if (step % per_epoch == 0) continue;  // an epoch boundary may change it
        EXPECT_EQ(LearningRateAt(spec, kBase, step, per_epoch),
                  LearningRateAt(spec, kBase, step - 1, per_epoch))
            << "step " << step;
      }
    }
  }
}

TEST(ScheduleTest, EpochUnitWithWholeEpochWarmupIsUnchanged) {
  // A warm-up of whole epochs gives t = (step - warmup) / per_epoch, as it
  // always did: jobs set up that way train exactly as before.
  v1::ScheduleSpec spec;
  spec.set_unit(v1::EPOCHS);
  spec.mutable_warmup()->set_steps(8);
  spec.mutable_exponential()->set_gamma(0.5f);
  for (int64_t step = 8; step < 40; ++step) {
    const double want = kBase * std::pow(0.5, static_cast<double>((step - 8) / 4));
    EXPECT_EQ(LearningRateAt(spec, kBase, step, 4), want) << "step " << step;
  }
}

TEST(ScheduleTest, PeriodicCosineRisesAgainLikePyTorch) {
  // torch.optim.lr_scheduler.CosineAnnealingLR's closed form, period 2*t_max.
  v1::ScheduleSpec spec;
  spec.mutable_cosine()->set_t_max(6);
  spec.mutable_cosine()->set_eta_min(0.02);
  spec.mutable_cosine()->set_periodic(true);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 3, 1), 0.06, kTol);
  EXPECT_NEAR(LearningRateAt(spec, kBase, 6, 1), 0.02, kTol);   // t_max: eta_min
  EXPECT_NEAR(LearningRateAt(spec, kBase, 8, 1), 0.04, kTol);   // cos(4pi/3) = -1/2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 10, 1), 0.08, kTol);  // cos(5pi/3) = 1/2
  EXPECT_NEAR(LearningRateAt(spec, kBase, 12, 1), 0.1, kTol);   // 2 t_max: base again
  EXPECT_NEAR(LearningRateAt(spec, kBase, 18, 1), 0.02, kTol);  // 3 t_max: eta_min
  // Before t_max both forms agree exactly.
  v1::ScheduleSpec held = spec;
  held.mutable_cosine()->set_periodic(false);
  for (int64_t step = 0; step <= 6; ++step) {
    EXPECT_EQ(LearningRateAt(spec, kBase, step, 1), LearningRateAt(held, kBase, step, 1));
  }
}

TEST(ScheduleTest, DecimalGammaIsTheDecimalNotTheWidenedFloat) {
  // gamma 0.9 arrives as the float 0.89999998; PyTorch (and the user) mean 0.9.
  v1::ScheduleSpec spec;
  spec.mutable_exponential()->set_gamma(0.9f);
  EXPECT_EQ(LearningRateAt(spec, kBase, 10, 1), kBase * std::pow(0.9, 10.0));
  v1::ScheduleSpec step;
  step.mutable_step_decay()->set_step_size(2);
  step.mutable_step_decay()->set_gamma(0.1f);
  EXPECT_EQ(LearningRateAt(step, kBase, 4, 1), kBase * std::pow(0.1, 2.0));
}

TEST(ScheduleTest, OutOfContractInputsStayFinite) {
  v1::ScheduleSpec spec;
  spec.set_unit(v1::EPOCHS);
  spec.mutable_step_decay()->set_step_size(0);
  EXPECT_EQ(LearningRateAt(spec, kBase, 5, 0), kBase);
}

}  // namespace
}  // namespace trainyard
