#include "engine/request.h"

namespace tmill::engine {

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    case FinishReason::Error:
      return "error";
    case FinishReason::None:
      break;
  }
  return "";
}

std::vector<StreamEvent> RequestStream::take() {
  std::lock_guard lock(mu_);
  std::vector<StreamEvent> out(std::make_move_iterator(events_.begin()),
                               std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

std::vector<StreamEvent> RequestStream::wait_take(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  }
  return take();
}

void RequestStream::set_notify(std::function<void()> notify) {
  bool pending = false;
  {
    std::lock_guard lock(mu_);
    notify_ = std::move(notify);
    pending = !events_.empty();
  }
  // Events pushed before the callback existed would otherwise go unannounced.
  if (pending && notify_) notify_();
}

void RequestStream::set_on_cancel(std::function<void()> on_cancel) {
  std::lock_guard lock(mu_);
  on_cancel_ = std::move(on_cancel);
}

void RequestStream::cancel() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (cancel_ || done_) return;
    cancel_ = true;
    wake = on_cancel_;
  }
  if (wake) wake();
}

bool RequestStream::cancel_requested() const {
  std::lock_guard lock(mu_);
  return cancel_;
}

bool RequestStream::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

void RequestStream::push(StreamEvent event) {
  std::vector<StreamEvent> events;
  events.push_back(std::move(event));
  push_all(std::move(events));
}

void RequestStream::push_all(std::vector<StreamEvent> events) {
  if (events.empty()) return;
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    for (StreamEvent& e : events) {
      if (e.kind == StreamEvent::Kind::Done || e.kind == StreamEvent::Kind::Failed) done_ = true;
      events_.push_back(std::move(e));
    }
    notify = notify_;
  }
  cv_.notify_all();
  // Called outside the lock: the callback may take its own locks.
  if (notify) notify();
}

}  // namespace tmill::engine
