// Splits the cost and energy of each engine step over the tokens it processed.
//
// A step's cost is its wall time at the hardware's hourly price; its energy is its wall time at
// the power the machine draws, idle_watts + (busy_watts - idle_watts) x CPU utilisation of this
// process during the step. Idle time between steps belongs to no request and is not attributed.
//
// Prefill and decode tokens do not cost the same: a decode token streams every weight for one
// row, a prefill token shares that read with its whole chunk. The model learns their marginal
// times online from the steps themselves, step_seconds ~ c + a x decode_tokens + b x
// prefill_tokens (recursive least squares, forgetting old steps slowly), and gives each token
// its kind's marginal share of the step; the fixed part c is spread in the same proportion.
// Until the fit is usable (a, b > 0) every token gets an equal share.
#pragma once

#include <array>
#include <cstdint>

namespace tmill::engine {

struct HardwareRates {
  double usd_per_hour = 0;
  double idle_watts = 0;
  double busy_watts = 0;
};

// Per-token shares of one step.
struct StepShares {
  double usd_per_decode_token = 0;
  double usd_per_prefill_token = 0;
  double joules_per_decode_token = 0;
  double joules_per_prefill_token = 0;
  double step_usd = 0;
  double step_joules = 0;
};

class StepCostModel {
 public:
  // `cores`: hardware threads of the machine (utilisation = cpu seconds / (wall x cores)).
  StepCostModel(HardwareRates rates, int cores);

  // One step took `wall_s` seconds of wall time and the process `cpu_s` CPU seconds, and
  // processed `n_decode` decode tokens and `n_prefill` prefill tokens (prompt chunks, recompute).
  StepShares attribute(double wall_s, double cpu_s, int64_t n_decode, int64_t n_prefill);

  // The fitted marginal seconds per decode / prefill token (<= 0 while not fitted).
  double decode_seconds_per_token() const { return theta_[1]; }
  double prefill_seconds_per_token() const { return theta_[2]; }

 private:
  void learn(double wall_s, double n_decode, double n_prefill);

  HardwareRates rates_;
  int cores_;
  std::array<double, 3> theta_{};             // c, a, b
  std::array<std::array<double, 3>, 3> p_{};  // RLS inverse-covariance estimate
  int64_t observed_ = 0;
};

}  // namespace tmill::engine
