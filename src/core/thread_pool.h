// A persistent pool of worker threads for data-parallel kernels.
// parallel_for splits [0, n) into one contiguous range per thread; the calling thread
// takes the first range, so a pool of size 1 runs everything inline. parallel_for_dynamic
// hands out chunks of `grain` items from a shared counter instead, for work whose items cost
// unequal amounts (causal attention: later tokens see more positions). parallel_for_guided
// hands out shrinking chunks, for equal items on threads that may not run at equal speed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tmill {

class ThreadPool {
 public:
  // n_threads counts the caller; 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(begin, end, thread_index) for each thread's share of [0, n). Blocks until all finish.
  // Not re-entrant: call from one thread at a time.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

  // fn(begin, end, thread_index) over chunks [begin, end) of at most `grain` items, taken in
  // increasing order by whichever thread is free. Blocks until all finish.
  void parallel_for_dynamic(int64_t n, int64_t grain,
                            const std::function<void(int64_t, int64_t, int)>& fn);

  // fn(begin, end, thread_index) over chunks taken in increasing order by whichever thread is
  // free, each a 1/(2 x threads) share of the items not yet handed out but at least
  // `min_grain`: big chunks first (few shared-counter updates), small ones last (the threads
  // finish together even when one runs slower). Blocks until all finish.
  void parallel_for_guided(int64_t n, int64_t min_grain,
                           const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_loop(int index);
  void run_share(int index);
  enum class Split { kStatic, kDynamic, kGuided };
  // The one entry of the three splits (static: grain 1).
  void dispatch(int64_t n, Split split, int64_t grain,
                const std::function<void(int64_t, int64_t, int)>& fn);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t, int)>* task_ = nullptr;
  int64_t task_n_ = 0;
  Split task_split_ = Split::kStatic;
  int64_t task_grain_ = 0;              // dynamic: chunk size; guided: least chunk size
  std::atomic<int64_t> next_chunk_{0};  // dynamic and guided: first item not yet handed out
};

}  // namespace tmill
