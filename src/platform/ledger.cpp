#include "platform/ledger.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>

namespace tmill::platform {
namespace {

constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE usage_ledger (
  request_id TEXT NOT NULL,
  part INTEGER NOT NULL,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  cached_prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  charge_usd REAL NOT NULL,
  energy_j REAL NOT NULL,
  queue_ms REAL NOT NULL,
  ttft_ms REAL NOT NULL,
  e2e_ms REAL NOT NULL,
  finish_reason TEXT NOT NULL,
  finished_unix_ms INTEGER NOT NULL,
  UNIQUE (request_id, part)  -- a row appended twice is counted once
);
CREATE INDEX usage_ledger_by_time ON usage_ledger (finished_unix_ms);
-- budgets: one key's charges since a time
CREATE INDEX usage_ledger_by_key ON usage_ledger (key_id, finished_unix_ms);
)sql",
};

constexpr std::string_view kInsertSql =
    "INSERT OR IGNORE INTO usage_ledger (request_id, part, tenant, key_id, model, prompt_tokens, "
    "cached_prompt_tokens, completion_tokens, cost_usd, charge_usd, energy_j, queue_ms, ttft_ms, "
    "e2e_ms, finish_reason, finished_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11, ?12, ?13, ?14, ?15, ?16)";

}  // namespace

std::filesystem::path ledger_file(const std::filesystem::path& data_dir) {
  return data_dir / "ledger.db";
}

Expected<std::unique_ptr<Database>> open_ledger_database(const std::filesystem::path& data_dir,
                                                         const DatabaseOptions& options) {
  return Database::open(ledger_file(data_dir), kMigrations, options);
}

Expected<std::unique_ptr<Ledger>> Ledger::open(const std::filesystem::path& data_dir,
                                               const LedgerOptions& options) {
  const DatabaseOptions db_options{.busy_timeout_ms = options.busy_timeout_ms};
  TM_ASSIGN(auto writer_db, open_ledger_database(data_dir, db_options));
  TM_ASSIGN(Statement insert, writer_db->prepare(kInsertSql));
  TM_ASSIGN(auto reader_db, open_ledger_database(data_dir, db_options));
  return std::unique_ptr<Ledger>(
      new Ledger(std::move(writer_db), std::move(insert), std::move(reader_db), options));
}

Ledger::Ledger(std::unique_ptr<Database> writer_db, Statement insert,
               std::unique_ptr<Database> reader_db, const LedgerOptions& options)
    : options_(options),
      writer_db_(std::move(writer_db)),
      insert_(std::move(insert)),
      reader_db_(std::move(reader_db)),
      writer_([this] { writer_loop(); }) {}

Ledger::~Ledger() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  writer_.join();
}

uint64_t Ledger::append(LedgerRow row) {
  uint64_t ticket;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(row));
    ticket = ++last_ticket_;
  }
  work_cv_.notify_one();
  return ticket;
}

bool Ledger::durable(uint64_t ticket) const {
  return ticket <= durable_ticket_.load(std::memory_order_acquire);
}

void Ledger::on_durable(uint64_t ticket, std::function<void()> fn) {
  {
    // The writer publishes durable_ticket_ under this lock, so a callback is either run here or
    // registered before the writer looks: never both, never neither.
    std::lock_guard lock(mutex_);
    if (!durable(ticket)) {
      waiting_callbacks_.emplace(ticket, std::move(fn));
      return;
    }
  }
  fn();
}

void Ledger::flush() {
  std::unique_lock lock(mutex_);
  const uint64_t target = last_ticket_;
  durable_cv_.wait(lock, [&] { return settled_ticket_ >= target; });
}

Status Ledger::wait_for_reads() {
  std::unique_lock lock(mutex_);
  const uint64_t target = last_ticket_;
  if (durable_cv_.wait_for(lock, options_.read_wait, [&] { return settled_ticket_ >= target; })) {
    return Status::success();
  }
  return fail("usage rows are still waiting to be committed to ", writer_db_->path().string(),
              " after ", options_.read_wait.count(), " ms",
              last_error_.empty() ? std::string() : "; last commit error: " + last_error_);
}

Expected<std::vector<UsageRow>> Ledger::usage(const UsageQuery& q) {
  TM_TRY(wait_for_reads());
  std::lock_guard lock(reader_mutex_);
  return query_usage(*reader_db_, q);
}

Expected<double> Ledger::charged_since(const std::string& key_id, int64_t since_unix) {
  TM_TRY(wait_for_reads());
  std::lock_guard lock(reader_mutex_);
  return query_charged_since(*reader_db_, key_id, since_unix);
}

Status Ledger::last_error() const {
  std::lock_guard lock(mutex_);
  if (last_error_.empty()) return Status::success();
  return Error{last_error_};
}

Status Ledger::commit_rows(const std::vector<LedgerRow>& rows) {
  TM_ASSIGN(Transaction tx, Transaction::begin(*writer_db_));
  for (const LedgerRow& row : rows) {
    insert_.reset();
    insert_.bind_text(1, row.request_id)
        .bind_int(2, row.part)
        .bind_text(3, row.tenant)
        .bind_text(4, row.key_id)
        .bind_text(5, row.model)
        .bind_int(6, row.prompt_tokens)
        .bind_int(7, row.cached_prompt_tokens)
        .bind_int(8, row.completion_tokens)
        .bind_double(9, row.cost_usd)
        .bind_double(10, row.charge_usd)
        .bind_double(11, row.energy_j)
        .bind_double(12, row.queue_ms)
        .bind_double(13, row.ttft_ms)
        .bind_double(14, row.e2e_ms)
        .bind_text(15, row.finish_reason)
        .bind_int(16, row.finished_unix_ms);
    TM_TRY(insert_.run());
  }
  return tx.commit();
}

void Ledger::publish_durable(uint64_t ticket) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex_);
    durable_ticket_.store(ticket, std::memory_order_release);
    last_error_.clear();
    const auto end = waiting_callbacks_.upper_bound(ticket);
    for (auto it = waiting_callbacks_.begin(); it != end; ++it)
      ready.push_back(std::move(it->second));
    waiting_callbacks_.erase(waiting_callbacks_.begin(), end);
  }
  // Outside the lock: a callback may append or register another callback.
  for (auto& fn : ready) fn();
  {
    std::lock_guard lock(mutex_);
    settled_ticket_ = ticket;
  }
  durable_cv_.notify_all();
}

void Ledger::writer_loop() {
  using Clock = std::chrono::steady_clock;
  // Rows taken from the queue and not yet committed. A failed commit keeps them here, and the
  // next attempt commits them together with whatever was appended meanwhile (tickets stay
  // contiguous: this batch always holds durable_ticket_ + 1 .. batch_last_ticket).
  std::vector<LedgerRow> batch;
  uint64_t batch_last_ticket = 0;
  int failures = 0;
  auto retry_delay = options_.first_retry_delay;
  std::optional<Clock::time_point> give_up_at;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (batch.empty()) work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (batch.empty() && queue_.empty()) return;  // stopping, and everything is committed
      if (batch.empty()) {
        batch.swap(queue_);
      } else {
        std::move(queue_.begin(), queue_.end(), std::back_inserter(batch));
        queue_.clear();
      }
      batch_last_ticket = last_ticket_;
    }

    Status committed = commit_rows(batch);
    if (committed.ok()) {
      if (failures > 0) {
        std::fprintf(stderr, "ledger: commit to %s works again after %d failed attempts\n",
                     writer_db_->path().c_str(), failures);
      }
      failures = 0;
      retry_delay = options_.first_retry_delay;
      batch.clear();
      publish_durable(batch_last_ticket);
      continue;
    }

    // Disk full, I/O error, a lock held too long: keep the rows, report once, back off, retry.
    if (failures++ == 0) {
      std::fprintf(stderr, "ledger: cannot commit %zu usage rows (kept in memory, retrying): %s\n",
                   batch.size(), committed.error().message.c_str());
    }
    std::unique_lock lock(mutex_);
    last_error_ = committed.error().message;
    if (stopping_) {
      if (!give_up_at) give_up_at = Clock::now() + options_.shutdown_grace;
      if (Clock::now() >= *give_up_at) {
        std::fprintf(stderr,
                     "ledger: giving up at shutdown: %zu usage rows were not recorded: %s\n",
                     batch.size() + queue_.size(), committed.error().message.c_str());
        return;
      }
    }
    // Woken early only by the stop request, not by every append.
    const bool was_stopping = stopping_;
    work_cv_.wait_for(lock, retry_delay, [&] { return stopping_ != was_stopping; });
    retry_delay = std::min(retry_delay * 2, options_.max_retry_delay);
  }
}

}  // namespace tmill::platform
