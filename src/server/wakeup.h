// Wakes a connection's coroutine when the engine thread has pushed events to its stream.
//
// The engine thread must never block on HTTP, and an io thread must never block on the
// engine; so the engine's notify callback only posts a tiny handler to the connection's strand,
// which sets a flag and cancels a timer the coroutine may be waiting on. The flag makes a
// wake-up that arrives while the coroutine is busy (e.g. writing) count for its next wait.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace tmill::server {

class Wakeup : public std::enable_shared_from_this<Wakeup> {
 public:
  explicit Wakeup(boost::asio::any_io_executor strand) : timer_(std::move(strand)) {}

  // For RequestStream::set_notify: callable from any thread, never blocks. Holds the Wakeup
  // weakly, so a stream that outlives its connection wakes nothing.
  std::function<void()> notifier();

  // On the strand: wake the waiting coroutine (or the next wait).
  void signal();

  // On the strand: returns when signalled, or after `timeout` (a safety net; no event is lost
  // either way because callers re-check their streams after every wait).
  boost::asio::awaitable<void> wait(std::chrono::milliseconds timeout);

 private:
  boost::asio::steady_timer timer_;
  bool signaled_ = false;
};

}  // namespace tmill::server
