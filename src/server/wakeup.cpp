#include "server/wakeup.h"

#include <boost/asio/post.hpp>

#include "server/http_io.h"

namespace tmill::server {

std::function<void()> Wakeup::notifier() {
  std::weak_ptr<Wakeup> weak = weak_from_this();
  boost::asio::any_io_executor strand = timer_.get_executor();
  return [weak, strand] {
    boost::asio::post(strand, [weak] {
      if (auto self = weak.lock()) self->signal();
    });
  };
}

void Wakeup::signal() {
  signaled_ = true;
  timer_.cancel();
}

boost::asio::awaitable<void> Wakeup::wait(std::chrono::milliseconds timeout) {
  if (!signaled_) {
    timer_.expires_after(timeout);
    co_await timer_.async_wait(kAwaitTuple);
  }
  signaled_ = false;
}

}  // namespace tmill::server
