#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace tmill {
namespace {

// A spin-wait hint: lets the sibling hyperthread run and saves power while spinning.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker spins before it sleeps on the condition variable. A sleeping worker
// costs the next dispatch a futex wake-up (tens of microseconds before it runs), and a decode
// step's ops come microseconds apart, except where the caller runs alone for a while (its own
// larger share, the serial parts of a layer). The old bound of 20,000 bare loads (~6 us here)
// put the worker to sleep at 29% of the dispatches of Llama-3.2-1B-shape decode; at 200 us it
// sleeps at ~2%, and SmolLM2 tg128 ran +13% (median ratio of 5 alternating pairs, batch16 and
// pp128 within noise). Time-based, so it means the same on CPUs with a faster or slower pause.
constexpr std::chrono::microseconds kWorkerSpin{200};

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
  if (task_split_ == Split::kDynamic) {
    for (;;) {
      const int64_t begin = next_chunk_.fetch_add(task_grain_, std::memory_order_relaxed);
      if (begin >= task_n_) return;
      (*task_)(begin, std::min(task_n_, begin + task_grain_), index);
    }
  }
  if (task_split_ == Split::kGuided) {
    int64_t begin = next_chunk_.load(std::memory_order_relaxed);
    for (;;) {
      if (begin >= task_n_) return;
      const int64_t left = task_n_ - begin;
      const int64_t size = std::min(left, std::max(task_grain_, left / (2 * n_threads_)));
      if (!next_chunk_.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed))
        continue;  // `begin` now holds the current counter
      (*task_)(begin, begin + size, index);
      begin = next_chunk_.load(std::memory_order_relaxed);
    }
  }
  const int64_t per = (task_n_ + n_threads_ - 1) / n_threads_;
  const int64_t begin = std::min<int64_t>(task_n_, per * index);
  const int64_t end = std::min<int64_t>(task_n_, begin + per);
  if (begin < end) (*task_)(begin, end, index);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  dispatch(n, Split::kStatic, 1, fn);
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t grain,
                                      const std::function<void(int64_t, int64_t, int)>& fn) {
  dispatch(n, Split::kDynamic, grain, fn);
}

void ThreadPool::parallel_for_guided(int64_t n, int64_t min_grain,
                                     const std::function<void(int64_t, int64_t, int)>& fn) {
  dispatch(n, Split::kGuided, min_grain, fn);
}

void ThreadPool::dispatch(int64_t n, Split split, int64_t grain,
                          const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  // One thread, or no more than one chunk: run it here, without waking anyone.
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &fn;
    task_n_ = n;
    task_split_ = split;
    task_grain_ = grain;
    next_chunk_.store(0, std::memory_order_relaxed);
    pending_.store(n_threads_ - 1);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  run_share(0);
  // Workers finish within microseconds of us for balanced kernels: spin (a sched_yield per
  // check would add a system call's latency to every join), then yield.
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < 4096)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin before sleeping: back-to-back kernels (one per layer op) arrive quickly.
    const auto deadline = std::chrono::steady_clock::now() + kWorkerSpin;
    for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin) {
      cpu_relax();
      if (spin % 64 == 63 && std::chrono::steady_clock::now() > deadline) break;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    run_share(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace tmill
