// Server-sent events framing for streamed completions: each chunk is one `data: <json>` event,
// and the stream ends with `data: [DONE]`, as OpenAI streams.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tmill::server {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// "data: " + compact JSON + "\n\n". Compact JSON has no raw newline, so one line suffices.
std::string sse_event(const nlohmann::json& chunk);

}  // namespace tmill::server
