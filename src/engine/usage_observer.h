// The engine's report of each finished request, for metering (src/platform implements it).
// The engine measures; what is stored, priced and enforced is the observer's business.
#pragma once

#include <cstdint>

#include "engine/request.h"

namespace tmill::engine {

// What one request (one prompt with its n choices) consumed, measured by the engine itself:
// tokens the engine processed and sampled, not what a client managed to read.
struct FinishedRequest {
  const RequestOwner& owner;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  int64_t completion_tokens = 0;     // over all choices, including those of a cancelled request
  double cost_usd = 0;               // its share of the hardware cost of the steps it was in
  double energy_j = 0;               // its share of their energy
  double queue_ms = 0;               // submit -> admitted (0 when it never was)
  double ttft_ms = 0;                // submit -> first token (0 when none)
  double e2e_ms = 0;                 // submit -> finished
  FinishReason finish_reason = FinishReason::None;  // Stop, Length, Cancelled or Error
};

class UsageObserver {
 public:
  virtual ~UsageObserver() = default;
  // Called on the engine thread exactly once per submitted request, when it ends for any
  // reason, before its final event reaches the client. Must not block (queue the work).
  // Returns a ticket the HTTP side can wait on before sending the final byte (0: none).
  virtual uint64_t on_request_finished(const FinishedRequest& request) = 0;
};

}  // namespace tmill::engine
