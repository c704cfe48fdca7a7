// Parsing a request body into JSON safely: the nesting depth is checked by a linear scan before
// the parser sees the text (so a 10^6-deep array costs one pass and no recursion anywhere, even
// in code that later walks or destroys the value), and parse errors become 400s.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace tmill::server {

// Deeper than any real request (messages -> content parts -> object is depth 4).
inline constexpr int kMaxJsonDepth = 64;

// The deepest bracket nesting of `text`, counting only brackets outside strings; stops early
// (returning a value > limit) once `limit` is exceeded.
int json_nesting_depth(std::string_view text, int limit);

ApiResult<nlohmann::json> parse_json_body(std::string_view text, int max_depth = kMaxJsonDepth);

// Compact JSON text. Strings that are not valid UTF-8 (token bytes cut mid-character, a parse
// error quoting raw input) come out with U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& value);

}  // namespace tmill::server
