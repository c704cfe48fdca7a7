#include "app/bench_serve/request_runner.h"

#include <nlohmann/json.hpp>

#include "app/bench_serve/sse.h"
#include "core/clock.h"

namespace tmill::app::bench_serve {
namespace {

// The text a streamed choice carries: completions put it in "text", chat in "delta.content".
std::string_view chunk_text(const nlohmann::json& choice) {
  if (auto it = choice.find("text"); it != choice.end() && it->is_string())
    return it->get_ref<const std::string&>();
  if (auto d = choice.find("delta"); d != choice.end() && d->is_object())
    if (auto c = d->find("content"); c != d->end() && c->is_string())
      return c->get_ref<const std::string&>();
  return {};
}

void read_usage(const nlohmann::json& usage, RequestResult& r) {
  r.usage_seen = true;
  r.prompt_tokens = usage.value("prompt_tokens", int64_t{0});
  r.output_tokens = usage.value("completion_tokens", int64_t{0});
  if (auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object())
    r.cached_tokens = d->value("cached_tokens", int64_t{0});
}

}  // namespace

RequestResult run_request(HttpClient& client, const PlannedRequest& req, const Options& opts,
                          const std::string& model, double run_start_s) {
  RequestResult r;
  r.prompt_len = req.prompt_len;
  r.max_tokens = req.max_tokens;
  const std::string body = request_body(req, opts, model);

  SseParser sse;
  bool done = false;
  int64_t text_chunks = 0;
  double last_text_s = 0;
  std::string stream_error;
  const double t0 = now_seconds();
  r.start_s = t0 - run_start_s;

  const auto on_event = [&](std::string_view data) {
    if (done || !stream_error.empty()) return;
    if (data == "[DONE]") {
      done = true;
      return;
    }
    const double t = now_seconds();
    nlohmann::json chunk = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (chunk.is_discarded()) {
      stream_error = "stream chunk is not JSON: " + std::string(data.substr(0, 200));
      return;
    }
    if (auto e = chunk.find("error"); e != chunk.end()) {
      stream_error = "error in stream: " + e->dump();
      return;
    }
    bool has_text = false;
    if (auto c = chunk.find("choices"); c != chunk.end() && c->is_array())
      for (const auto& choice : *c) has_text = has_text || !chunk_text(choice).empty();
    if (has_text) {
      if (text_chunks == 0) {
        r.ttft_s = t - t0;
      } else {
        r.itl_s.push_back(t - last_text_s);
      }
      last_text_s = t;
      ++text_chunks;
    }
    if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) read_usage(*u, r);
  };

  auto result = client.post_stream(request_path(opts), body,
                                   [&](std::string_view bytes) { sse.feed(bytes, on_event); });
  r.e2e_s = now_seconds() - t0;
  if (!result.ok()) {
    r.error = result.error().message;
    return r;
  }
  if (result->status != 200) {
    r.error = "HTTP " + std::to_string(result->status) + ": " + result->body.substr(0, 300);
    return r;
  }
  if (!stream_error.empty()) {
    r.error = stream_error;
    return r;
  }
  if (!done) {
    r.error = "stream ended without data: [DONE]";
    return r;
  }
  if (text_chunks == 0) {  // nothing to time a first token by
    r.error = "stream carried no text";
    return r;
  }
  if (!r.usage_seen) r.output_tokens = text_chunks;
  r.ok = true;
  return r;
}

}  // namespace tmill::app::bench_serve
