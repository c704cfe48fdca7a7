#include "engine/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tmill::engine {

TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t top_k) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto value = [&](size_t i) { return std::isnan(logits[i]) ? neg_inf : logits[i]; };
  float max_logit = neg_inf;
  for (size_t i = 0; i < logits.size(); ++i) max_logit = std::max(max_logit, value(i));
  // log-sum-exp in double: 10^5 terms summed in float lose the small ones.
  double sum = 0;
  if (std::isfinite(max_logit))
    for (size_t i = 0; i < logits.size(); ++i) sum += std::exp(double(value(i)) - max_logit);
  const double log_z = std::isfinite(max_logit) ? max_logit + std::log(sum) : 0.0;
  auto logprob = [&](size_t i) { return static_cast<float>(double(value(i)) - log_z); };

  TokenLogprob out;
  out.token = token;
  out.logprob = (token >= 0 && static_cast<size_t>(token) < logits.size())
                    ? logprob(static_cast<size_t>(token))
                    : neg_inf;
  const size_t k = std::min(static_cast<size_t>(std::max(top_k, 0)), logits.size());
  if (k == 0) return out;
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto more_likely = [&](int32_t a, int32_t b) {
    const float va = value(static_cast<size_t>(a)), vb = value(static_cast<size_t>(b));
    return va != vb ? va > vb : a < b;
  };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(k), ids.end(), more_likely);
  out.top.reserve(k);
  for (size_t i = 0; i < k; ++i) out.top.push_back({ids[i], logprob(static_cast<size_t>(ids[i]))});
  return out;
}

}  // namespace tmill::engine
