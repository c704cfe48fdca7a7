// Incremental parser for a text/event-stream body: bytes arrive in arbitrary pieces (an event
// may be split across reads, or several may come in one), complete events come out.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tmill::app::bench_serve {

class SseParser {
 public:
  // Called once per event with its data (multi-line data joined by '\n'); comment lines and
  // other fields (event:, id:, retry:) are ignored, as the OpenAI stream uses only data:.
  using OnEvent = std::function<void(std::string_view data)>;

  void feed(std::string_view bytes, const OnEvent& on_event);

 private:
  void line(std::string_view text, const OnEvent& on_event);

  std::string pending_;  // an incomplete line
  std::string data_;     // data of the event being assembled
  bool has_data_ = false;
};

}  // namespace tmill::app::bench_serve
