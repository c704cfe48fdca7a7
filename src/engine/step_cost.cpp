#include "engine/step_cost.h"

#include <algorithm>
#include <cmath>

namespace tmill::engine {
namespace {

// Forgetting factor: the fit follows slow changes (batch mix, context lengths) over roughly
// the last thousand steps.
constexpr double kForget = 0.999;
// Steps to observe before trusting the fit.
constexpr int64_t kWarmupSteps = 16;
// Variance of each coefficient at the start (a weak prior: the first steps move it freely), and
// the most it may grow back to while steps stop informing it.
constexpr double kMaxVariance = 1e3;

}  // namespace

StepCostModel::StepCostModel(HardwareRates rates, int cores)
    : rates_(rates), cores_(std::max(1, cores)) {
  for (int i = 0; i < 3; ++i) p_[i][i] = kMaxVariance;
}

void StepCostModel::learn(double wall_s, double n_decode, double n_prefill) {
  const std::array<double, 3> x{1.0, n_decode, n_prefill};
  std::array<double, 3> px{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) px[i] += p_[i][j] * x[j];
  double denom = kForget;
  for (int i = 0; i < 3; ++i) denom += x[i] * px[i];
  double predicted = 0;
  for (int i = 0; i < 3; ++i) predicted += theta_[i] * x[i];
  const double error = wall_s - predicted;
  for (int i = 0; i < 3; ++i) theta_[i] += px[i] / denom * error;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) p_[i][j] = (p_[i][j] - px[i] * px[j] / denom) / kForget;
  // A coefficient the steps stop informing (no decode tokens during a run of prompt-only
  // scoring, no prefill while everything generates) would have its variance divided by kForget
  // every step until it overflows (~700k steps) and turns the fit into NaN for good. Cap it at
  // the prior; scaling row and column i keeps P symmetric positive semi-definite.
  for (int i = 0; i < 3; ++i) {
    if (!(p_[i][i] > kMaxVariance)) continue;
    const double scale = std::sqrt(kMaxVariance / p_[i][i]);
    for (int j = 0; j < 3; ++j) {
      p_[i][j] *= scale;
      p_[j][i] *= scale;
    }
  }
  ++observed_;
}

StepShares StepCostModel::attribute(double wall_s, double cpu_s, int64_t n_decode,
                                    int64_t n_prefill) {
  StepShares s;
  if (wall_s <= 0 || n_decode + n_prefill <= 0) return s;
  learn(wall_s, static_cast<double>(n_decode), static_cast<double>(n_prefill));
  const double utilisation = std::clamp(cpu_s / (wall_s * cores_), 0.0, 1.0);
  s.step_usd = wall_s * rates_.usd_per_hour / 3600.0;
  s.step_joules =
      wall_s * (rates_.idle_watts + (rates_.busy_watts - rates_.idle_watts) * utilisation);
  double w_decode = 1.0;
  double w_prefill = 1.0;
  if (observed_ >= kWarmupSteps && theta_[1] > 0 && theta_[2] > 0) {
    w_decode = theta_[1];
    w_prefill = theta_[2];
  }
  const double total_weight =
      w_decode * static_cast<double>(n_decode) + w_prefill * static_cast<double>(n_prefill);
  s.usd_per_decode_token = s.step_usd * w_decode / total_weight;
  s.usd_per_prefill_token = s.step_usd * w_prefill / total_weight;
  s.joules_per_decode_token = s.step_joules * w_decode / total_weight;
  s.joules_per_prefill_token = s.step_joules * w_prefill / total_weight;
  return s;
}

}  // namespace tmill::engine
