// Per-key quotas, enforced at admission: rate limits (requests and tokens per minute) and money
// budgets (USD per day, month or in total). Pure logic with the time passed in, so tests drive
// the clock; each class is thread-safe behind one mutex (HTTP threads admit and settle
// concurrently). How limits and budgets behave for tenants is in docs/price-sheet.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tmill::platform {

using Clock = std::chrono::steady_clock;

// Rate limits per key: requests/min and tokens/min token buckets (capacity = the per-minute
// limit, refilled continuously at limit/60 per second). 0 = unlimited.
struct RateLimits {
  int64_t rpm = 0;
  int64_t tpm = 0;
};

struct RateDecision {
  bool allowed = false;
  // Seconds until the same request would be allowed if nothing else took from the buckets;
  // 0 when allowed, -1 when it never will be (more tokens than the tpm capacity).
  double retry_after_s = 0;
  std::string which;  // the limit that refused: "requests" or "tokens"; empty when allowed
};

class RateLimiter {
 public:
  // Takes 1 request and `tokens` estimated tokens (prompt + max_tokens × n) from the key's
  // buckets, atomically: both or neither. A request larger than the tpm capacity itself is
  // never allowed (retry_after_s = -1 meaning "never": caller answers 429 with a message).
  // When both buckets are short, the refusal names the one with the longer wait, and
  // retry_after_s is that wait (both buckets have refilled enough by then).
  RateDecision acquire(const std::string& key_id, const RateLimits& limits, int64_t tokens,
                       Clock::time_point now);

  // Gives back tokens reserved but not used (estimate − actual, when the request finished).
  // The bucket never holds more than its capacity.
  void refund_tokens(const std::string& key_id, const RateLimits& limits, int64_t tokens,
                     Clock::time_point now);

  // Undoes an allowed acquire() whose request was then refused for another reason (its budget):
  // gives back the request and its `tokens`, so a refused request takes nothing. The buckets
  // never hold more than their capacity.
  void release(const std::string& key_id, const RateLimits& limits, int64_t tokens,
               Clock::time_point now);

 private:
  // A full bucket is the same as a missing one, so a key's state starts when first limited.
  struct Bucket {
    bool tracking = false;  // false while the limit is 0: starts full when a limit appears
    double available = 0;
  };
  struct KeyBuckets {
    Bucket requests;
    Bucket tokens;
    Clock::time_point refilled_at;
  };
  // Brings both buckets up to `now` under the current limits (which may have changed since the
  // key was last seen: capacity follows them).
  static void refill(KeyBuckets& buckets, const RateLimits& limits, Clock::time_point now);

  std::mutex mutex_;
  std::unordered_map<std::string, KeyBuckets> keys_;
};

// Money budgets with reservation at admission and reconciliation at completion, so concurrent
// requests cannot overshoot a budget: a request is admitted only while spent + reserved + its
// own estimate fits, and its estimate stays reserved until it settles or is cancelled.
//
// Amounts are kept internally as integer nano-dollars, so reserving and releasing the same
// amounts restores a key's capacity exactly (no floating-point drift over millions of requests)
// and "fits" needs no epsilon.
struct BudgetDecision {
  bool allowed = false;
  // The key's state after the decision (on success `reserved_usd` includes this reservation).
  double spent_usd = 0;  // NaN when the spend could not be loaded (see SpendLoader)
  double reserved_usd = 0;
  double budget_usd = 0;
};

class BudgetTracker {
 public:
  // Period start (unix seconds, UTC) for "day" / "month" / "total" (0) at `now_unix`.
  // Any other name is treated as "total": the period that never resets is the safe reading.
  static int64_t period_start(const std::string& period, int64_t now_unix);

  // Seeds a key's spend in its current period (from the ledger at startup or at period change).
  // `load_spent(key_id, since_unix)` is called when a key is first seen or its period rolls over
  // (or the key's period setting changes). It is called without the tracker's lock held, so a
  // slow ledger query blocks no other key; two first requests of one key at the same moment may
  // both load, and one result is used. It must not call back into the tracker.
  //
  // A loader that cannot read the ledger returns NaN ("unknown"): the key's limited budget then
  // refuses (its decision has spent_usd = NaN, so the caller can say why), an unlimited one still
  // admits, and the next request of the key tries the loader again. Negative sums count as 0.
  using SpendLoader = std::function<double(const std::string& key_id, int64_t since_unix)>;
  explicit BudgetTracker(SpendLoader loader);

  // Admits when spent + reserved + amount <= budget; on success reserves `amount` under a new
  // reservation id (> 0), written to `*reservation_id` (0 when refused). budget <= 0 means
  // unlimited (always allowed, id still returned, spend still tracked). Negative amounts count
  // as 0.
  //
  // A reservation outlives a period change: it keeps holding its amount in the new period, and
  // its settled charge counts in the period in which it settles.
  BudgetDecision reserve(const std::string& key_id, double budget_usd, const std::string& period,
                         double amount, int64_t now_unix, uint64_t* reservation_id);

  // A reservation can cover several parts (prompts) of one HTTP request: each settle() adds
  // that part's actual charge to spent and releases as much of the hold as it spent; the rest of
  // the hold is released when `parts` settles happened (default 1). Unknown ids are ignored.
  void set_parts(uint64_t reservation_id, int32_t parts);
  void settle(uint64_t reservation_id, double actual_usd);
  void cancel(uint64_t reservation_id);  // request never ran: release without spending

  // Reservations not yet settled or cancelled (for /metrics and leak checks in tests).
  size_t outstanding_reservations() const;

 private:
  struct KeyBudget {
    std::string period;
    int64_t period_start = 0;
    int64_t spent_nano = 0;
    int64_t reserved_nano = 0;
    bool spent_known = false;  // false until a load succeeds: such a key is reloaded next time
  };
  struct Reservation {
    std::string key_id;
    int64_t held_nano = 0;  // what this reservation still holds in its key's reserved_nano
    int32_t parts = 1;
    int32_t parts_settled = 0;
  };
  void release(std::unordered_map<uint64_t, Reservation>::iterator reservation);

  SpendLoader load_spent_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, KeyBudget> keys_;
  std::unordered_map<uint64_t, Reservation> reservations_;
  uint64_t next_reservation_id_ = 1;
};

}  // namespace tmill::platform
