// Stop strings over streamed text. Text that might be the start of a stop string is held back
// until it is known either way, so a stop string never reaches the client, even in part.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tmill::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends generated text; returns the text now safe to emit. After a match, returns the text
  // before the earliest stop string and matched() becomes true (later text is dropped).
  std::string push(std::string_view text);
  // Everything still held (call when generation ends without a match).
  std::string flush();
  bool matched() const { return matched_; }
  bool holding() const { return !held_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
};

}  // namespace tmill::engine
