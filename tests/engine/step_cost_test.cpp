// StepCostModel: each step's cost and energy are split over its tokens exactly, equally until
// the fit is warm, then by the fitted marginal times of decode and prefill tokens, which follow
// the true ones of a synthetic machine; utilisation is clamped and empty steps cost nothing.
#include "engine/step_cost.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>

namespace tmill::engine {
namespace {

// A synthetic machine: step_seconds = c + a x decode + b x prefill.
constexpr double kA = 2e-3;  // seconds per decode token
constexpr double kB = 1e-4;  // seconds per prefill token
constexpr double kC = 1e-3;  // fixed seconds per step

double true_seconds(int64_t n_decode, int64_t n_prefill) {
  return kC + kA * static_cast<double>(n_decode) + kB * static_cast<double>(n_prefill);
}

// Varied mixes: pure decode, pure prefill and both, with changing sizes.
struct Mix {
  int64_t decode;
  int64_t prefill;
};
Mix mix_of_step(int i) {
  const int64_t decode = (i * 7) % 33;                      // 0..32
  const int64_t prefill = i % 3 == 0 ? 0 : (i * 37) % 257;  // 0..256
  if (decode + prefill == 0) return {1, 0};
  return {decode, prefill};
}

constexpr HardwareRates kRates{3.6, 10.0, 50.0};  // $0.001 per second; 10 W idle, 50 W busy

double relative_error(double got, double want) { return std::abs(got - want) / std::abs(want); }

// The shares times the token counts give back the step's totals.
void expect_shares_sum_to_step(const StepShares& s, int64_t n_decode, int64_t n_prefill) {
  const double usd = s.usd_per_decode_token * static_cast<double>(n_decode) +
                     s.usd_per_prefill_token * static_cast<double>(n_prefill);
  const double joules = s.joules_per_decode_token * static_cast<double>(n_decode) +
                        s.joules_per_prefill_token * static_cast<double>(n_prefill);
  ASSERT_GT(s.step_usd, 0);
  ASSERT_GT(s.step_joules, 0);
  EXPECT_LE(relative_error(usd, s.step_usd), 1e-12)
      << "decode " << n_decode << " prefill " << n_prefill;
  EXPECT_LE(relative_error(joules, s.step_joules), 1e-12)
      << "decode " << n_decode << " prefill " << n_prefill;
}

TEST(StepCostModel, StepTotalsComeFromWallTimeRatesAndUtilisation) {
  StepCostModel model(kRates, 4);
  // 0.5 s at $3.6/h = $0.0005; 2 CPU seconds over 4 cores x 0.5 s = utilisation 1.
  StepShares s = model.attribute(0.5, 2.0, 3, 5);
  EXPECT_NEAR(s.step_usd, 0.0005, 1e-15);
  EXPECT_NEAR(s.step_joules, 0.5 * 50.0, 1e-12);
  // Half the machine busy: idle + (busy - idle) x 0.5 = 30 W.
  s = model.attribute(0.5, 1.0, 3, 5);
  EXPECT_NEAR(s.step_joules, 0.5 * 30.0, 1e-12);
  // No CPU time at all: the idle draw.
  s = model.attribute(0.5, 0.0, 3, 5);
  EXPECT_NEAR(s.step_joules, 0.5 * 10.0, 1e-12);
}

TEST(StepCostModel, UtilisationIsClampedToZeroAndOne) {
  StepCostModel model(kRates, 2);
  // More CPU time than 2 cores can give in the wall time (other threads, clock skew): busy.
  StepShares s = model.attribute(1.0, 100.0, 1, 1);
  EXPECT_NEAR(s.step_joules, 50.0, 1e-12);
  // A negative CPU delta: idle, never below it.
  s = model.attribute(1.0, -5.0, 1, 1);
  EXPECT_NEAR(s.step_joules, 10.0, 1e-12);
  // cores < 1 is read as 1.
  StepCostModel one_core(kRates, 0);
  s = one_core.attribute(1.0, 0.5, 1, 1);
  EXPECT_NEAR(s.step_joules, 30.0, 1e-12);
}

TEST(StepCostModel, EqualSharesBeforeWarmUp) {
  StepCostModel model(kRates, 4);
  for (int i = 0; i < 8; ++i) {
    const Mix m{i % 2 == 0 ? 4 : 1, 10 + i};
    const StepShares s =
        model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
    EXPECT_EQ(s.usd_per_decode_token, s.usd_per_prefill_token) << "step " << i;
    EXPECT_EQ(s.joules_per_decode_token, s.joules_per_prefill_token) << "step " << i;
    EXPECT_NEAR(s.usd_per_decode_token, s.step_usd / static_cast<double>(m.decode + m.prefill),
                1e-18);
    expect_shares_sum_to_step(s, m.decode, m.prefill);
  }
}

TEST(StepCostModel, SharesAlwaysSumToTheStep) {
  StepCostModel model(kRates, 8);
  for (int i = 0; i < 3000; ++i) {
    const Mix m = mix_of_step(i);
    const StepShares s =
        model.attribute(true_seconds(m.decode, m.prefill), 0.004, m.decode, m.prefill);
    expect_shares_sum_to_step(s, m.decode, m.prefill);
    if (::testing::Test::HasFailure()) FAIL() << "at step " << i;
  }
}

TEST(StepCostModel, LearnsMarginalTimesOfAKnownMachine) {
  StepCostModel model(kRates, 4);
  EXPECT_LE(model.decode_seconds_per_token(), 0) << "fitted before any step";
  for (int i = 0; i < 2000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
  }
  EXPECT_LE(relative_error(model.decode_seconds_per_token(), kA), 0.05)
      << model.decode_seconds_per_token();
  EXPECT_LE(relative_error(model.prefill_seconds_per_token(), kB), 0.05)
      << model.prefill_seconds_per_token();

  // A mixed step now gives a decode token about a/b = 20 times a prefill token's share, and the
  // fixed part is spread in the same proportion.
  const int64_t n_decode = 16, n_prefill = 200;
  const StepShares s =
      model.attribute(true_seconds(n_decode, n_prefill), 0.01, n_decode, n_prefill);
  EXPECT_LE(relative_error(s.usd_per_decode_token / s.usd_per_prefill_token, kA / kB), 0.05)
      << s.usd_per_decode_token / s.usd_per_prefill_token;
  EXPECT_LE(relative_error(s.joules_per_decode_token / s.joules_per_prefill_token, kA / kB), 0.05);
  const double weight = kA * n_decode + kB * n_prefill;
  EXPECT_LE(relative_error(s.usd_per_decode_token, s.step_usd * kA / weight), 0.05);
  expect_shares_sum_to_step(s, n_decode, n_prefill);
}

TEST(StepCostModel, LearnsThroughMeasurementNoise) {
  StepCostModel model(kRates, 4);
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> noise(-0.03, 0.03);  // +-3% per step
  for (int i = 0; i < 4000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill) * (1 + noise(rng)), 0.01, m.decode,
                    m.prefill);
  }
  EXPECT_LE(relative_error(model.decode_seconds_per_token(), kA), 0.05)
      << model.decode_seconds_per_token();
  EXPECT_LE(relative_error(model.prefill_seconds_per_token(), kB), 0.05)
      << model.prefill_seconds_per_token();
}

TEST(StepCostModel, FollowsAMachineThatChanges) {
  StepCostModel model(kRates, 4);
  for (int i = 0; i < 2000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
  }
  // Decode tokens get twice as expensive (longer contexts): the fit follows within a few
  // thousand steps.
  for (int i = 0; i < 6000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill) + kA * static_cast<double>(m.decode), 0.01,
                    m.decode, m.prefill);
  }
  EXPECT_LE(relative_error(model.decode_seconds_per_token(), 2 * kA), 0.05)
      << model.decode_seconds_per_token();
  EXPECT_LE(relative_error(model.prefill_seconds_per_token(), kB), 0.05)
      << model.prefill_seconds_per_token();
}

// A fit, then a long stretch of steps of one kind only (`decode_only`: everything generating;
// else prompt-only scoring, as lm-eval's loglikelihood requests with max_tokens 0 do for
// hours), then mixed traffic again: the coefficient the stretch never informed must neither
// turn the fit into NaN nor keep it from recovering.
void fit_after_one_sided_stretch(bool decode_only) {
  StepCostModel model(kRates, 4);
  for (int i = 0; i < 2000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
  }
  for (int i = 0; i < 750'000; ++i) {
    const int64_t decode = decode_only ? 8 + i % 2 : 0;
    const int64_t prefill = decode_only ? 0 : 100 + (i * 37) % 157;
    const StepShares s = model.attribute(true_seconds(decode, prefill), 0.01, decode, prefill);
    if (!std::isfinite(s.usd_per_decode_token) || !std::isfinite(s.usd_per_prefill_token))
      FAIL() << "non-finite share at step " << i;
  }
  EXPECT_TRUE(std::isfinite(model.decode_seconds_per_token()));
  EXPECT_TRUE(std::isfinite(model.prefill_seconds_per_token()));
  for (int i = 0; i < 2000; ++i) {
    const Mix m = mix_of_step(i);
    const StepShares s =
        model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
    ASSERT_TRUE(std::isfinite(s.usd_per_decode_token) && std::isfinite(s.usd_per_prefill_token))
        << "step " << i;
  }
  EXPECT_LE(relative_error(model.decode_seconds_per_token(), kA), 0.05)
      << model.decode_seconds_per_token();
  EXPECT_LE(relative_error(model.prefill_seconds_per_token(), kB), 0.05)
      << model.prefill_seconds_per_token();
  // Priced by the fit again, not equally.
  const StepShares s = model.attribute(true_seconds(4, 100), 0.01, 4, 100);
  EXPECT_LE(relative_error(s.usd_per_decode_token / s.usd_per_prefill_token, kA / kB), 0.05);
}

TEST(StepCostModel, RecoversAfterHoursOfDecodeOnlySteps) { fit_after_one_sided_stretch(true); }

TEST(StepCostModel, RecoversAfterHoursOfPromptOnlySteps) { fit_after_one_sided_stretch(false); }

TEST(StepCostModel, OneKindOfTokenTakesTheWholeStep) {
  StepCostModel model(kRates, 4);
  for (int i = 0; i < 500; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
  }
  StepShares s = model.attribute(true_seconds(5, 0), 0.01, 5, 0);
  EXPECT_NEAR(s.usd_per_decode_token * 5, s.step_usd, 1e-15);
  s = model.attribute(true_seconds(0, 64), 0.01, 0, 64);
  EXPECT_NEAR(s.usd_per_prefill_token * 64, s.step_usd, 1e-15);
  EXPECT_NEAR(s.joules_per_prefill_token * 64, s.step_joules, 1e-12);
}

bool all_zero(const StepShares& s) {
  return s.usd_per_decode_token == 0 && s.usd_per_prefill_token == 0 &&
         s.joules_per_decode_token == 0 && s.joules_per_prefill_token == 0 && s.step_usd == 0 &&
         s.step_joules == 0;
}

TEST(StepCostModel, EmptyOrInstantStepsCostNothingAndTeachNothing) {
  StepCostModel model(kRates, 4);
  EXPECT_TRUE(all_zero(model.attribute(0.01, 0.01, 0, 0)));
  EXPECT_TRUE(all_zero(model.attribute(0.0, 0.0, 4, 4)));
  EXPECT_TRUE(all_zero(model.attribute(-1.0, 0.0, 4, 4)));
  for (int i = 0; i < 2000; ++i) {
    const Mix m = mix_of_step(i);
    model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
  }
  const double a = model.decode_seconds_per_token();
  const double b = model.prefill_seconds_per_token();
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(all_zero(model.attribute(0.0, 0.0, 10, 100)));
    EXPECT_TRUE(all_zero(model.attribute(0.5, 0.5, 0, 0)));
  }
  EXPECT_EQ(model.decode_seconds_per_token(), a);
  EXPECT_EQ(model.prefill_seconds_per_token(), b);
  const StepShares s = model.attribute(true_seconds(3, 30), 0.01, 3, 30);
  EXPECT_TRUE(std::isfinite(s.usd_per_decode_token));
  EXPECT_TRUE(std::isfinite(s.usd_per_prefill_token));
}

TEST(StepCostModel, ZeroRatesGiveZeroSharesWithoutNaN) {
  StepCostModel model(HardwareRates{}, 4);
  for (int i = 0; i < 100; ++i) {
    const Mix m = mix_of_step(i);
    const StepShares s =
        model.attribute(true_seconds(m.decode, m.prefill), 0.01, m.decode, m.prefill);
    ASSERT_TRUE(all_zero(s)) << "step " << i;
  }
}

}  // namespace
}  // namespace tmill::engine
