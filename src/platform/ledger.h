// The usage ledger, DATA_DIR/ledger.db: one row per finished engine request (per prompt of an
// HTTP request), with its tokens, hardware cost, list-price charge, energy and latencies.
//
// Rows are written by a writer thread with group commit: append() only queues (the engine
// thread never waits for the disk), and the writer commits everything queued in one
// transaction. With synchronous=FULL a row is durable (survives kill -9) once its commit
// returns; durable()/on_durable() tell callers when that is, so a response can wait for its
// bill. (request_id, part) is unique: a row appended twice is counted once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/expected.h"
#include "platform/database.h"
#include "platform/usage_query.h"

namespace tmill::platform {

struct LedgerRow {
  std::string request_id;  // the response id the client saw, e.g. "chatcmpl-..."
  int32_t part = 0;  // prompt index within that HTTP request (completions with several prompts)
  std::string tenant, key_id, model;  // key_id empty when the server runs without keys
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0, charge_usd = 0, energy_j = 0;  // hardware cost, list-price charge, energy
  double queue_ms = 0, ttft_ms = 0, e2e_ms = 0;
  std::string finish_reason;  // "stop", "length", "cancelled", "error"
  int64_t finished_unix_ms = 0;
};

struct LedgerOptions {
  int busy_timeout_ms = 5000;
  // A failed commit is retried after this delay, doubling up to max_retry_delay.
  std::chrono::milliseconds first_retry_delay{50};
  std::chrono::milliseconds max_retry_delay{5000};
  // At destruction a failing commit is retried this long; then the rows still queued are given
  // up (and counted on stderr) so that shutdown ends.
  std::chrono::milliseconds shutdown_grace{10000};
  // usage() and charged_since() wait this long for queued rows to commit before failing.
  std::chrono::milliseconds read_wait{10000};
};

// DATA_DIR/ledger.db
std::filesystem::path ledger_file(const std::filesystem::path& data_dir);

// A plain connection to the ledger (schema brought up to date), for readers that need no writer
// thread: pass it to query_usage()/query_charged_since().
Expected<std::unique_ptr<Database>> open_ledger_database(const std::filesystem::path& data_dir,
                                                         const DatabaseOptions& options = {});

class Ledger {
 public:
  // Opens its own connections (one for the writer thread, one for reads).
  static Expected<std::unique_ptr<Ledger>> open(const std::filesystem::path& data_dir,
                                                const LedgerOptions& options = {});
  ~Ledger();  // commits what is queued, stops the writer
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Never blocks on disk (callable from the engine thread): queues the row and returns its
  // ticket (increasing from 1). Any thread.
  uint64_t append(LedgerRow row);
  // Committed (fsynced) already? Ticket 0 is always durable. Any thread, lock-free.
  bool durable(uint64_t ticket) const;
  // Calls fn exactly once when `ticket` is durable: at once on the caller's thread if it already
  // is, else on the writer thread right after the commit. fn must be cheap, must not block and
  // must not call flush(), usage() or charged_since() (they wait for the writer thread).
  // A ticket that never becomes durable (append was never called for it, or the rows were given
  // up at shutdown) never calls fn.
  void on_durable(uint64_t ticket, std::function<void()> fn);
  // Blocks until all rows appended so far are committed and their on_durable callbacks have
  // run. While commits fail this waits for the retries to succeed.
  void flush();
  // Read-your-writes: waits for every row appended before the call to commit (at most
  // options.read_wait, else an error naming the commit failure), so all of them are counted.
  Expected<std::vector<UsageRow>> usage(const UsageQuery& q);
  // Sum of charge_usd of a key's rows finished at or after since_unix (budgets restart from
  // it). Read-your-writes, as usage().
  Expected<double> charged_since(const std::string& key_id, int64_t since_unix);
  // The error of the latest commit if commits are failing now (it is logged to stderr once per
  // run of failures and retried with backoff); ok once a commit succeeds again.
  Status last_error() const;

 private:
  Ledger(std::unique_ptr<Database> writer_db, Statement insert, std::unique_ptr<Database> reader_db,
         const LedgerOptions& options);
  void writer_loop();
  Status commit_rows(const std::vector<LedgerRow>& rows);  // writer thread
  // Wakes the callbacks and waiters of rows up to `ticket`, just committed.
  void publish_durable(uint64_t ticket);
  Status wait_for_reads();

  const LedgerOptions options_;
  std::unique_ptr<Database> writer_db_;  // writer thread only
  Statement insert_;                     // writer thread only; declared after its connection
  std::mutex reader_mutex_;
  std::unique_ptr<Database> reader_db_;  // under reader_mutex_

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;          // the writer waits for rows or stop
  std::condition_variable durable_cv_;       // flush() waits for commits and their callbacks
  std::vector<LedgerRow> queue_;             // appended, not yet taken by the writer
  uint64_t last_ticket_ = 0;                 // the last ticket handed out
  std::atomic<uint64_t> durable_ticket_{0};  // written under mutex_, read anywhere
  uint64_t settled_ticket_ = 0;              // durable, and the callbacks up to it have run
  std::multimap<uint64_t, std::function<void()>> waiting_callbacks_;
  std::string last_error_;  // message of the failing commit; empty while commits succeed
  bool stopping_ = false;
  std::thread writer_;  // last: started when everything above exists
};

}  // namespace tmill::platform
