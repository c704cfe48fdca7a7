#include "platform/quota.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "core/check.h"

namespace tmill::platform {
namespace {

constexpr double kSecondsPerMinute = 60.0;
// Refill arithmetic is floating point; a bucket short by less than a millionth of a token (or
// request) is treated as having enough, so a retry at exactly retry_after_s succeeds.
constexpr double kBucketSlack = 1e-6;

// What `needed` lacks in a bucket holding `available`, or 0 when it is (within slack) enough.
double shortfall(double available, double needed) {
  const double missing = needed - available;
  return missing > kBucketSlack ? missing : 0.0;
}

constexpr double kNanoPerUsd = 1e9;
// 10^9 USD: far above any budget, and small enough that adding three capped amounts cannot
// overflow int64.
constexpr int64_t kMaxNano = 1'000'000'000'000'000'000;

// Negative and NaN amounts become 0: an estimate or a ledger sum can never add capacity.
int64_t to_nano(double usd) {
  if (!(usd > 0)) return 0;
  const double nano = std::round(usd * kNanoPerUsd);
  return nano >= static_cast<double>(kMaxNano) ? kMaxNano : static_cast<int64_t>(nano);
}

double to_usd(int64_t nano) { return static_cast<double>(nano) / kNanoPerUsd; }

int64_t add_capped(int64_t a, int64_t b) { return std::min(a + b, kMaxNano); }

int64_t floor_div(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RateLimiter

void RateLimiter::refill(KeyBuckets& buckets, const RateLimits& limits, Clock::time_point now) {
  // A clock that appears to go backwards (tests, or a caller mixing time points) refills nothing
  // rather than draining the bucket.
  double elapsed_s = 0;
  if (now > buckets.refilled_at) {
    elapsed_s = std::chrono::duration<double>(now - buckets.refilled_at).count();
    buckets.refilled_at = now;
  }
  auto refill_one = [elapsed_s](Bucket& bucket, int64_t per_minute) {
    if (per_minute <= 0) {  // unlimited (a negative limit is read as none, like 0)
      bucket.tracking = false;
      return;
    }
    const double capacity = static_cast<double>(per_minute);
    if (!bucket.tracking) {
      bucket.tracking = true;
      bucket.available = capacity;
      return;
    }
    bucket.available =
        std::min(capacity, bucket.available + elapsed_s * capacity / kSecondsPerMinute);
  };
  refill_one(buckets.requests, limits.rpm);
  refill_one(buckets.tokens, limits.tpm);
}

RateDecision RateLimiter::acquire(const std::string& key_id, const RateLimits& limits,
                                  int64_t tokens, Clock::time_point now) {
  tokens = std::max<int64_t>(tokens, 0);
  if (limits.rpm <= 0 && limits.tpm <= 0) return {true, 0.0, ""};
  if (limits.tpm > 0 && tokens > limits.tpm) return {false, -1.0, "tokens"};

  std::lock_guard lock(mutex_);
  auto [it, first_seen] = keys_.try_emplace(key_id);
  KeyBuckets& buckets = it->second;
  if (first_seen) buckets.refilled_at = now;
  refill(buckets, limits, now);

  // Each bucket refills at limit/60 per second, so a shortfall of x takes x * 60 / limit seconds.
  double requests_wait_s = 0;
  double tokens_wait_s = 0;
  if (limits.rpm > 0) {
    requests_wait_s = shortfall(buckets.requests.available, 1.0) * kSecondsPerMinute /
                      static_cast<double>(limits.rpm);
  }
  if (limits.tpm > 0) {
    tokens_wait_s = shortfall(buckets.tokens.available, static_cast<double>(tokens)) *
                    kSecondsPerMinute / static_cast<double>(limits.tpm);
  }
  if (requests_wait_s > 0 || tokens_wait_s > 0) {
    // Nothing is taken: both buckets or neither.
    if (tokens_wait_s > requests_wait_s) return {false, tokens_wait_s, "tokens"};
    return {false, requests_wait_s, "requests"};
  }
  if (limits.rpm > 0) buckets.requests.available -= 1.0;
  if (limits.tpm > 0) buckets.tokens.available -= static_cast<double>(tokens);
  return {true, 0.0, ""};
}

void RateLimiter::refund_tokens(const std::string& key_id, const RateLimits& limits, int64_t tokens,
                                Clock::time_point now) {
  if (limits.tpm <= 0 || tokens <= 0) return;
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return;  // never limited: its buckets are full already
  KeyBuckets& buckets = it->second;
  refill(buckets, limits, now);
  buckets.tokens.available = std::min(static_cast<double>(limits.tpm),
                                      buckets.tokens.available + static_cast<double>(tokens));
}

void RateLimiter::release(const std::string& key_id, const RateLimits& limits, int64_t tokens,
                          Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return;  // never limited: its buckets are full already
  KeyBuckets& buckets = it->second;
  refill(buckets, limits, now);
  if (limits.rpm > 0)
    buckets.requests.available =
        std::min(static_cast<double>(limits.rpm), buckets.requests.available + 1.0);
  if (limits.tpm > 0 && tokens > 0)
    buckets.tokens.available = std::min(static_cast<double>(limits.tpm),
                                        buckets.tokens.available + static_cast<double>(tokens));
}

// ---------------------------------------------------------------------------------------------
// BudgetTracker

int64_t BudgetTracker::period_start(const std::string& period, int64_t now_unix) {
  constexpr int64_t kSecondsPerDay = 86400;
  if (period == "day") return floor_div(now_unix, kSecondsPerDay) * kSecondsPerDay;
  if (period == "month") {
    using namespace std::chrono;
    const sys_days day = floor<days>(sys_seconds{seconds{now_unix}});
    const year_month_day date{day};
    const sys_days first_of_month{date.year() / date.month() / 1};
    return duration_cast<seconds>(first_of_month.time_since_epoch()).count();
  }
  return 0;  // "total", and any name that is not a period
}

BudgetTracker::BudgetTracker(SpendLoader loader) : load_spent_(std::move(loader)) {
  TM_CHECK(load_spent_, "BudgetTracker needs a spend loader");
}

BudgetDecision BudgetTracker::reserve(const std::string& key_id, double budget_usd,
                                      const std::string& period, double amount, int64_t now_unix,
                                      uint64_t* reservation_id) {
  TM_CHECK(reservation_id != nullptr, "a reservation must be kept to be settled");
  *reservation_id = 0;
  const int64_t start = period_start(period, now_unix);
  const int64_t amount_nano = to_nano(amount);

  // A key's spend must be (re)loaded when it is new, its period setting changed, or time has
  // entered a later period. An earlier period (a caller's clock behind another's) keeps the
  // current state: spend never moves backwards.
  // A failed load is retried by the next request.
  auto needs_load = [&](const KeyBudget& key) {
    return !key.spent_known || key.period != period || start > key.period_start;
  };

  std::unique_lock lock(mutex_);
  auto it = keys_.find(key_id);
  if (it == keys_.end() || needs_load(it->second)) {
    // The ledger query runs unlocked so it holds up no other key's admission.
    lock.unlock();
    const double loaded_usd = load_spent_(key_id, start);
    lock.lock();
    bool first_seen = false;
    std::tie(it, first_seen) = keys_.try_emplace(key_id);
    KeyBudget& key = it->second;
    // Another thread may have loaded this period (or a later one) meanwhile: keep theirs.
    if (first_seen || needs_load(key)) {
      key.period = period;
      key.period_start = start;
      key.spent_known = !std::isnan(loaded_usd);
      // Unknown, the spend of this period so far is whatever settles meanwhile; the next
      // successful load replaces it.
      key.spent_nano = key.spent_known ? to_nano(loaded_usd) : 0;
      // reserved_nano stays: requests in flight across the period change still hold it.
    }
  }
  KeyBudget& key = it->second;

  const bool unlimited = !(budget_usd > 0);
  const int64_t committed_nano =
      add_capped(add_capped(key.spent_nano, key.reserved_nano), amount_nano);
  // With the spend unknown a budget cannot be checked: refuse rather than risk overshooting.
  const bool allowed = unlimited || (key.spent_known && committed_nano <= to_nano(budget_usd));
  if (allowed) {
    const uint64_t id = next_reservation_id_++;
    reservations_.emplace(id, Reservation{key_id, amount_nano, 1, 0});
    key.reserved_nano = add_capped(key.reserved_nano, amount_nano);
    *reservation_id = id;
  }
  const double spent_usd =
      key.spent_known ? to_usd(key.spent_nano) : std::numeric_limits<double>::quiet_NaN();
  return {allowed, spent_usd, to_usd(key.reserved_nano), budget_usd};
}

void BudgetTracker::release(std::unordered_map<uint64_t, Reservation>::iterator reservation) {
  KeyBudget& key = keys_.at(reservation->second.key_id);
  key.reserved_nano -= reservation->second.held_nano;
  reservations_.erase(reservation);
}

void BudgetTracker::set_parts(uint64_t reservation_id, int32_t parts) {
  std::lock_guard lock(mutex_);
  auto it = reservations_.find(reservation_id);
  if (it == reservations_.end()) return;
  it->second.parts = std::max(parts, 1);
  if (it->second.parts_settled >= it->second.parts) release(it);
}

void BudgetTracker::settle(uint64_t reservation_id, double actual_usd) {
  std::lock_guard lock(mutex_);
  auto it = reservations_.find(reservation_id);
  if (it == reservations_.end()) return;
  Reservation& reservation = it->second;
  KeyBudget& key = keys_.at(reservation.key_id);
  const int64_t actual_nano = to_nano(actual_usd);
  key.spent_nano = add_capped(key.spent_nano, actual_nano);
  // What this part spent moves from reserved to spent; spent + reserved never drops before the
  // last part, so other requests never see capacity this request may still need.
  const int64_t moved_nano = std::min(actual_nano, reservation.held_nano);
  reservation.held_nano -= moved_nano;
  key.reserved_nano -= moved_nano;
  if (++reservation.parts_settled >= reservation.parts) release(it);
}

void BudgetTracker::cancel(uint64_t reservation_id) {
  std::lock_guard lock(mutex_);
  auto it = reservations_.find(reservation_id);
  if (it != reservations_.end()) release(it);
}

size_t BudgetTracker::outstanding_reservations() const {
  std::lock_guard lock(mutex_);
  return reservations_.size();
}

}  // namespace tmill::platform
