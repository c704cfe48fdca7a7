// Log-probabilities of tokens under one row of logits (the model's own distribution, before
// any sampling adjustment), as OpenAI's logprobs report them.
#pragma once

#include <cstdint>
#include <span>

#include "engine/request.h"

namespace tmill::engine {

// logprob of `token` and the `top_k` most likely tokens (ties: lower id first). NaN logits
// count as -inf.
TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t top_k);

}  // namespace tmill::engine
