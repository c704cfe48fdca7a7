#include "app/bench_serve/load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace tmill::app::bench_serve {
namespace {

// Idle keep-alive connections for the open loop, so a request reuses a connection when one is
// free instead of paying a TCP handshake inside its TTFT.
class ClientPool {
 public:
  ClientPool(const Url& url, double timeout_s) : url_(url), timeout_s_(timeout_s) {}

  std::unique_ptr<HttpClient> take() {
    std::lock_guard lock(mu_);
    if (idle_.empty()) return std::make_unique<HttpClient>(url_, timeout_s_);
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  void give_back(std::unique_ptr<HttpClient> c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }

 private:
  Url url_;
  double timeout_s_;
  std::mutex mu_;
  std::vector<std::unique_ptr<HttpClient>> idle_;
};

// Prints "done/total" lines to stderr every few seconds until stopped.
class ProgressPrinter {
 public:
  ProgressPrinter(const std::atomic<int>& done, const std::atomic<int>& failed, int total,
                  bool quiet)
      : done_(done), failed_(failed), total_(total) {
    if (quiet) return;
    thread_ = std::thread([this] { loop(); });
  }
  ~ProgressPrinter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    const double t0 = now_seconds();
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stop_; })) {
      std::fprintf(stderr, "bench-serve: %d/%d done, %d failed, %.0f s\n", done_.load(), total_,
                   failed_.load(), now_seconds() - t0);
    }
  }

  const std::atomic<int>& done_;
  const std::atomic<int>& failed_;
  int total_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

LoadOutcome run_load(const Options& opts, const Url& url, const std::string& model,
                     const std::vector<PlannedRequest>& plan, bool quiet) {
  LoadOutcome out;
  out.results.resize(plan.size());
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  const int total = static_cast<int>(plan.size());
  const auto finish = [&](size_t i, RequestResult r) {
    if (!r.ok) {
      ++failed;
      if (!quiet) std::fprintf(stderr, "bench-serve: request %zu failed: %s\n", i, r.error.c_str());
    }
    out.results[i] = std::move(r);
    ++done;
  };

  const double t0 = now_seconds();
  {
    ProgressPrinter progress(done, failed, total, quiet);
    std::vector<std::thread> threads;
    if (opts.rate > 0) {
      ClientPool pool(url, opts.timeout_s);
      for (size_t i = 0; i < plan.size(); ++i) {
        const double wait = t0 + plan[i].arrival_s - now_seconds();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
        threads.emplace_back([&, i] {
          auto client = pool.take();
          RequestResult r = run_request(*client, plan[i], opts, model, t0);
          pool.give_back(std::move(client));
          finish(i, std::move(r));
        });
      }
      for (auto& t : threads) t.join();
    } else {
      std::atomic<size_t> next{0};
      const int workers = std::min(opts.concurrency, total);
      for (int w = 0; w < workers; ++w) {
        threads.emplace_back([&] {
          HttpClient client(url, opts.timeout_s);
          for (size_t i = next++; i < plan.size(); i = next++)
            finish(i, run_request(client, plan[i], opts, model, t0));
        });
      }
      for (auto& t : threads) t.join();
    }
  }
  double last_end = t0;
  for (const RequestResult& r : out.results)
    last_end = std::max(last_end, t0 + r.start_s + r.e2e_s);
  out.duration_s = last_end - t0;
  return out;
}

}  // namespace tmill::app::bench_serve
