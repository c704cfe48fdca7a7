// libFuzzer target for the HTTP API's request parser and validator: the input is a request
// body (the first byte picks the endpoint: odd = chat, even = completions). Parsing and
// validation must never crash, hang or trip a sanitizer, whatever the bytes (deep nesting,
// invalid UTF-8, huge numbers); every error must serialize as an OpenAI error body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/json_body.h"
#include "server/openai_request.h"
#include "server/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tmill::server;
  if (size == 0) return 0;
  const Endpoint endpoint = (data[0] & 1) != 0 ? Endpoint::Chat : Endpoint::Completions;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  static const ValidationLimits limits = [] {
    ValidationLimits l;
    l.model_names = {"m", "smollm2-135m"};
    l.n_vocab = 49152;
    return l;
  }();
  auto r = parse_openai_request(endpoint, body, limits);
  if (!r.ok()) {
    const std::string text = dump_json(error_json(r.error()));
    if (text.empty() || r.error().status < 400 || r.error().status > 499) __builtin_trap();
  } else {
    // Accepted requests satisfy the limits the engine relies on.
    const OpenAIRequest& q = r.value();
    if (q.n < 1 || q.n > limits.max_n) __builtin_trap();
    if (q.stop.size() > static_cast<size_t>(limits.max_stop)) __builtin_trap();
    if (q.max_tokens && *q.max_tokens < 0) __builtin_trap();
    for (const PromptInput& p : q.prompts)
      for (const int32_t id : p.tokens)
        if (id < 0 || id >= limits.n_vocab) __builtin_trap();
    for (const auto& [id, bias] : q.sampling.logit_bias)
      if (id < 0 || id >= limits.n_vocab || !(bias >= -100 && bias <= 100)) __builtin_trap();
    (void)dump_json(nlohmann::json(q.messages.dump()));
  }
  // The routing table sees arbitrary targets too (method fixed, path = the body's text).
  (void)route_request("GET", body.substr(0, 256));
  return 0;
}
