#include "platform/quota.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tmill::platform {
namespace {

const Clock::time_point kStart = Clock::time_point{} + std::chrono::hours(1000);

Clock::time_point at(double seconds) {
  return kStart +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Starts all threads at once, so they really contend for the lock.
template <class Body>
void run_concurrently(int threads, Body body) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      body(t);
    });
  }
  go = true;
  for (std::thread& thread : pool) thread.join();
}

// ---------------------------------------------------------------------------------------------
// RateLimiter

TEST(RateLimiter, UnlimitedAlwaysAllows) {
  RateLimiter limiter;
  for (int i = 0; i < 1000; ++i) {
    const RateDecision decision = limiter.acquire("k", {}, 1'000'000, kStart);
    ASSERT_TRUE(decision.allowed);
    EXPECT_EQ(decision.retry_after_s, 0);
    EXPECT_EQ(decision.which, "");
  }
}

TEST(RateLimiter, RequestBucketEmptiesThenRefillsContinuously) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 60, .tpm = 0};
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(limiter.acquire("k", limits, 0, kStart).allowed) << i;
  RateDecision refused = limiter.acquire("k", limits, 0, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.which, "requests");
  EXPECT_NEAR(refused.retry_after_s, 1.0, 1e-9);  // 60 per minute: one per second

  refused = limiter.acquire("k", limits, 0, at(0.25));
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.retry_after_s, 0.75, 1e-9);
  EXPECT_TRUE(limiter.acquire("k", limits, 0, at(1.0)).allowed);
  EXPECT_FALSE(limiter.acquire("k", limits, 0, at(1.0)).allowed);
}

TEST(RateLimiter, RefillStopsAtCapacity) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 10, .tpm = 0};
  ASSERT_TRUE(limiter.acquire("k", limits, 0, kStart).allowed);
  // An hour idle refills to 10, not to 600.
  int allowed = 0;
  while (limiter.acquire("k", limits, 0, at(3600)).allowed) ++allowed;
  EXPECT_EQ(allowed, 10);
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 1, .tpm = 0};
  EXPECT_TRUE(limiter.acquire("a", limits, 0, kStart).allowed);
  EXPECT_FALSE(limiter.acquire("a", limits, 0, kStart).allowed);
  EXPECT_TRUE(limiter.acquire("b", limits, 0, kStart).allowed);
}

TEST(RateLimiter, TokenShortageTakesNoRequest) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 2, .tpm = 1000};
  ASSERT_TRUE(limiter.acquire("k", limits, 500, kStart).allowed);
  const RateDecision refused = limiter.acquire("k", limits, 600, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.which, "tokens");
  EXPECT_NEAR(refused.retry_after_s, 6.0, 1e-9);  // 100 tokens short at 1000/min
  // The refused request took nothing: one request and 500 tokens are still there.
  EXPECT_TRUE(limiter.acquire("k", limits, 500, kStart).allowed);
  EXPECT_FALSE(limiter.acquire("k", limits, 0, kStart).allowed);
}

TEST(RateLimiter, RequestShortageTakesNoTokens) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 1, .tpm = 1000};
  ASSERT_TRUE(limiter.acquire("k", limits, 1000, kStart).allowed);
  // 30 s later: half a request and 500 tokens have refilled.
  const RateDecision refused = limiter.acquire("k", limits, 500, at(30));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.which, "requests");
  EXPECT_NEAR(refused.retry_after_s, 30.0, 1e-9);
  // Had the refusal taken its 500 tokens, only 500 would be back by now.
  EXPECT_TRUE(limiter.acquire("k", limits, 1000, at(60)).allowed);
}

TEST(RateLimiter, WhenBothAreShortTheLongerWaitIsReported) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 6, .tpm = 600};  // a request per 10 s, 10 tokens per second
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(limiter.acquire("k", limits, 100, kStart).allowed);
  // No requests (10 s for one) and no tokens (50 s for 500): wait for the tokens.
  RateDecision refused = limiter.acquire("k", limits, 500, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.which, "tokens");
  EXPECT_NEAR(refused.retry_after_s, 50.0, 1e-9);
  // For 50 tokens (5 s) the request is the longer wait.
  refused = limiter.acquire("k", limits, 50, kStart);
  EXPECT_EQ(refused.which, "requests");
  EXPECT_NEAR(refused.retry_after_s, 10.0, 1e-9);
}

TEST(RateLimiter, MoreTokensThanTheCapacityAreNeverAllowed) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 0, .tpm = 1000};
  const RateDecision never = limiter.acquire("k", limits, 1001, kStart);
  EXPECT_FALSE(never.allowed);
  EXPECT_EQ(never.retry_after_s, -1);
  EXPECT_EQ(never.which, "tokens");
  // Exactly the capacity fits a full bucket, and the refusal took nothing.
  EXPECT_TRUE(limiter.acquire("k", limits, 1000, kStart).allowed);
}

TEST(RateLimiter, RetryingAfterTheAdvisedWaitSucceeds) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 7, .tpm = 3331};
  std::mt19937 random(7);
  std::uniform_int_distribution<int64_t> tokens_of(0, 3331);
  double now = 0;
  int refusals = 0;
  for (int i = 0; i < 2000; ++i) {
    const int64_t tokens = tokens_of(random);
    const RateDecision decision = limiter.acquire("k", limits, tokens, at(now));
    if (decision.allowed) continue;
    ++refusals;
    ASSERT_GT(decision.retry_after_s, 0);
    // Not a moment before: slightly earlier is still refused...
    if (decision.retry_after_s > 1e-3) {
      ASSERT_FALSE(
          limiter.acquire("k", limits, tokens, at(now + decision.retry_after_s - 1e-3)).allowed);
    }
    // ...and at the advised time it goes through.
    now += decision.retry_after_s;
    ASSERT_TRUE(limiter.acquire("k", limits, tokens, at(now)).allowed) << i;
  }
  EXPECT_GT(refusals, 100);
}

TEST(RateLimiter, RefundsReturnTokensUpToTheCapacity) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 0, .tpm = 1000};
  ASSERT_TRUE(limiter.acquire("k", limits, 1000, kStart).allowed);
  limiter.refund_tokens("k", limits, 400, kStart);  // the request used 600 of its 1000
  EXPECT_TRUE(limiter.acquire("k", limits, 400, kStart).allowed);
  EXPECT_FALSE(limiter.acquire("k", limits, 1, kStart).allowed);

  limiter.refund_tokens("k", limits, 1'000'000, kStart);
  EXPECT_TRUE(limiter.acquire("k", limits, 1000, kStart).allowed);
  EXPECT_FALSE(limiter.acquire("k", limits, 1, kStart).allowed);

  limiter.refund_tokens("never-seen", limits, 10, kStart);  // harmless
  limiter.refund_tokens("k", limits, -50, kStart);          // takes nothing
  EXPECT_FALSE(limiter.acquire("k", limits, 1, kStart).allowed);
}

TEST(RateLimiter, CapacityFollowsChangedLimits) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.acquire("k", {.rpm = 100, .tpm = 0}, 0, kStart).allowed);
  // Lowered to 5: at most 5 in the bucket however full it was.
  int allowed = 0;
  while (limiter.acquire("k", {.rpm = 5, .tpm = 0}, 0, kStart).allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
  // A tokens limit added later starts full.
  EXPECT_TRUE(limiter.acquire("k", {.rpm = 0, .tpm = 50}, 50, kStart).allowed);
  EXPECT_FALSE(limiter.acquire("k", {.rpm = 0, .tpm = 50}, 1, kStart).allowed);
}

TEST(RateLimiter, AClockGoingBackwardsNeitherRefillsNorDrains) {
  RateLimiter limiter;
  const RateLimits limits{.rpm = 60, .tpm = 0};
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(limiter.acquire("k", limits, 0, at(100)).allowed);
  EXPECT_FALSE(limiter.acquire("k", limits, 0, at(50)).allowed);
  EXPECT_TRUE(limiter.acquire("k", limits, 0, at(101)).allowed);
}

TEST(RateLimiter, ConcurrentAcquiresNeverExceedTheBuckets) {
  RateLimiter limiter;
  std::atomic<int> allowed_requests{0};
  run_concurrently(100, [&](int) {
    if (limiter.acquire("rpm", {.rpm = 37, .tpm = 0}, 0, kStart).allowed) ++allowed_requests;
  });
  EXPECT_EQ(allowed_requests.load(), 37);

  std::atomic<int> allowed_token_requests{0};
  run_concurrently(100, [&](int) {
    if (limiter.acquire("tpm", {.rpm = 0, .tpm = 1000}, 30, kStart).allowed) {
      ++allowed_token_requests;
    }
  });
  EXPECT_EQ(allowed_token_requests.load(), 33);  // 33 × 30 = 990; a 34th needs 1020
}

// ---------------------------------------------------------------------------------------------
// BudgetTracker

BudgetTracker::SpendLoader no_prior_spend() {
  return [](const std::string&, int64_t) { return 0.0; };
}

TEST(BudgetTracker, PeriodStarts) {
  const int64_t mid_march = 1710506096;                                  // 2024-03-15 12:34:56 UTC
  EXPECT_EQ(BudgetTracker::period_start("day", mid_march), 1710460800);  // 2024-03-15
  EXPECT_EQ(BudgetTracker::period_start("month", mid_march), 1709251200);  // 2024-03-01
  EXPECT_EQ(BudgetTracker::period_start("total", mid_march), 0);
  // The last second of a leap February and of a year.
  EXPECT_EQ(BudgetTracker::period_start("month", 1709251199), 1706745600);  // 2024-02-01
  EXPECT_EQ(BudgetTracker::period_start("month", 1709251200), 1709251200);  // 2024-03-01
  EXPECT_EQ(BudgetTracker::period_start("month", 1704067199), 1701388800);  // 2023-12-01
  EXPECT_EQ(BudgetTracker::period_start("day", 1704067199), 1703980800);    // 2023-12-31
  // Before 1970 days still start at midnight, not at the next one.
  EXPECT_EQ(BudgetTracker::period_start("day", -43200), -86400);
  EXPECT_EQ(BudgetTracker::period_start("month", -43200), -2678400);  // 1969-12-01
  EXPECT_EQ(BudgetTracker::period_start("weekly", mid_march), 0);     // not a period: total
}

TEST(BudgetTracker, ReservesUntilTheBudgetIsFull) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t first = 0, second = 0, third = 0;
  BudgetDecision decision = tracker.reserve("k", 1.0, "month", 0.4, 0, &first);
  EXPECT_TRUE(decision.allowed);
  EXPECT_GT(first, 0u);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0.4);
  EXPECT_DOUBLE_EQ(decision.budget_usd, 1.0);
  EXPECT_TRUE(tracker.reserve("k", 1.0, "month", 0.4, 0, &second).allowed);
  EXPECT_NE(first, second);

  decision = tracker.reserve("k", 1.0, "month", 0.4, 0, &third);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(third, 0u);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0.8);
  // Exactly filling the budget is allowed.
  EXPECT_TRUE(tracker.reserve("k", 1.0, "month", 0.2, 0, &third).allowed);
  EXPECT_EQ(tracker.outstanding_reservations(), 3u);
}

TEST(BudgetTracker, SettlingChargesTheActualAmountAndFreesTheRest) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", 0.5, 0, &id).allowed);
  tracker.settle(id, 0.1);
  EXPECT_EQ(tracker.outstanding_reservations(), 0u);
  uint64_t next = 0;
  const BudgetDecision decision = tracker.reserve("k", 1.0, "total", 0.9, 0, &next);
  EXPECT_TRUE(decision.allowed);  // 0.1 spent + 0.9 = 1.0 exactly
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0.1);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0.9);
  // Settling again, or an id never issued, changes nothing.
  tracker.settle(id, 5.0);
  tracker.settle(987654321, 5.0);
  tracker.cancel(987654321);
  tracker.set_parts(987654321, 3);
  uint64_t probe = 0;
  EXPECT_DOUBLE_EQ(tracker.reserve("k", 1.0, "total", 0, 0, &probe).spent_usd, 0.1);
}

TEST(BudgetTracker, CancellingRestoresCapacityExactly) {
  BudgetTracker tracker(no_prior_spend());
  // Amounts that do not add up exactly in binary floating point.
  const double amounts[] = {0.1, 0.2, 0.3, 0.7, 1e-7, 0.123456789};
  for (int round = 0; round < 1000; ++round) {
    std::vector<uint64_t> ids;
    for (double amount : amounts) {
      uint64_t id = 0;
      ASSERT_TRUE(tracker.reserve("k", 1.5, "day", amount, 0, &id).allowed);
      ids.push_back(id);
    }
    for (uint64_t id : ids) tracker.cancel(id);
  }
  uint64_t id = 0;
  const BudgetDecision full = tracker.reserve("k", 1.5, "day", 1.5, 0, &id);
  EXPECT_TRUE(full.allowed);
  EXPECT_EQ(full.spent_usd, 0);
  EXPECT_EQ(full.reserved_usd, 1.5);
}

TEST(BudgetTracker, ARequestOfSeveralPartsHoldsUntilTheLastSettles) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", 0.9, 0, &id).allowed);
  tracker.set_parts(id, 3);
  uint64_t probe = 0;
  tracker.settle(id, 0.2);
  BudgetDecision state = tracker.reserve("k", 1.0, "total", 0, 0, &probe);
  tracker.cancel(probe);
  EXPECT_DOUBLE_EQ(state.spent_usd, 0.2);
  EXPECT_DOUBLE_EQ(state.reserved_usd, 0.7);  // the spent part moved from reserved to spent
  tracker.settle(id, 0.2);
  EXPECT_EQ(tracker.outstanding_reservations(), 1u);
  tracker.settle(id, 0.1);
  EXPECT_EQ(tracker.outstanding_reservations(), 0u);
  state = tracker.reserve("k", 1.0, "total", 0, 0, &probe);
  EXPECT_DOUBLE_EQ(state.spent_usd, 0.5);
  EXPECT_DOUBLE_EQ(state.reserved_usd, 0);
}

TEST(BudgetTracker, APartialRequestCanBeCancelledAndPartsCanShrink) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", 0.6, 0, &id).allowed);
  tracker.set_parts(id, 4);
  tracker.settle(id, 0.1);
  tracker.cancel(id);  // the client went away after one prompt: the rest is never spent
  uint64_t probe = 0;
  BudgetDecision state = tracker.reserve("k", 1.0, "total", 0, 0, &probe);
  EXPECT_DOUBLE_EQ(state.spent_usd, 0.1);
  EXPECT_DOUBLE_EQ(state.reserved_usd, 0);

  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", 0.6, 0, &id).allowed);
  tracker.set_parts(id, 3);
  tracker.settle(id, 0.1);
  tracker.set_parts(id, 1);  // already settled as many parts as it now has: released
  EXPECT_EQ(tracker.outstanding_reservations(), 1u);  // just the probe
  tracker.cancel(probe);
  state = tracker.reserve("k", 1.0, "total", 0, 0, &probe);
  EXPECT_DOUBLE_EQ(state.spent_usd, 0.2);
  EXPECT_DOUBLE_EQ(state.reserved_usd, 0);
}

TEST(BudgetTracker, ActualAboveTheEstimateIsStillCharged) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", 0.1, 0, &id).allowed);
  tracker.settle(id, 0.3);
  uint64_t probe = 0;
  const BudgetDecision state = tracker.reserve("k", 1.0, "total", 0.8, 0, &probe);
  EXPECT_FALSE(state.allowed);
  EXPECT_DOUBLE_EQ(state.spent_usd, 0.3);
  EXPECT_DOUBLE_EQ(state.reserved_usd, 0);
}

TEST(BudgetTracker, UnlimitedBudgetsAdmitEverythingAndStillTrackSpend) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  for (double budget : {0.0, -1.0}) {
    const BudgetDecision decision = tracker.reserve("k", budget, "month", 1e6, 0, &id);
    EXPECT_TRUE(decision.allowed);
    EXPECT_GT(id, 0u);
    tracker.settle(id, 2.5);
  }
  const BudgetDecision decision = tracker.reserve("k", 0, "month", 0, 0, &id);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 5.0);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0);
}

TEST(BudgetTracker, NegativeAndNanAmountsCountAsZero) {
  BudgetTracker tracker(no_prior_spend());
  uint64_t id = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", -5.0, 0, &id).allowed);
  tracker.settle(id, -3.0);
  ASSERT_TRUE(tracker.reserve("k", 1.0, "total", std::nan(""), 0, &id).allowed);
  tracker.settle(id, std::nan(""));
  const BudgetDecision decision = tracker.reserve("k", 1.0, "total", 1.0, 0, &id);
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.spent_usd, 0);
}

TEST(BudgetTracker, SpendIsSeededFromTheLoaderOncePerKeyAndPeriod) {
  std::vector<std::pair<std::string, int64_t>> loads;
  BudgetTracker tracker([&](const std::string& key, int64_t since) {
    loads.emplace_back(key, since);
    return key == "heavy" ? 0.95 : 0.0;
  });
  const int64_t mid_march = 1710506096;
  uint64_t id = 0;
  const BudgetDecision refused = tracker.reserve("heavy", 1.0, "month", 0.1, mid_march, &id);
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.spent_usd, 0.95);
  EXPECT_TRUE(tracker.reserve("heavy", 1.0, "month", 0.05, mid_march + 60, &id).allowed);
  EXPECT_TRUE(tracker.reserve("light", 1.0, "month", 0.5, mid_march, &id).allowed);
  ASSERT_EQ(loads.size(), 2u);
  EXPECT_EQ(loads[0], std::make_pair(std::string("heavy"), int64_t{1709251200}));
  EXPECT_EQ(loads[1], std::make_pair(std::string("light"), int64_t{1709251200}));
}

TEST(BudgetTracker, AMonthBoundaryResetsSpendThroughTheLoader) {
  const int64_t feb_first = 1706745600;  // 2024-02-01 00:00:00 UTC
  const int64_t last_second_of_january = feb_first - 1;
  std::vector<int64_t> loads;
  BudgetTracker tracker([&](const std::string&, int64_t since) {
    loads.push_back(since);
    return 0.0;  // the ledger has nothing yet in either month
  });
  uint64_t january = 0, in_flight = 0, refused = 0;
  ASSERT_TRUE(tracker.reserve("k", 1.0, "month", 0.6, last_second_of_january, &january).allowed);
  tracker.settle(january, 0.6);
  ASSERT_TRUE(tracker.reserve("k", 1.0, "month", 0.3, last_second_of_january, &in_flight).allowed);
  EXPECT_FALSE(tracker.reserve("k", 1.0, "month", 0.2, last_second_of_january, &refused).allowed);

  // February: January's 0.6 is gone, the request in flight still holds its 0.3.
  uint64_t february = 0;
  BudgetDecision decision = tracker.reserve("k", 1.0, "month", 0.7, feb_first, &february);
  EXPECT_TRUE(decision.allowed);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 1.0);
  EXPECT_EQ(loads, (std::vector<int64_t>{1704067200, feb_first}));

  // It settles in February and counts there.
  tracker.settle(in_flight, 0.25);
  tracker.cancel(february);
  decision = tracker.reserve("k", 1.0, "month", 0, feb_first + 10, &february);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0.25);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0);

  // A caller whose clock still reads January does not bring January back.
  decision = tracker.reserve("k", 1.0, "month", 0, last_second_of_january, &february);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0.25);
  EXPECT_EQ(loads.size(), 2u);
}

TEST(BudgetTracker, ChangingAKeysPeriodReloadsItsSpend) {
  std::vector<int64_t> loads;
  BudgetTracker tracker([&](const std::string&, int64_t since) {
    loads.push_back(since);
    return since == 0 ? 7.0 : 0.5;
  });
  const int64_t mid_march = 1710506096;
  uint64_t id = 0;
  EXPECT_DOUBLE_EQ(tracker.reserve("k", 10, "day", 0, mid_march, &id).spent_usd, 0.5);
  EXPECT_DOUBLE_EQ(tracker.reserve("k", 10, "total", 0, mid_march, &id).spent_usd, 7.0);
  EXPECT_EQ(loads, (std::vector<int64_t>{1710460800, 0}));
}

TEST(BudgetTracker, AFailedLoadRefusesLimitedBudgetsAndIsRetried) {
  int calls = 0;
  BudgetTracker tracker([&](const std::string&, int64_t) {
    ++calls;
    return calls <= 2 ? std::nan("") : 0.3;  // the ledger is unreadable twice
  });
  uint64_t id = 0;
  BudgetDecision decision = tracker.reserve("k", 1.0, "month", 0.1, 0, &id);
  EXPECT_FALSE(decision.allowed);
  EXPECT_TRUE(std::isnan(decision.spent_usd));
  EXPECT_EQ(id, 0u);
  // Unlimited still admits, and what it spends is kept meanwhile.
  decision = tracker.reserve("k", 0, "month", 0.1, 0, &id);
  EXPECT_TRUE(decision.allowed);
  EXPECT_TRUE(std::isnan(decision.spent_usd));
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0.1);
  // The ledger is back: its sum is the spend, the reservation in flight still holds.
  decision = tracker.reserve("k", 1.0, "month", 0.6, 0, &id);
  EXPECT_TRUE(decision.allowed);
  EXPECT_DOUBLE_EQ(decision.spent_usd, 0.3);
  EXPECT_DOUBLE_EQ(decision.reserved_usd, 0.7);
  EXPECT_EQ(calls, 3);
  tracker.reserve("k", 1.0, "month", 0, 0, &id);
  EXPECT_EQ(calls, 3);  // loaded once, not again
}

TEST(BudgetTracker, TheLoaderRunsWithoutBlockingOtherKeys) {
  std::promise<void> release_loader;
  std::shared_future<void> loader_may_return = release_loader.get_future().share();
  std::promise<void> loader_entered;
  BudgetTracker tracker([&](const std::string& key, int64_t) {
    if (key == "slow") {
      loader_entered.set_value();
      loader_may_return.wait();
    }
    return 0.0;
  });
  std::thread slow([&] {
    uint64_t id = 0;
    EXPECT_TRUE(tracker.reserve("slow", 1.0, "day", 0.5, 0, &id).allowed);
  });
  loader_entered.get_future().wait();
  uint64_t id = 0;
  EXPECT_TRUE(tracker.reserve("fast", 1.0, "day", 0.5, 0, &id).allowed);  // not stuck
  release_loader.set_value();
  slow.join();
  EXPECT_EQ(tracker.outstanding_reservations(), 2u);
}

TEST(BudgetTracker, ConcurrentReservationsNeverOvershoot) {
  std::atomic<int> loads{0};
  BudgetTracker tracker([&](const std::string&, int64_t) {
    ++loads;
    return 0.05;  // already spent this month
  });
  std::mutex ids_mutex;
  std::vector<uint64_t> admitted;
  run_concurrently(100, [&](int) {
    uint64_t id = 0;
    if (tracker.reserve("k", 0.3, "month", 0.01, 1710506096, &id).allowed) {
      std::lock_guard lock(ids_mutex);
      admitted.push_back(id);
    }
  });
  EXPECT_EQ(admitted.size(), 25u);  // (0.3 − 0.05) / 0.01, exactly
  EXPECT_GE(loads.load(), 1);
  // Cancelled, the same capacity is there again: exactly 25 more.
  for (uint64_t id : admitted) tracker.cancel(id);
  std::atomic<int> second_round{0};
  run_concurrently(100, [&](int) {
    uint64_t id = 0;
    if (tracker.reserve("k", 0.3, "month", 0.01, 1710506096, &id).allowed) ++second_round;
  });
  EXPECT_EQ(second_round.load(), 25);
}

TEST(BudgetTracker, ConcurrentReserveSettleCancelLosesNoUpdates) {
  BudgetTracker tracker(no_prior_spend());
  constexpr double kBudget = 5.0;  // about a tenth of what the threads ask for in all
  std::atomic<int64_t> expected_spent_nano{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<int> overshoots{0};
  run_concurrently(100, [&](int thread) {
    std::mt19937 random(static_cast<uint32_t>(thread) + 1);
    std::uniform_int_distribution<int> micro_usd(1, 10'000);  // up to 1 cent
    for (int i = 0; i < 300; ++i) {
      const int64_t estimate_micro = micro_usd(random);
      uint64_t id = 0;
      const BudgetDecision decision =
          tracker.reserve("shared", kBudget, "total", estimate_micro * 1e-6, 0, &id);
      if (decision.spent_usd + decision.reserved_usd > kBudget + 1e-12) ++overshoots;
      if (!decision.allowed) {
        ++refused;
        continue;
      }
      ++admitted;
      // Requests are charged at most their estimate (the estimate assumes max_tokens).
      switch (random() % 3) {
        case 0:
          tracker.cancel(id);
          break;
        case 1: {
          const int64_t actual_micro =
              std::uniform_int_distribution<int64_t>(0, estimate_micro)(random);
          tracker.settle(id, actual_micro * 1e-6);
          expected_spent_nano += actual_micro * 1000;
          break;
        }
        default: {  // a request of two prompts
          const int64_t part_micro = estimate_micro / 3;
          tracker.set_parts(id, 2);
          tracker.settle(id, part_micro * 1e-6);
          tracker.settle(id, part_micro * 1e-6);
          expected_spent_nano += 2 * part_micro * 1000;
          break;
        }
      }
    }
  });
  EXPECT_EQ(overshoots.load(), 0);
  EXPECT_GT(admitted.load(), 1000);
  EXPECT_GT(refused.load(), 1000);  // the budget was reached, and held
  EXPECT_EQ(tracker.outstanding_reservations(), 0u);
  uint64_t id = 0;
  const BudgetDecision end = tracker.reserve("shared", kBudget, "total", 0, 0, &id);
  EXPECT_EQ(std::llround(end.spent_usd * 1e9), expected_spent_nano.load());
  EXPECT_EQ(end.reserved_usd, 0);
}

}  // namespace
}  // namespace tmill::platform
