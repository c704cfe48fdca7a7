// The usage ledger: sums under concurrent appends, grouping and time ranges, durability tickets
// and callbacks, duplicates counted once, reopening, commit failures retried, and the contract
// that every row reported durable survives kill -9 of the writing process.
#include "platform/ledger.h"
#include "platform/temp_dir.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace tmill::platform {
namespace {

using namespace std::chrono_literals;

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("tm_ledger") {}
};

// 2023-11-14 22:13:20 UTC: close to midnight, so rows spread over several UTC days.
constexpr int64_t kBaseMs = 1'700'000'000'000;

std::unique_ptr<Ledger> open_ledger(const std::filesystem::path& dir,
                                    const LedgerOptions& options = {}) {
  auto ledger = Ledger::open(dir, options);
  EXPECT_TRUE(ledger.ok()) << ledger.error().message;
  return ledger.ok() ? std::move(*ledger) : nullptr;
}

LedgerRow make_row(const std::string& request_id, int32_t part, const std::string& tenant,
                   const std::string& key_id, const std::string& model, int64_t finished_ms,
                   int64_t tokens = 10) {
  LedgerRow row;
  row.request_id = request_id;
  row.part = part;
  row.tenant = tenant;
  row.key_id = key_id;
  row.model = model;
  row.prompt_tokens = tokens;
  row.cached_prompt_tokens = tokens / 2;
  row.completion_tokens = tokens + 3;
  row.cost_usd = static_cast<double>(tokens) * 1e-6;
  row.charge_usd = static_cast<double>(tokens) * 3e-6;
  row.energy_j = static_cast<double>(tokens) * 0.25;
  row.queue_ms = 1;
  row.ttft_ms = 2;
  row.e2e_ms = 3;
  row.finish_reason = "stop";
  row.finished_unix_ms = finished_ms;
  return row;
}

std::string utc_day(int64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

std::vector<UsageRow> usage(Ledger& ledger, const UsageQuery& query) {
  auto rows = ledger.usage(query);
  EXPECT_TRUE(rows.ok()) << rows.error().message;
  return rows.ok() ? *rows : std::vector<UsageRow>{};
}

void add(UsageRow& sum, const LedgerRow& row) {
  sum.requests += 1;
  sum.prompt_tokens += row.prompt_tokens;
  sum.cached_prompt_tokens += row.cached_prompt_tokens;
  sum.completion_tokens += row.completion_tokens;
  sum.cost_usd += row.cost_usd;
  sum.charge_usd += row.charge_usd;
  sum.energy_j += row.energy_j;
}

void expect_same_sums(const UsageRow& got, const UsageRow& want, const std::string& what) {
  EXPECT_EQ(got.requests, want.requests) << what;
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens) << what;
  EXPECT_EQ(got.cached_prompt_tokens, want.cached_prompt_tokens) << what;
  EXPECT_EQ(got.completion_tokens, want.completion_tokens) << what;
  EXPECT_NEAR(got.cost_usd, want.cost_usd, 1e-9 * std::max(1.0, want.cost_usd)) << what;
  EXPECT_NEAR(got.charge_usd, want.charge_usd, 1e-9 * std::max(1.0, want.charge_usd)) << what;
  EXPECT_NEAR(got.energy_j, want.energy_j, 1e-9 * std::max(1.0, want.energy_j)) << what;
}

TEST(Ledger, ConcurrentAppendsAddUpInEveryGrouping) {
  TempDir dir;
  auto ledger = open_ledger(dir.path);
  ASSERT_NE(ledger, nullptr);
  constexpr int kThreads = 4, kRowsPerThread = 600;
  const std::vector<std::string> tenants = {"acme", "beta", "gamma"};
  const std::vector<std::string> models = {"smollm2-135m", "gemma3-270m"};

  std::vector<std::vector<LedgerRow>> per_thread(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int n = t * kRowsPerThread + i;
      const std::string& tenant = tenants[n % 3];
      per_thread[t].push_back(make_row("req-" + std::to_string(t) + "-" + std::to_string(i), i % 2,
                                       tenant, tenant + "-key" + std::to_string(n % 2),
                                       models[(n / 3) % 2], kBaseMs + int64_t{n} * 97'000, n % 50));
    }
  }
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> tickets(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& row : per_thread[t]) tickets[t].push_back(ledger->append(row));
    });
  }
  for (auto& thread : threads) thread.join();

  // Tickets are unique and cover 1..N.
  std::set<uint64_t> all_tickets;
  for (const auto& list : tickets) all_tickets.insert(list.begin(), list.end());
  ASSERT_EQ(all_tickets.size(), size_t{kThreads * kRowsPerThread});
  EXPECT_EQ(*all_tickets.begin(), 1u);
  EXPECT_EQ(*all_tickets.rbegin(), uint64_t{kThreads * kRowsPerThread});

  // Expected sums for a grouping, and for a time range [from_ms, to_ms).
  using GroupKey = std::tuple<std::string, std::string, std::string, std::string>;
  const auto expected = [&](bool tenant, bool key, bool model, bool day, int64_t from_ms,
                            int64_t to_ms) {
    std::map<GroupKey, UsageRow> sums;
    for (const auto& rows : per_thread) {
      for (const auto& row : rows) {
        if (row.finished_unix_ms < from_ms || row.finished_unix_ms >= to_ms) continue;
        GroupKey k{tenant ? row.tenant : "", key ? row.key_id : "", model ? row.model : "",
                   day ? utc_day(row.finished_unix_ms) : ""};
        add(sums[k], row);
      }
    }
    return sums;
  };
  const auto check = [&](std::vector<GroupBy> group_by, int64_t from_unix, int64_t to_unix) {
    const bool by_tenant = std::count(group_by.begin(), group_by.end(), GroupBy::Tenant) > 0;
    const bool by_key = std::count(group_by.begin(), group_by.end(), GroupBy::Key) > 0;
    const bool by_model = std::count(group_by.begin(), group_by.end(), GroupBy::Model) > 0;
    const bool by_day = std::count(group_by.begin(), group_by.end(), GroupBy::Day) > 0;
    const int64_t to_ms = to_unix == INT64_MAX ? INT64_MAX : to_unix * 1000;
    auto want = expected(by_tenant, by_key, by_model, by_day, from_unix * 1000, to_ms);
    UsageQuery query;
    query.group_by = group_by;
    query.from_unix = from_unix;
    query.to_unix = to_unix;
    auto got = usage(*ledger, query);
    const std::string what = "grouping of " + std::to_string(group_by.size()) + " from " +
                             std::to_string(from_unix) + " to " + std::to_string(to_unix);
    if (group_by.empty()) {
      ASSERT_EQ(got.size(), 1u) << what;
      expect_same_sums(got[0], want[GroupKey{}], what);
      return;
    }
    ASSERT_EQ(got.size(), want.size()) << what;
    for (const auto& row : got) {
      EXPECT_EQ(row.tenant.has_value(), by_tenant) << what;
      EXPECT_EQ(row.key_id.has_value(), by_key) << what;
      EXPECT_EQ(row.model.has_value(), by_model) << what;
      EXPECT_EQ(row.day.has_value(), by_day) << what;
      GroupKey k{row.tenant.value_or(""), row.key_id.value_or(""), row.model.value_or(""),
                 row.day.value_or("")};
      ASSERT_TRUE(want.count(k)) << what;
      expect_same_sums(row, want[k], what);
    }
  };
  const int64_t base = kBaseMs / 1000;
  check({}, 0, INT64_MAX);
  check({GroupBy::Tenant}, 0, INT64_MAX);
  check({GroupBy::Key}, 0, INT64_MAX);
  check({GroupBy::Model}, 0, INT64_MAX);
  check({GroupBy::Day}, 0, INT64_MAX);
  check({GroupBy::Model, GroupBy::Tenant}, 0, INT64_MAX);
  check({GroupBy::Tenant, GroupBy::Key, GroupBy::Model, GroupBy::Day}, 0, INT64_MAX);
  check({}, base + 3600, base + 86400);
  check({GroupBy::Day}, base + 5000, base + 100'000);
  check({GroupBy::Tenant, GroupBy::Model}, base + 97, base + 98);  // one row's exact second
  check({}, base + 10'000'000, INT64_MAX);                         // nothing: one zero row

  auto days = usage(*ledger, UsageQuery{.group_by = {GroupBy::Day}, .tenant = std::nullopt});
  ASSERT_GE(days.size(), 3u);
  EXPECT_EQ(*days.front().day, "2023-11-14");  // ordered by the grouped-by value
  EXPECT_EQ(*days[1].day, "2023-11-15");

  // Restricted to one tenant (what a non-admin key may see).
  auto beta = usage(*ledger, UsageQuery{.group_by = {GroupBy::Tenant}, .tenant = "beta"});
  ASSERT_EQ(beta.size(), 1u);
  EXPECT_EQ(*beta[0].tenant, "beta");
  expect_same_sums(beta[0], expected(true, false, false, false, 0, INT64_MAX)[{"beta", "", "", ""}],
                   "tenant beta");
}

TEST(Ledger, DurabilityTicketsAndCallbacks) {
  TempDir dir;
  auto ledger = open_ledger(dir.path);
  ASSERT_NE(ledger, nullptr);
  EXPECT_TRUE(ledger->durable(0));
  EXPECT_FALSE(ledger->durable(1));

  std::promise<std::thread::id> called_on;
  auto future = called_on.get_future();
  std::atomic<int> calls{0};
  const uint64_t first = ledger->append(make_row("a", 0, "t", "k", "m", kBaseMs));
  EXPECT_EQ(first, 1u);
  ledger->on_durable(first, [&] {
    if (calls++ == 0) called_on.set_value(std::this_thread::get_id());
  });
  // The writer commits on its own, without a flush.
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_NE(future.get(), std::this_thread::get_id());  // on the writer thread
  EXPECT_TRUE(ledger->durable(first));

  // Already durable: called at once, on this thread.
  std::thread::id immediate;
  ledger->on_durable(first, [&] { immediate = std::this_thread::get_id(); });
  EXPECT_EQ(immediate, std::this_thread::get_id());

  // Many tickets, callbacks registered in any order: each fires exactly once.
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 300; ++i) {
    tickets.push_back(
        ledger->append(make_row("b" + std::to_string(i), 0, "t", "k", "m", kBaseMs + i)));
  }
  std::vector<std::atomic<int>> fired(tickets.size());
  for (size_t i = tickets.size(); i-- > 0;) ledger->on_durable(tickets[i], [&, i] { ++fired[i]; });
  ledger->flush();
  for (uint64_t ticket : tickets) EXPECT_TRUE(ledger->durable(ticket));
  for (size_t i = 0; i < fired.size(); ++i) EXPECT_EQ(fired[i].load(), 1) << "ticket " << i;
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(ledger->last_error().ok());
}

TEST(Ledger, DuplicateRequestPartsAreCountedOnce) {
  TempDir dir;
  auto ledger = open_ledger(dir.path);
  ASSERT_NE(ledger, nullptr);
  ledger->append(make_row("cmpl-1", 0, "t", "k", "m", kBaseMs, 10));
  ledger->append(make_row("cmpl-1", 0, "t", "k", "m", kBaseMs, 10));  // the same row again
  ledger->flush();
  ledger->append(make_row("cmpl-1", 0, "t", "k", "m", kBaseMs, 10));  // in a later commit
  ledger->append(make_row("cmpl-1", 1, "t", "k", "m", kBaseMs, 20));  // another prompt
  ledger->append(make_row("cmpl-2", 0, "t", "k", "m", kBaseMs, 30));
  auto total = usage(*ledger, {});
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].requests, 3);
  EXPECT_EQ(total[0].prompt_tokens, 60);
}

TEST(Ledger, RowsSurviveReopenAndStandaloneReadsSeeThem) {
  TempDir dir;
  {
    auto ledger = open_ledger(dir.path);
    ASSERT_NE(ledger, nullptr);
    for (int i = 0; i < 100; ++i) {
      ledger->append(make_row("r" + std::to_string(i), 0, "t", "key_a", "m", kBaseMs + i, 4));
    }
    // No flush: destruction commits what is queued.
  }
  auto reopened = open_ledger(dir.path);
  ASSERT_NE(reopened, nullptr);
  auto total = usage(*reopened, {});
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].requests, 100);
  EXPECT_EQ(total[0].prompt_tokens, 400);

  // The read API without a writer (what the `usage` command uses).
  auto db = open_ledger_database(dir.path);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto rows = query_usage(**db, UsageQuery{.group_by = {GroupBy::Key}, .tenant = std::nullopt});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(*(*rows)[0].key_id, "key_a");
  EXPECT_EQ((*rows)[0].requests, 100);
}

TEST(Ledger, ChargedSinceSumsOneKeyFromATime) {
  TempDir dir;
  auto ledger = open_ledger(dir.path);
  ASSERT_NE(ledger, nullptr);
  ledger->append(make_row("old", 0, "t", "key_a", "m", kBaseMs - 1, 100));    // before
  ledger->append(make_row("edge", 0, "t", "key_a", "m", kBaseMs, 10));        // at: counted
  ledger->append(make_row("new", 0, "t", "key_a", "m", kBaseMs + 5000, 20));  // after
  ledger->append(make_row("other", 0, "t", "key_b", "m", kBaseMs + 5000, 1000));
  auto charged = ledger->charged_since("key_a", kBaseMs / 1000);  // read-your-writes, no flush
  ASSERT_TRUE(charged.ok()) << charged.error().message;
  EXPECT_NEAR(*charged, 30 * 3e-6, 1e-15);
  auto none = ledger->charged_since("key_unknown", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0.0);
  auto all = ledger->charged_since("key_a", 0);
  ASSERT_TRUE(all.ok());
  EXPECT_NEAR(*all, 130 * 3e-6, 1e-15);
}

TEST(Ledger, FailedCommitsKeepRowsAndRetry) {
  TempDir dir;
  LedgerOptions options;
  options.busy_timeout_ms = 20;
  options.first_retry_delay = 10ms;
  options.max_retry_delay = 40ms;
  options.read_wait = 200ms;
  auto ledger = open_ledger(dir.path, options);
  ASSERT_NE(ledger, nullptr);

  // Another connection holds the write lock: the ledger's commits fail as on a full disk.
  auto blocker = open_ledger_database(dir.path);
  ASSERT_TRUE(blocker.ok()) << blocker.error().message;
  auto lock = Transaction::begin(**blocker);
  ASSERT_TRUE(lock.ok()) << lock.error().message;

  std::atomic<int> fired{0};
  const uint64_t ticket = ledger->append(make_row("x", 0, "t", "k", "m", kBaseMs, 5));
  ledger->on_durable(ticket, [&] { ++fired; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ledger->last_error().ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_FALSE(ledger->last_error().ok());
  EXPECT_NE(ledger->last_error().error().message.find("locked"), std::string::npos)
      << ledger->last_error().error().message;
  EXPECT_FALSE(ledger->durable(ticket));
  EXPECT_EQ(fired.load(), 0);
  ledger->append(make_row("y", 0, "t", "k", "m", kBaseMs, 7));  // joins the retried batch

  // Reads wait a bounded time and then say why.
  auto blocked_read = ledger->usage({});
  ASSERT_FALSE(blocked_read.ok());
  EXPECT_NE(blocked_read.error().message.find("still waiting"), std::string::npos)
      << blocked_read.error().message;

  ASSERT_TRUE(lock->commit().ok());  // the "disk" has room again
  ledger->flush();
  EXPECT_TRUE(ledger->durable(ticket));
  EXPECT_EQ(fired.load(), 1);
  EXPECT_TRUE(ledger->last_error().ok());
  auto total = usage(*ledger, {});
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].requests, 2);
  EXPECT_EQ(total[0].prompt_tokens, 12);
}

// Reads whole lines from `fd` into `lines` until `want` lines, EOF or the timeout.
void read_lines(int fd, std::string& pending, std::vector<std::string>& lines, size_t want,
                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (lines.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    pending.append(buffer, static_cast<size_t>(n));
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      lines.push_back(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
}

// The durability contract: a row whose on_durable fired is in the ledger after the writing
// process is killed with SIGKILL at an arbitrary moment.
TEST(Ledger, RowsReportedDurableSurviveKill9) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    auto ledger = Ledger::open(dir.path);
    if (!ledger.ok()) ::_exit(2);
    const int out = fds[1];
    for (int i = 0;; ++i) {  // until killed
      const std::string id = "chatcmpl-" + std::to_string(i);
      const uint64_t ticket =
          (*ledger)->append(make_row(id, 0, "t", "k", "m", kBaseMs + i, i % 100));
      if (i % 3 == 0) {
        (*ledger)->on_durable(ticket, [out, id] {
          const std::string line = id + "\n";  // shorter than PIPE_BUF: written whole or not
          (void)!::write(out, line.data(), line.size());
        });
      }
      if (i % 50 == 0) ::usleep(500);  // let commits interleave with appends
    }
  }
  ::close(fds[1]);
  std::string pending;
  std::vector<std::string> durable_ids;
  read_lines(fds[0], pending, durable_ids, 500, 60s);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_GE(durable_ids.size(), 500u) << "the child reported too few durable rows";
  // Lines written before the kill count too.
  read_lines(fds[0], pending, durable_ids, SIZE_MAX, 1s);
  ::close(fds[0]);

  auto db = open_ledger_database(dir.path);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto find = (*db)->prepare("SELECT COUNT(*) FROM usage_ledger WHERE request_id = ?1");
  ASSERT_TRUE(find.ok()) << find.error().message;
  size_t missing = 0;
  for (const auto& id : durable_ids) {
    find->reset();
    auto has_row = find->bind_text(1, id).step();
    ASSERT_TRUE(has_row.ok() && *has_row);
    if (find->column_int(0) != 1) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << durable_ids.size() << " rows reported durable";
}

}  // namespace
}  // namespace tmill::platform
