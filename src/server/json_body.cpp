#include "server/json_body.h"

namespace tmill::server {

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced input is the parser's to reject
    }
  }
  return deepest;
}

ApiResult<nlohmann::json> parse_json_body(std::string_view text, int max_depth) {
  if (json_nesting_depth(text, max_depth) > max_depth)
    return invalid_request("the request body nests JSON deeper than " + std::to_string(max_depth) +
                           " levels");
  try {
    // nlohmann rejects invalid UTF-8 inside strings, NaN/Infinity literals and numbers that
    // overflow a double, so none of them reach validation.
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e400)
    return invalid_request(std::string("the request body is not valid JSON: ") + e.what());
  }
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tmill::server
