#include "platform/gatekeeper.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

#include "server/metrics_text.h"

namespace tmill::platform {
namespace {

using server::ApiError;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiError unauthorized(std::string message) {
  ApiError e;
  e.status = 401;
  e.type = "authentication_error";
  e.message = std::move(message);
  e.code = "invalid_api_key";
  return e;
}

ApiError rate_limited(std::string message, double retry_after_s) {
  ApiError e;
  e.status = 429;
  e.type = "rate_limit_error";
  e.code = "rate_limit_exceeded";
  e.message = std::move(message);
  if (retry_after_s >= 0)
    e.retry_after_seconds = std::max(1, static_cast<int>(std::ceil(retry_after_s)));
  else
    e.should_not_retry = true;
  return e;
}

ApiError internal(std::string message) {
  return server::server_error(500, std::move(message), "internal_error");
}

std::string format_usd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", v);
  return buf;
}

}  // namespace

// --- Gatekeeper ---------------------------------------------------------------------------

Expected<std::unique_ptr<Gatekeeper>> Gatekeeper::open(GatekeeperOptions options) {
  TM_ASSIGN(std::unique_ptr<KeyStore> keys, KeyStore::open(options.data_dir));
  std::unique_ptr<Ledger> ledger;
  if (options.record_usage) {
    TM_ASSIGN(ledger, Ledger::open(options.data_dir));
  }
  auto gk = std::unique_ptr<Gatekeeper>(
      new Gatekeeper(std::move(options), std::move(keys), std::move(ledger)));
  gk->keys_required();
  return gk;
}

Gatekeeper::Gatekeeper(GatekeeperOptions options, std::unique_ptr<KeyStore> keys,
                       std::unique_ptr<Ledger> ledger)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      ledger_(std::move(ledger)),
      // A key's spend in its budget period comes from the ledger, so budgets survive restarts.
      budgets_([this](const std::string& key_id, int64_t since_unix) -> double {
        if (!ledger_) return 0.0;
        auto spent = ledger_->charged_since(key_id, since_unix);
        if (!spent.ok()) {
          std::fprintf(stderr, "metering: could not read key %s's spend: %s\n", key_id.c_str(),
                       spent.error().message.c_str());
          // Unknown spend: a key with a budget is refused (and retried next request) rather
          // than given a fresh budget.
          return std::numeric_limits<double>::quiet_NaN();
        }
        return spent.value();
      }) {}

Gatekeeper::~Gatekeeper() = default;

bool Gatekeeper::keys_required() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (keys_required_ || now - keys_checked_ < std::chrono::seconds(1)) return keys_required_;
  keys_checked_ = now;
  auto keys = keys_->list(/*include_revoked=*/true);
  if (!keys.ok()) {
    // Cannot tell: fail closed.
    std::fprintf(stderr, "metering: could not read API keys: %s\n", keys.error().message.c_str());
    keys_required_ = true;
  } else {
    keys_required_ = !keys->empty();
  }
  return keys_required_;
}

server::ApiResult<server::Principal> Gatekeeper::authenticate(std::string_view authorization) {
  server::Principal p;
  if (!keys_required()) {
    p.tenant = "default";
    p.admin = true;  // an open server (loopback) has a single user
    return p;
  }
  const std::string_view secret = bearer_secret(authorization);
  if (secret.empty()) {
    ++rejected_auth_;
    return unauthorized(
        "You didn't provide an API key. Send it in the Authorization header: "
        "'Authorization: Bearer YOUR_KEY'");
  }
  auto key = keys_->authenticate(secret);
  if (!key.ok()) return internal("could not check the API key: " + key.error().message);
  if (!key->has_value()) {
    ++rejected_auth_;
    return unauthorized("Incorrect or revoked API key provided");
  }
  const KeyRecord& k = **key;
  {
    std::lock_guard lock(mutex_);
    limits_[k.key_id] = k.limits;  // as of this request: admit() uses them next
  }
  p.tenant = k.tenant;
  p.key_id = k.key_id;
  p.admin = k.admin;
  p.weight = k.limits.weight;
  return p;
}

server::ApiResult<server::Admission> Gatekeeper::admit(const server::Principal& who,
                                                       const server::AdmissionRequest& what) {
  server::Admission admission;
  if (who.key_id.empty()) return admission;  // open server: no limits
  KeyLimits limits;
  {
    std::lock_guard lock(mutex_);
    auto it = limits_.find(who.key_id);
    if (it == limits_.end()) return unauthorized("unknown API key");
    limits = it->second;
  }
  if (!limits.models.empty() &&
      std::find(limits.models.begin(), limits.models.end(), what.model) == limits.models.end()) {
    return server::forbidden("this API key may not use the model '" + what.model + "'",
                             "model_not_allowed", "model");
  }
  const int64_t tokens = what.prompt_tokens + what.max_completion_tokens;
  const RateLimits rates{limits.rpm, limits.tpm};
  const auto now = Clock::now();
  const RateDecision rate = rate_limiter_.acquire(who.key_id, rates, tokens, now);
  if (!rate.allowed) {
    ++rejected_rate_;
    if (rate.retry_after_s < 0)
      return rate_limited("the request needs up to " + std::to_string(tokens) +
                              " tokens (prompt + max_tokens x n) but the key's limit is " +
                              std::to_string(limits.tpm) +
                              " tokens per minute; lower max_tokens or the prompt",
                          -1);
    return rate_limited("rate limit reached for " + rate.which + " per minute (limit " +
                            std::to_string(rate.which == "requests" ? limits.rpm : limits.tpm) +
                            "); retry after the Retry-After seconds",
                        rate.retry_after_s);
  }
  // The reservation is the most the request can be charged: no cached prompt, every token.
  const double estimate =
      options_.prices.charge_usd(what.model, what.prompt_tokens, 0, what.max_completion_tokens);
  uint64_t reservation = 0;
  const BudgetDecision budget = budgets_.reserve(
      who.key_id, limits.budget_usd, limits.budget_period, estimate, unix_now(), &reservation);
  if (!budget.allowed && std::isnan(budget.spent_usd)) {
    rate_limiter_.release(who.key_id, rates, tokens, now);
    ApiError e = server::server_error(503,
                                      "the key's spend could not be read from the usage "
                                      "ledger, so its budget cannot be checked; retry later",
                                      "ledger_unavailable");
    e.retry_after_seconds = 5;
    return e;
  }
  if (!budget.allowed) {
    ++rejected_budget_;
    rate_limiter_.release(who.key_id, rates, tokens, now);
    ApiError e;
    e.status = 429;
    e.type = "insufficient_quota";
    e.code = "insufficient_quota";
    e.should_not_retry = true;
    e.message = "You exceeded your current quota: this key's " + limits.budget_period +
                " budget is $" + format_usd(budget.budget_usd) + ", $" +
                format_usd(budget.spent_usd) + " is spent and $" + format_usd(budget.reserved_usd) +
                " reserved by running requests; this request could cost up to $" +
                format_usd(estimate);
    return e;
  }
  budgets_.set_parts(reservation, what.parts);
  {
    std::lock_guard lock(mutex_);
    held_[reservation] = Held{who.key_id, rates, tokens, 0, what.parts};
  }
  admission.reservation_id = reservation;
  return admission;
}

void Gatekeeper::settle_part(uint64_t reservation_id, int64_t used_tokens, int32_t parts) {
  Held done;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(reservation_id);
    if (it == held_.end()) return;
    it->second.used_tokens += used_tokens;
    it->second.parts_left -= parts;
    if (it->second.parts_left > 0) return;
    done = std::move(it->second);
    held_.erase(it);
  }
  // Tokens per minute count what was used: give back the unused part of the estimate.
  if (done.reserved_tokens > done.used_tokens)
    rate_limiter_.refund_tokens(done.key_id, done.limits, done.reserved_tokens - done.used_tokens,
                                Clock::now());
}

void Gatekeeper::withdraw(const server::Admission& admission, int32_t parts_not_submitted) {
  if (admission.reservation_id == 0 || parts_not_submitted <= 0) return;
  for (int32_t i = 0; i < parts_not_submitted; ++i) budgets_.settle(admission.reservation_id, 0);
  settle_part(admission.reservation_id, 0, parts_not_submitted);
}

uint64_t Gatekeeper::on_request_finished(const engine::FinishedRequest& r) {
  const double charge = options_.prices.charge_usd(r.owner.model, r.prompt_tokens,
                                                   r.cached_prompt_tokens, r.completion_tokens);
  uint64_t ticket = 0;
  if (ledger_) {
    LedgerRow row;
    row.request_id = r.owner.request_id;
    row.part = r.owner.part;
    row.tenant = r.owner.tenant;
    row.key_id = r.owner.key_id;
    row.model = r.owner.model;
    row.prompt_tokens = r.prompt_tokens;
    row.cached_prompt_tokens = r.cached_prompt_tokens;
    row.completion_tokens = r.completion_tokens;
    row.cost_usd = r.cost_usd;
    row.charge_usd = charge;
    row.energy_j = r.energy_j;
    row.queue_ms = r.queue_ms;
    row.ttft_ms = r.ttft_ms;
    row.e2e_ms = r.e2e_ms;
    row.finish_reason = engine::to_string(r.finish_reason);
    row.finished_unix_ms = unix_now_ms();
    ticket = ledger_->append(std::move(row));
  }
  if (r.owner.reservation_id != 0) {
    budgets_.settle(r.owner.reservation_id, charge);
    settle_part(r.owner.reservation_id, r.prompt_tokens + r.completion_tokens, 1);
  }
  return ticket;
}

void Gatekeeper::when_recorded(uint64_t ticket, std::function<void()> fn) {
  if (!ledger_ || ticket == 0) {
    fn();
    return;
  }
  ledger_->on_durable(ticket, std::move(fn));
}

server::ApiResult<nlohmann::json> Gatekeeper::usage(const server::Principal& who,
                                                    std::string_view query) {
  if (!ledger_)
    return server::not_found("usage is not recorded by this server (started with --no-metering)");
  auto q = parse_usage_query(query);
  if (!q.ok()) return q.error();
  if (!who.admin) {
    if (q.value().tenant && *q.value().tenant != who.tenant) {
      return server::forbidden("this API key may read only its own tenant's usage", "forbidden",
                               "tenant");
    }
    q.value().tenant = who.tenant;
  }
  auto rows = ledger_->usage(q.value());
  if (!rows.ok()) return internal("could not read the usage ledger: " + rows.error().message);
  return usage_json(*rows);
}

std::string Gatekeeper::metrics_text() {
  std::string out;
  auto value = [](uint64_t v) { return static_cast<double>(v); };
  server::append_prometheus_scalar(out, "counter", "rejected_unauthenticated_total",
                                   value(rejected_auth_.load()),
                                   "Requests refused for a missing or bad API key.");
  server::append_prometheus_scalar(out, "counter", "rejected_rate_limited_total",
                                   value(rejected_rate_.load()),
                                   "Requests refused by a key's rate limits.");
  server::append_prometheus_scalar(out, "counter", "rejected_budget_total",
                                   value(rejected_budget_.load()),
                                   "Requests refused because a key's budget was exhausted.");
  server::append_prometheus_scalar(out, "gauge", "budget_reservations",
                                   value(budgets_.outstanding_reservations()),
                                   "Budget reservations of requests still running.");
  if (ledger_)
    server::append_prometheus_scalar(out, "gauge", "ledger_healthy",
                                     ledger_->last_error().ok() ? 1 : 0,
                                     "1 while usage-ledger commits succeed.");
  return out;
}

}  // namespace tmill::platform
