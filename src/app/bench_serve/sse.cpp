#include "app/bench_serve/sse.h"

namespace tmill::app::bench_serve {

void SseParser::feed(std::string_view bytes, const OnEvent& on_event) {
  pending_.append(bytes);
  size_t start = 0;
  for (size_t nl = pending_.find('\n', start); nl != std::string::npos;
       nl = pending_.find('\n', start)) {
    std::string_view text(pending_.data() + start, nl - start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    line(text, on_event);
    start = nl + 1;
  }
  pending_.erase(0, start);
}

void SseParser::line(std::string_view text, const OnEvent& on_event) {
  if (text.empty()) {  // a blank line ends the event
    if (has_data_) on_event(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (text.substr(0, 5) != "data:") return;
  text.remove_prefix(5);
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (has_data_) data_.push_back('\n');
  data_.append(text);
  has_data_ = true;
}

}  // namespace tmill::app::bench_serve
