// Who may use the server, how much, and where their usage goes: the hooks the HTTP layer calls
// for authentication, quotas and the usage ledger. src/platform implements them (API keys in
// SQLite, rate limits, budgets, the ledger); a Service without one is an open server.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace tmill::server {

struct Principal {
  std::string tenant;   // "": the default tenant of an open server
  std::string key_id;   // "": no key
  bool admin = false;   // may read every tenant's usage and /metrics
  double weight = 1.0;  // fair-share weight in the engine
};

// What a generation request may consume, known before it runs.
struct AdmissionRequest {
  std::string model;                  // the served model's id
  int64_t prompt_tokens = 0;          // over all prompts of the request
  int64_t max_completion_tokens = 0;  // max_tokens x n x prompts
  int32_t parts = 1;                  // engine requests it becomes (one per prompt)
};

struct Admission {
  uint64_t reservation_id = 0;  // settled part by part as the engine reports usage; 0: none
};

class AccessControl {
 public:
  virtual ~AccessControl() = default;

  // The caller of a request, from its Authorization header value ("" when absent). With API
  // keys configured a missing, malformed, unknown or revoked key is a 401; without keys every
  // caller is the default tenant.
  virtual ApiResult<Principal> authenticate(std::string_view authorization) = 0;

  // Allowed models (403), rate limits and budget (429 with Retry-After / x-should-retry), and a
  // reservation that each part's usage report settles.
  virtual ApiResult<Admission> admit(const Principal& who, const AdmissionRequest& what) = 0;

  // The engine refused `parts_not_submitted` parts of an admitted request (queue full, too
  // long): they will never report usage, so their share of the reservation is released.
  virtual void withdraw(const Admission& admission, int32_t parts_not_submitted) = 0;

  // Calls fn exactly once when the usage with this ticket is durably recorded (at once when it
  // already is, or when there is nothing to wait for). fn must not block.
  virtual void when_recorded(uint64_t ticket, std::function<void()> fn) = 0;

  // GET /v1/usage?from=&to=&group_by= : {"object": "list", "data": [...]}. A tenant's key sees
  // only its tenant; an admin key sees all.
  virtual ApiResult<nlohmann::json> usage(const Principal& who, std::string_view query) = 0;

  // Lines appended to /metrics (Prometheus text, names prefixed tokenmill_); may be empty.
  virtual std::string metrics_text() = 0;
};

}  // namespace tmill::server
