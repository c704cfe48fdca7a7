// The Gatekeeper: bearer tokens and /v1/usage query strings, an open server locked by the first
// key, 401/403/429 refusals (rate limits with Retry-After, budgets with x-should-retry: false),
// budget reservations that never over-admit under concurrency, usage reports written to the
// ledger and read back per tenant, and durability tickets.
#include "platform/gatekeeper.h"
#include "platform/temp_dir.h"
#include "platform/usage_request.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tmill::platform {
namespace {

using namespace std::chrono_literals;

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("tm_gatekeeper") {}
};

// $0.01 per prompt token, $0.005 per cached one, $0.02 per completion token.
constexpr const char* kPrices = R"({
  "hardware": {"usd_per_hour": 3.6, "idle_watts": 10, "busy_watts": 50},
  "models": {"m": {"input_usd_per_mtok": 10000, "cached_input_usd_per_mtok": 5000,
                   "output_usd_per_mtok": 20000}}
})";

PriceSheet prices() {
  auto sheet = parse_price_sheet(kPrices, "prices.json");
  EXPECT_TRUE(sheet.ok()) << sheet.error().message;
  return sheet.ok() ? *sheet : PriceSheet{};
}

std::unique_ptr<Gatekeeper> open_gatekeeper(const std::filesystem::path& dir) {
  GatekeeperOptions o;
  o.data_dir = dir;
  o.prices = prices();
  auto gk = Gatekeeper::open(std::move(o));
  EXPECT_TRUE(gk.ok()) << gk.error().message;
  return gk.ok() ? std::move(*gk) : nullptr;
}

// Creates a key through its own KeyStore on the data dir (as `tokenmill keys create` would).
std::pair<KeyRecord, std::string> create_key(const std::filesystem::path& dir,
                                             const std::string& tenant,
                                             const KeyLimits& limits = {}, bool admin = false) {
  auto store = KeyStore::open(dir);
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store.ok()) return {};
  auto created = (*store)->create(tenant, admin, limits);
  EXPECT_TRUE(created.ok()) << created.error().message;
  return created.ok() ? std::move(*created) : std::pair<KeyRecord, std::string>{};
}

server::Principal login(Gatekeeper& gk, const std::string& secret) {
  auto p = gk.authenticate("Bearer " + secret);
  EXPECT_TRUE(p.ok()) << p.error().message;
  return p.ok() ? p.value() : server::Principal{};
}

server::AdmissionRequest ask(int64_t prompt, int64_t completion, const std::string& model = "m") {
  server::AdmissionRequest a;
  a.model = model;
  a.prompt_tokens = prompt;
  a.max_completion_tokens = completion;
  return a;
}

// A finished request as the engine reports it.
struct Finished {
  engine::RequestOwner owner;
  int64_t prompt = 0, cached = 0, completion = 0;
  double cost = 0, energy = 0;
  engine::FinishReason reason = engine::FinishReason::Length;

  uint64_t report(Gatekeeper& gk) const {
    engine::FinishedRequest f{owner};
    f.prompt_tokens = prompt;
    f.cached_prompt_tokens = cached;
    f.completion_tokens = completion;
    f.cost_usd = cost;
    f.energy_j = energy;
    f.queue_ms = 1;
    f.ttft_ms = 2;
    f.e2e_ms = 3;
    f.finish_reason = reason;
    return gk.on_request_finished(f);
  }
};

Finished finished(const server::Principal& who, const std::string& request_id, uint64_t reservation,
                  int64_t prompt, int64_t completion) {
  Finished f;
  f.owner.tenant = who.tenant;
  f.owner.key_id = who.key_id;
  f.owner.model = "m";
  f.owner.request_id = request_id;
  f.owner.reservation_id = reservation;
  f.prompt = prompt;
  f.completion = completion;
  return f;
}

uint64_t metric(const std::string& text, const std::string& name) {
  const std::string line = "\ntokenmill_" + name + " ";
  const size_t at = text.find(line);
  EXPECT_NE(at, std::string::npos) << name << " missing from\n" << text;
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(text.substr(at + line.size()));
}

// --- parsing -------------------------------------------------------------------------------

TEST(BearerSecret, TakesTheTokenOfTheBearerSchemeOnly) {
  EXPECT_EQ(bearer_secret("Bearer tm-abc"), "tm-abc");
  EXPECT_EQ(bearer_secret("bearer tm-abc"), "tm-abc");
  EXPECT_EQ(bearer_secret("BEARER tm-abc"), "tm-abc");
  EXPECT_EQ(bearer_secret("bEaReR tm-abc"), "tm-abc");
  EXPECT_EQ(bearer_secret("  Bearer    tm-abc   "), "tm-abc");
  EXPECT_EQ(bearer_secret("\tBearer tm-abc\t"), "tm-abc");
  EXPECT_EQ(bearer_secret(""), "");
  EXPECT_EQ(bearer_secret("Bearer"), "");
  EXPECT_EQ(bearer_secret("Bearer "), "");
  EXPECT_EQ(bearer_secret("Bearer     "), "");
  EXPECT_EQ(bearer_secret("Bearertm-abc"), "");
  EXPECT_EQ(bearer_secret("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(bearer_secret("Token tm-abc"), "");
  EXPECT_EQ(bearer_secret("Bearer2 tm-abc"), "");
  EXPECT_EQ(bearer_secret("tm-abc"), "");
}

TEST(ParseUsageQuery, DefaultsToEverythingUngrouped) {
  auto q = parse_usage_query("");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->from_unix, 0);
  EXPECT_EQ(q->to_unix, INT64_MAX);
  EXPECT_TRUE(q->group_by.empty());
  EXPECT_FALSE(q->tenant.has_value());
}

TEST(ParseUsageQuery, TimesAsUnixSecondsOrUtcDates) {
  auto q = parse_usage_query("from=1700000000&to=1700086400");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->from_unix, 1700000000);
  EXPECT_EQ(q->to_unix, 1700086400);

  q = parse_usage_query("from=2024-01-01&to=2024-02-01");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->from_unix, 1704067200);
  EXPECT_EQ(q->to_unix, 1706745600);

  q = parse_usage_query("from=2024-01-01T12:30:15Z&to=2024-03-01T00:00");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->from_unix, 1704067200 + 12 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(q->to_unix, 1709251200);
  // %3A is ':'.
  q = parse_usage_query("from=2024-01-01T12%3A30%3A15Z");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->from_unix, 1704067200 + 12 * 3600 + 30 * 60 + 15);
}

TEST(ParseUsageQuery, GroupByListAndTenant) {
  auto q = parse_usage_query("group_by=tenant,model");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->group_by, (std::vector<GroupBy>{GroupBy::Tenant, GroupBy::Model}));
  // A url-encoded comma, key_id as a synonym, duplicates once.
  q = parse_usage_query("group_by=day%2Ckey_id%2ckey&tenant=acme");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->group_by, (std::vector<GroupBy>{GroupBy::Day, GroupBy::Key}));
  EXPECT_EQ(q->tenant, "acme");
  // Parameters split across several group_by= add up.
  q = parse_usage_query("group_by=tenant&group_by=day");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->group_by, (std::vector<GroupBy>{GroupBy::Tenant, GroupBy::Day}));
}

void expect_bad_query(std::string_view query, const std::string& param) {
  auto q = parse_usage_query(query);
  ASSERT_FALSE(q.ok()) << query;
  EXPECT_EQ(q.error().status, 400) << query;
  EXPECT_EQ(q.error().type, "invalid_request_error") << query;
  EXPECT_EQ(q.error().param, param) << query;
  EXPECT_FALSE(q.error().message.empty());
}

TEST(ParseUsageQuery, RejectsWhatItDoesNotUnderstand) {
  expect_bad_query("limit=10", "limit");
  expect_bad_query("group_by=tenant&format=csv", "format");
  expect_bad_query("group_by=week", "group_by");
  expect_bad_query("group_by=tenant,,day", "group_by");
  expect_bad_query("from=yesterday", "from");
  expect_bad_query("to=2024-13-01", "to");
  expect_bad_query("from=2024-01-01x", "from");
  expect_bad_query("from=99999999999999", "from");
  // An empty range.
  expect_bad_query("from=100&to=100", "from");
  expect_bad_query("from=2024-02-01&to=2024-01-01", "from");
}

// --- authentication ------------------------------------------------------------------------

TEST(Gatekeeper, OpenServerWithoutKeysLetsEveryoneInAsTheDefaultAdmin) {
  TempDir dir;
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  EXPECT_FALSE(gk->keys_required());
  for (const char* header : {"", "Bearer anything", "Basic xyz"}) {
    auto p = gk->authenticate(header);
    ASSERT_TRUE(p.ok()) << header;
    EXPECT_EQ(p->tenant, "default");
    EXPECT_TRUE(p->admin);
    EXPECT_EQ(p->key_id, "");
    // No key: no limits, no reservation.
    auto a = gk->admit(p.value(), ask(1'000'000, 1'000'000));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->reservation_id, 0u);
  }
}

TEST(Gatekeeper, AKeyCreatedBesideAnOpenServerLocksItWithinASecond) {
  TempDir dir;
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  ASSERT_TRUE(gk->authenticate("").ok());
  KeyLimits limits;
  limits.weight = 2.5;
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  ASSERT_FALSE(secret.empty());
  // Keys are looked for again at most once a second.
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(gk->keys_required());

  auto missing = gk->authenticate("");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().status, 401);
  EXPECT_EQ(missing.error().type, "authentication_error");
  auto wrong = gk->authenticate("Bearer tm-" + std::string(43, 'A'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().status, 401);
  EXPECT_EQ(wrong.error().type, "authentication_error");
  auto other_scheme = gk->authenticate("Basic " + secret);
  ASSERT_FALSE(other_scheme.ok());
  EXPECT_EQ(other_scheme.error().status, 401);

  auto ok = gk->authenticate("bearer  " + secret);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->tenant, "acme");
  EXPECT_EQ(ok->key_id, record.key_id);
  EXPECT_FALSE(ok->admin);
  EXPECT_EQ(ok->weight, 2.5);

  // Revoked: refused, and the server stays locked (a revoked key still means keys are in use).
  auto store = KeyStore::open(dir.path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->revoke(record.key_id).ok());
  auto revoked = gk->authenticate("Bearer " + secret);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().status, 401);
  EXPECT_EQ(revoked.error().type, "authentication_error");
  EXPECT_TRUE(gk->keys_required());
  EXPECT_EQ(metric(gk->metrics_text(), "rejected_unauthenticated_total"), 4u);
}

TEST(Gatekeeper, KeysInTheDataDirAreRequiredFromTheStart) {
  TempDir dir;
  const auto [record, secret] = create_key(dir.path, "acme", {}, /*admin=*/true);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  EXPECT_TRUE(gk->keys_required());
  EXPECT_EQ(gk->authenticate("").error().status, 401);
  const server::Principal p = login(*gk, secret);
  EXPECT_TRUE(p.admin);
  EXPECT_EQ(p.tenant, "acme");
}

// --- admission -----------------------------------------------------------------------------

TEST(Gatekeeper, KeyRestrictedToModelsGets403ForOthers) {
  TempDir dir;
  KeyLimits limits;
  limits.models = {"m", "smollm2-135m"};
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  auto refused = gk->admit(p, ask(10, 10, "gemma3-270m"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 403);
  EXPECT_EQ(refused.error().type, "permission_error");
  EXPECT_EQ(refused.error().param, "model");
  EXPECT_TRUE(gk->admit(p, ask(10, 10, "smollm2-135m")).ok());
  EXPECT_TRUE(gk->admit(p, ask(10, 10, "m")).ok());
}

TEST(Gatekeeper, RequestsPerMinuteLimitRefusesWithRetryAfter) {
  TempDir dir;
  KeyLimits limits;
  limits.rpm = 1;
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  const auto [other_record, other_secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  ASSERT_TRUE(gk->admit(p, ask(5, 5)).ok());
  auto refused = gk->admit(p, ask(5, 5));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_EQ(refused.error().type, "rate_limit_error");
  EXPECT_FALSE(refused.error().should_not_retry);
  ASSERT_TRUE(refused.error().retry_after_seconds.has_value());
  // One request per minute: the next comes within a minute, not sooner than a second.
  EXPECT_GE(*refused.error().retry_after_seconds, 1);
  EXPECT_LE(*refused.error().retry_after_seconds, 60);
  EXPECT_NE(refused.error().message.find("requests"), std::string::npos);
  // The limit is per key.
  EXPECT_TRUE(gk->admit(login(*gk, other_secret), ask(5, 5)).ok());
  EXPECT_EQ(metric(gk->metrics_text(), "rejected_rate_limited_total"), 1u);
}

TEST(Gatekeeper, RequestLargerThanTheTokensPerMinuteIsNeverAdmitted) {
  TempDir dir;
  KeyLimits limits;
  limits.tpm = 100;
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  auto refused = gk->admit(p, ask(60, 60));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_TRUE(refused.error().should_not_retry);
  EXPECT_FALSE(refused.error().retry_after_seconds.has_value());
  // It took nothing: a request that fits is still admitted.
  EXPECT_TRUE(gk->admit(p, ask(50, 50)).ok());
}

TEST(Gatekeeper, BudgetReservesAtAdmissionAndSettlesAtFinish) {
  TempDir dir;
  KeyLimits limits;
  limits.budget_usd = 1.0;
  limits.budget_period = "total";
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  // Each request can cost up to 10 x $0.01 + 20 x $0.02 = $0.50.
  auto first = gk->admit(p, ask(10, 20));
  auto second = gk->admit(p, ask(10, 20));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->reservation_id, 0u);
  EXPECT_NE(first->reservation_id, second->reservation_id);
  auto refused = gk->admit(p, ask(10, 20));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_EQ(refused.error().type, "insufficient_quota");
  EXPECT_EQ(refused.error().code, "insufficient_quota");
  EXPECT_TRUE(refused.error().should_not_retry);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 2u);

  // The first finishes using 10 + 5 tokens: charged $0.20, so $0.30 of its hold comes back.
  // Spent 0.20 + reserved 0.50 leaves $0.30: still not enough for another $0.50.
  finished(p, "r1", first->reservation_id, 10, 5).report(*gk);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 1u);
  EXPECT_FALSE(gk->admit(p, ask(10, 20)).ok());
  // A request that fits in $0.30 is admitted and (never submitted) withdrawn again.
  auto small = gk->admit(p, ask(10, 10));  // $0.30
  ASSERT_TRUE(small.ok()) << small.error().message;
  gk->withdraw(small.value(), 1);
  // The second is refused by the engine (never runs): withdrawing releases its $0.50.
  gk->withdraw(second.value(), 1);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 0u);
  auto third = gk->admit(p, ask(10, 20));  // 0.20 + 0.50 <= 1
  ASSERT_TRUE(third.ok()) << third.error().message;
  auto fourth = gk->admit(p, ask(10, 20));  // 0.20 + 0.50 + 0.50 > 1
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.error().type, "insufficient_quota");
  EXPECT_EQ(metric(gk->metrics_text(), "rejected_budget_total"), 3u);
}

// A refused request takes nothing from the rate limits (docs/price-sheet.md), whichever limit
// refused it: a budget refusal gives back its request and its tokens.
TEST(Gatekeeper, BudgetRefusalTakesNothingFromTheRateLimits) {
  TempDir dir;
  KeyLimits limits;
  limits.rpm = 1;
  limits.tpm = 40;
  limits.budget_usd = 0.1;
  limits.budget_period = "total";
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  auto refused = gk->admit(p, ask(10, 20));  // 30 tokens, up to $0.50
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().type, "insufficient_quota");
  // The request slot and all 40 tokens are still there (a model the price sheet does not list
  // is free, so the budget lets this one through).
  auto admitted = gk->admit(p, ask(20, 20, "unpriced"));
  ASSERT_TRUE(admitted.ok()) << admitted.error().message;
  // And now the minute's one request is taken.
  auto limited = gk->admit(p, ask(1, 1, "unpriced"));
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().type, "rate_limit_error");
}

TEST(Gatekeeper, BudgetSpendSurvivesARestart) {
  TempDir dir;
  KeyLimits limits;
  limits.budget_usd = 1.0;
  limits.budget_period = "total";
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  {
    auto gk = open_gatekeeper(dir.path);
    ASSERT_TRUE(gk);
    const server::Principal p = login(*gk, secret);
    auto a = gk->admit(p, ask(20, 30));  // up to $0.80
    ASSERT_TRUE(a.ok());
    finished(p, "r1", a->reservation_id, 20, 30).report(*gk);  // charged $0.80
  }
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  auto refused = gk->admit(p, ask(10, 10));  // $0.30 more would pass $1
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().type, "insufficient_quota");
  EXPECT_TRUE(gk->admit(p, ask(10, 5)).ok());  // $0.20 fits
}

TEST(Gatekeeper, ConcurrentAdmissionsNeverOverrunTheBudget) {
  TempDir dir;
  KeyLimits limits;
  limits.budget_usd = 1.0;
  limits.budget_period = "month";
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  const double estimate = 0.03;  // 1 prompt + 1 completion token
  constexpr int kThreads = 100;
  std::atomic<bool> go{false};
  std::atomic<int> admitted{0}, refused_budget{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      auto who = gk->authenticate("Bearer " + secret);
      if (!who.ok()) {
        ++other;
        return;
      }
      auto a = gk->admit(who.value(), ask(1, 1));
      if (a.ok())
        ++admitted;
      else if (a.error().type == "insufficient_quota")
        ++refused_budget;
      else
        ++other;
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_LE(admitted.load() * estimate, 1.0 + 1e-9);
  // And not under-admitted either: 33 x $0.03 = $0.99 fits, a 34th does not.
  EXPECT_EQ(admitted.load(), 33);
  EXPECT_EQ(admitted.load() + refused_budget.load(), kThreads);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 33u);
  (void)p;
}

// --- usage ---------------------------------------------------------------------------------

TEST(Gatekeeper, FinishedRequestsReachTheLedgerAndEachTenantSeesItsOwn) {
  TempDir dir;
  const auto [acme_key, acme_secret] = create_key(dir.path, "acme");
  const auto [beta_key, beta_secret] = create_key(dir.path, "beta");
  const auto [ops_key, ops_secret] = create_key(dir.path, "ops", {}, /*admin=*/true);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal acme = login(*gk, acme_secret);
  const server::Principal beta = login(*gk, beta_secret);
  const server::Principal ops = login(*gk, ops_secret);

  Finished a1 = finished(acme, "cmpl-1", 0, 100, 10);
  a1.cached = 40;
  a1.cost = 0.25;
  a1.energy = 3.0;
  Finished a2 = finished(acme, "cmpl-2", 0, 7, 3);
  a2.cost = 0.5;
  a2.energy = 1.5;
  a2.reason = engine::FinishReason::Cancelled;
  Finished b1 = finished(beta, "cmpl-3", 0, 20, 0);
  b1.cost = 0.125;
  b1.energy = 0.5;
  const uint64_t t1 = a1.report(*gk);
  const uint64_t t2 = a2.report(*gk);
  const uint64_t t3 = b1.report(*gk);
  EXPECT_NE(t1, 0u);
  EXPECT_LT(t1, t2);
  EXPECT_LT(t2, t3);

  // when_recorded fires once the row is durable (on the writer thread, or at once).
  std::promise<void> recorded;
  gk->when_recorded(t3, [&] { recorded.set_value(); });
  EXPECT_EQ(recorded.get_future().wait_for(30s), std::future_status::ready);
  gk->ledger()->flush();
  // Already durable, or nothing to wait for: called at once.
  bool at_once = false;
  gk->when_recorded(t1, [&] { at_once = true; });
  EXPECT_TRUE(at_once);
  bool no_ticket = false;
  gk->when_recorded(0, [&] { no_ticket = true; });
  EXPECT_TRUE(no_ticket);

  // A tenant's key sees only its tenant, whatever it groups by.
  auto mine = gk->usage(acme, "group_by=tenant");
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  const nlohmann::json& rows = mine.value()["data"];
  ASSERT_EQ(rows.size(), 1u) << mine.value().dump();
  EXPECT_EQ(mine.value()["object"], "list");
  EXPECT_EQ(rows[0]["tenant"], "acme");
  EXPECT_EQ(rows[0]["requests"], 2);
  EXPECT_EQ(rows[0]["prompt_tokens"], 107);
  EXPECT_EQ(rows[0]["cached_prompt_tokens"], 40);
  EXPECT_EQ(rows[0]["completion_tokens"], 13);
  EXPECT_DOUBLE_EQ(rows[0]["cost_usd"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(rows[0]["energy_j"].get<double>(), 4.5);
  // Charged at list price: (60 x 0.01 + 40 x 0.005 + 10 x 0.02) + (7 x 0.01 + 3 x 0.02).
  EXPECT_NEAR(rows[0]["charge_usd"].get<double>(), 1.0 + 0.13, 1e-9);

  auto ungrouped = gk->usage(beta, "");
  ASSERT_TRUE(ungrouped.ok());
  ASSERT_EQ(ungrouped.value()["data"].size(), 1u);
  EXPECT_EQ(ungrouped.value()["data"][0]["requests"], 1);
  EXPECT_EQ(ungrouped.value()["data"][0]["prompt_tokens"], 20);

  auto own_explicitly = gk->usage(acme, "tenant=acme");
  ASSERT_TRUE(own_explicitly.ok());
  EXPECT_EQ(own_explicitly.value()["data"][0]["requests"], 2);
  auto others = gk->usage(acme, "group_by=tenant&tenant=beta");
  ASSERT_FALSE(others.ok());
  EXPECT_EQ(others.error().status, 403);
  EXPECT_EQ(others.error().type, "permission_error");
  auto bad = gk->usage(acme, "group_by=tenant&limit=5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().status, 400);

  // An admin sees everyone, and may ask for one tenant.
  auto all = gk->usage(ops, "group_by=tenant");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value()["data"].size(), 2u) << all.value().dump();
  EXPECT_EQ(all.value()["data"][0]["tenant"], "acme");
  EXPECT_EQ(all.value()["data"][1]["tenant"], "beta");
  EXPECT_EQ(all.value()["data"][1]["requests"], 1);
  auto one = gk->usage(ops, "tenant=beta&group_by=key");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value()["data"].size(), 1u);
  EXPECT_EQ(one.value()["data"][0]["key_id"], beta.key_id);

  // Outside the time range: nothing.
  auto past = gk->usage(ops, "from=2000-01-01&to=2000-01-02&group_by=tenant");
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past.value()["data"].empty());
}

TEST(Gatekeeper, MultiPartRequestSettlesWhenItsLastPartReports) {
  TempDir dir;
  KeyLimits limits;
  limits.budget_usd = 2.0;
  limits.budget_period = "total";
  limits.tpm = 100;
  const auto [record, secret] = create_key(dir.path, "acme", limits);
  auto gk = open_gatekeeper(dir.path);
  ASSERT_TRUE(gk);
  const server::Principal p = login(*gk, secret);
  // Two prompts of 10 tokens, 2 x 15 completion tokens at most: $0.20 + $0.60 = $0.80.
  server::AdmissionRequest two_parts = ask(20, 30);
  two_parts.parts = 2;
  auto a = gk->admit(p, two_parts);
  ASSERT_TRUE(a.ok()) << a.error().message;
  // 50 of 100 tokens per minute are held: another 60 do not fit.
  auto busy = gk->admit(p, ask(30, 30));
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().type, "rate_limit_error");
  Finished part0 = finished(p, "cmpl-9", a->reservation_id, 10, 5);
  part0.report(*gk);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 1u);
  Finished part1 = finished(p, "cmpl-9", a->reservation_id, 10, 5);
  part1.owner.part = 1;
  part1.report(*gk);
  EXPECT_EQ(metric(gk->metrics_text(), "budget_reservations"), 0u);
  // Used 30 tokens of the 50 reserved: the other 20 come back, so 60 fit again within the
  // minute (100 - 30 = 70 available without any refill). Spent $0.40 + $0.90 <= $2.
  auto after = gk->admit(p, ask(30, 30));
  EXPECT_TRUE(after.ok()) << after.error().message;
  gk->ledger()->flush();
  auto usage = gk->usage(p, "");
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage.value()["data"][0]["requests"], 2);
  EXPECT_EQ(usage.value()["data"][0]["completion_tokens"], 10);
}

}  // namespace
}  // namespace tmill::platform
