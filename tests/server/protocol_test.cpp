// Routing, error bodies, SSE framing and the Prometheus text (server/router.h, api_error.h,
// sse.h, metrics_text.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "server/api_error.h"
#include "server/json_body.h"
#include "server/metrics_text.h"
#include "server/router.h"
#include "server/sse.h"

namespace tmill::server {
namespace {

TEST(Router, Endpoints) {
  auto r = route_request("POST", "/v1/chat/completions");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, RouteKind::ChatCompletions);
  EXPECT_EQ(route_request("POST", "/v1/completions")->kind, RouteKind::Completions);
  EXPECT_EQ(route_request("GET", "/v1/models")->kind, RouteKind::Models);
  EXPECT_EQ(route_request("GET", "/health?x=1")->kind, RouteKind::Health);
  EXPECT_EQ(route_request("GET", "/metrics")->kind, RouteKind::Metrics);
  auto m = route_request("GET", "/v1/models/smol");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, RouteKind::Model);
  EXPECT_EQ(m->arg, "smol");
}

TEST(Router, NotFoundAndMethodNotAllowed) {
  auto r = route_request("GET", "/v2/whatever");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 404);
  r = route_request("GET", "/v1/chat/completions");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 405);
  EXPECT_EQ(r.error().allow, "POST");
  r = route_request("POST", "/health");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 405);
  EXPECT_EQ(r.error().allow, "GET");
  EXPECT_EQ(route_request("GET", "/v1/models/").error().status, 404);
}

TEST(ApiErrorJson, OpenAIShape) {
  const auto body = error_json(invalid_request("bad n", "n"));
  ASSERT_TRUE(body.contains("error"));
  const auto& e = body["error"];
  EXPECT_EQ(e["message"], "bad n");
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["param"], "n");
  EXPECT_TRUE(e["code"].is_null());
  const auto s = error_json(server_error(503, "busy", "queue_full"));
  EXPECT_EQ(s["error"]["type"], "server_error");
  EXPECT_EQ(s["error"]["code"], "queue_full");
  EXPECT_TRUE(s["error"]["param"].is_null());
}

TEST(Sse, Framing) {
  const std::string e = sse_event(nlohmann::json{{"a", "line1\nline2"}});
  EXPECT_EQ(e, "data: {\"a\":\"line1\\nline2\"}\n\n");  // one line: newlines stay escaped
  EXPECT_EQ(std::string(kSseDone), "data: [DONE]\n\n");
  // Invalid UTF-8 (a token cut mid-character) is replaced, never thrown.
  EXPECT_EQ(sse_event(nlohmann::json{{"t", std::string("\xe2\x82")}}),
            "data: {\"t\":\"\xef\xbf\xbd\"}\n\n");
}

TEST(Metrics, PrometheusText) {
  engine::MetricsSnapshot m;
  m.requests = {{"ok", 3}, {"cancelled", 1}};
  m.prompt_tokens = 100;
  m.generation_tokens = 50;
  m.kv_blocks_total = 10;
  m.kv_blocks_used = 4;
  m.kv_blocks_free = 6;
  m.ttft_seconds = engine::Histogram({0.005, 0.1, 1});
  m.ttft_seconds.observe(0.05);
  m.ttft_seconds.observe(2);
  const std::string text = prometheus_text(m, {{200, 7}, {400, 2}});
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("tokenmill_requests_total{status=\"ok\"} 3")) << text;
  EXPECT_TRUE(has("tokenmill_requests_total{status=\"cancelled\"} 1"));
  EXPECT_TRUE(has("tokenmill_requests_total{status=\"rejected_queue_full\"} 0"));
  EXPECT_TRUE(has("# TYPE tokenmill_prompt_tokens_total counter"));
  EXPECT_TRUE(has("tokenmill_prompt_tokens_total 100"));
  EXPECT_TRUE(has("tokenmill_generation_tokens_total 50"));
  EXPECT_TRUE(has("# TYPE tokenmill_kv_blocks_used gauge"));
  EXPECT_TRUE(has("tokenmill_kv_blocks_used 4"));
  EXPECT_TRUE(has("tokenmill_kv_blocks_free 6"));
  EXPECT_TRUE(has("tokenmill_kv_blocks_total 10"));
  EXPECT_TRUE(has("# TYPE tokenmill_time_to_first_token_seconds histogram"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_bucket{le=\"0.005\"} 0"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_bucket{le=\"0.1\"} 1"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_bucket{le=\"1\"} 1"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_sum 2.05"));
  EXPECT_TRUE(has("tokenmill_time_to_first_token_seconds_count 2"));
  EXPECT_TRUE(has("tokenmill_http_responses_total{code=\"200\"} 7"));
  EXPECT_TRUE(has("tokenmill_http_responses_total{code=\"400\"} 2"));
  for (const char* name :
       {"tokenmill_prefix_cache_hits_total", "tokenmill_prefix_cache_misses_total",
        "tokenmill_preemptions_total", "tokenmill_queue_length", "tokenmill_running_sequences",
        "tokenmill_kv_blocks_cached", "tokenmill_time_per_output_token_seconds_count",
        "tokenmill_e2e_request_latency_seconds_count", "tokenmill_batch_tokens_count",
        "tokenmill_batch_sequences_count"})
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name;
  // Every sample line is "name{labels} value" or "name value"; comments start with '#'.
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# ", 0) == 0) continue;
    EXPECT_EQ(line.rfind("tokenmill_", 0), 0u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
}

TEST(HttpCounters, CountsByStatus) {
  HttpCounters c;
  c.count_response(200);
  c.count_response(200);
  c.count_response(503);
  const auto r = c.responses();
  EXPECT_EQ(r.at(200), 2u);
  EXPECT_EQ(r.at(503), 1u);
}

}  // namespace
}  // namespace tmill::server
