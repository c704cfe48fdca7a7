// Response bodies and stream chunks built from engine events (server/openai_response.h), with a
// real BPE vocabulary (../shared/fixtures/tokenizer) for token texts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>

#include "gguf/gguf.h"
#include "server/openai_response.h"
#include "tokenizer/tokenizer.h"

namespace tmill::server {
namespace {

using engine::FinishReason;
using engine::StreamEvent;
using nlohmann::json;

const tok::Tokenizer& tokenizer() {
  static const tok::Tokenizer t = [] {
    auto file = gguf::File::open(std::string(TOKENMILL_SHARED_FIXTURES) +
                                 "/tokenizer/ggml-vocab-gpt-2.gguf");
    EXPECT_TRUE(file.ok());
    auto tk = tok::Tokenizer::from_gguf(*file);
    EXPECT_TRUE(tk.ok());
    return std::move(tk).value();
  }();
  return t;
}

StreamEvent delta(int index, std::string text, std::vector<int32_t> tokens,
                  std::vector<engine::TokenLogprob> lps = {}) {
  StreamEvent e;
  e.kind = StreamEvent::Kind::Delta;
  e.index = index;
  e.text = std::move(text);
  e.tokens = std::move(tokens);
  e.logprobs = std::move(lps);
  return e;
}

StreamEvent finished(int index, FinishReason reason) {
  StreamEvent e;
  e.kind = StreamEvent::Kind::Finished;
  e.index = index;
  e.finish_reason = reason;
  return e;
}

StreamEvent done(int64_t prompt, int64_t cached, int64_t completion) {
  StreamEvent e;
  e.kind = StreamEvent::Kind::Done;
  e.prompt_tokens = prompt;
  e.cached_prompt_tokens = cached;
  e.completion_tokens = completion;
  return e;
}

ResponseContext context(Endpoint endpoint, int n = 1, size_t prompts = 1) {
  ResponseContext c;
  c.endpoint = endpoint;
  c.id = make_response_id(endpoint);
  c.created = 1700000000;
  c.model = "smol";
  c.n = n;
  c.echo_texts.assign(prompts, "");
  c.prompt_tokens.assign(prompts, {});
  return c;
}

TEST(ResponseId, PrefixAndUniqueness) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(make_response_id(Endpoint::Chat));
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(ids.begin()->rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(make_response_id(Endpoint::Completions).rfind("cmpl-", 0), 0u);
}

TEST(Response, ChatNonStreaming) {
  ResponseBuilder b(context(Endpoint::Chat, 2), tokenizer());
  b.on_event(0, delta(0, "Hel", {1}));
  b.on_event(0, delta(1, "Bye", {2}));
  b.on_event(0, delta(0, "lo", {3}));
  b.on_event(0, finished(1, FinishReason::Length));
  b.on_event(0, finished(0, FinishReason::Stop));
  EXPECT_FALSE(b.finished());
  b.on_event(0, done(10, 4, 3));
  ASSERT_TRUE(b.finished());
  ASSERT_FALSE(b.failure());
  const json r = b.response();
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["model"], "smol");
  EXPECT_EQ(r["created"], 1700000000);
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["choices"][1]["message"]["content"], "Bye");
  EXPECT_EQ(r["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(r["usage"]["completion_tokens"], 3);
  EXPECT_EQ(r["usage"]["total_tokens"], 13);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(Response, ChatStreamingChunks) {
  ResponseContext c = context(Endpoint::Chat);
  c.include_usage = true;
  const std::string id = c.id;
  ResponseBuilder b(c, tokenizer());
  auto first = b.on_event(0, delta(0, "Hi", {1}));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["id"], id);
  EXPECT_EQ(first[0]["object"], "chat.completion.chunk");
  EXPECT_TRUE(first[0].contains("usage"));
  EXPECT_TRUE(first[0]["usage"].is_null());
  const json& c0 = first[0]["choices"][0];
  EXPECT_EQ(c0["delta"]["role"], "assistant");  // the first chunk carries the role
  EXPECT_EQ(c0["delta"]["content"], "Hi");
  EXPECT_TRUE(c0["finish_reason"].is_null());
  // A delta with no text (held back for a possible stop string) sends nothing.
  EXPECT_TRUE(b.on_event(0, delta(0, "", {2})).empty());
  auto second = b.on_event(0, delta(0, "!", {3}));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["id"], id);
  EXPECT_FALSE(second[0]["choices"][0]["delta"].contains("role"));
  auto fin = b.on_event(0, finished(0, FinishReason::Stop));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(fin[0]["choices"][0]["delta"].empty());
  EXPECT_TRUE(b.on_event(0, done(5, 0, 2)).empty());
  const json u = b.usage_chunk();
  EXPECT_EQ(u["id"], id);
  EXPECT_TRUE(u["choices"].is_array() && u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 7);
}

TEST(Response, ChatFinishWithoutTextStillCarriesRole) {
  ResponseBuilder b(context(Endpoint::Chat), tokenizer());
  auto fin = b.on_event(0, finished(0, FinishReason::Length));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(fin[0]["choices"][0]["finish_reason"], "length");
}

TEST(Response, ChatLogprobs) {
  ResponseContext c = context(Endpoint::Chat);
  c.logprobs = 2;
  ResponseBuilder b(c, tokenizer());
  const int32_t hello = tokenizer().find_token("Hello");
  ASSERT_GE(hello, 0);
  engine::TokenLogprob lp{hello, -0.5f, {{hello, -0.5f}, {0, -1.5f}}};
  auto chunks = b.on_event(0, delta(0, "Hello", {hello}, {lp}));
  ASSERT_EQ(chunks.size(), 1u);
  const json& content = chunks[0]["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 1u);
  EXPECT_EQ(content[0]["token"], "Hello");
  EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(content[0]["bytes"], json::array({72, 101, 108, 108, 111}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][0]["token"], "Hello");
  EXPECT_TRUE(content[0]["top_logprobs"][1].contains("bytes"));
  b.on_event(0, finished(0, FinishReason::Stop));
  b.on_event(0, done(1, 0, 1));
  const json r = b.response();
  EXPECT_EQ(r["choices"][0]["logprobs"]["content"].size(), 1u);
}

TEST(Response, CompletionsEchoWithPromptLogprobs) {
  // lm-eval's loglikelihood request: echo + logprobs=1 + max_tokens=1.
  ResponseContext c = context(Endpoint::Completions);
  c.echo = true;
  c.logprobs = 1;
  const int32_t a = tokenizer().find_token("The");
  const int32_t b_tok = tokenizer().find_token("Ġcat");
  const int32_t c_tok = tokenizer().find_token("Ġsat");
  ASSERT_GE(a, 0);
  ASSERT_GE(b_tok, 0);
  ASSERT_GE(c_tok, 0);
  c.echo_texts = {"The cat"};
  c.prompt_tokens = {{a, b_tok}};
  ResponseBuilder b(c, tokenizer());
  StreamEvent plp;
  plp.kind = StreamEvent::Kind::PromptLogprobs;
  plp.logprobs = {{b_tok, -3.0f, {{c_tok, -1.0f}}}};
  EXPECT_TRUE(b.on_event(0, plp).empty());
  b.on_event(0, delta(0, " sat", {c_tok}, {{c_tok, -0.25f, {{c_tok, -0.25f}}}}));
  b.on_event(0, finished(0, FinishReason::Length));
  b.on_event(0, done(2, 0, 1));
  const json r = b.response();
  EXPECT_EQ(r["object"], "text_completion");
  const json& ch = r["choices"][0];
  EXPECT_EQ(ch["text"], "The cat sat");
  EXPECT_EQ(ch["finish_reason"], "length");
  const json& lp = ch["logprobs"];
  EXPECT_EQ(lp["tokens"], json::array({"The", " cat", " sat"}));
  ASSERT_EQ(lp["token_logprobs"].size(), 3u);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());  // nothing predicts the first token
  EXPECT_FLOAT_EQ(lp["token_logprobs"][1].get<float>(), -3.0f);
  EXPECT_FLOAT_EQ(lp["token_logprobs"][2].get<float>(), -0.25f);
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_FLOAT_EQ(lp["top_logprobs"][1][" sat"].get<float>(), -1.0f);
  EXPECT_FLOAT_EQ(lp["top_logprobs"][2][" sat"].get<float>(), -0.25f);
  EXPECT_EQ(lp["text_offset"], json::array({0, 3, 7}));
}

TEST(Response, CompletionsEchoWithZeroMaxTokens) {
  ResponseContext c = context(Endpoint::Completions);
  c.echo = true;
  c.echo_texts = {"Just the prompt"};
  ResponseBuilder b(c, tokenizer());
  auto chunks = b.on_event(0, finished(0, FinishReason::Length));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0]["choices"][0]["text"], "Just the prompt");
  b.on_event(0, done(3, 0, 0));
  EXPECT_EQ(b.response()["choices"][0]["text"], "Just the prompt");
}

TEST(Response, CompletionsSeveralPromptsIndexChoices) {
  ResponseBuilder b(context(Endpoint::Completions, 2, 2), tokenizer());
  b.on_event(1, delta(0, "p1c0", {1}));
  b.on_event(0, delta(1, "p0c1", {1}));
  auto chunk = b.on_event(1, delta(1, "p1c1", {1}));
  EXPECT_EQ(chunk[0]["choices"][0]["index"], 3);
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 2; ++i) b.on_event(p, finished(i, FinishReason::Stop));
  b.on_event(0, done(4, 0, 2));
  EXPECT_FALSE(b.finished());
  b.on_event(1, done(6, 2, 3));
  ASSERT_TRUE(b.finished());
  const json r = b.response();
  ASSERT_EQ(r["choices"].size(), 4u);
  EXPECT_EQ(r["choices"][1]["text"], "p0c1");
  EXPECT_EQ(r["choices"][2]["text"], "p1c0");
  EXPECT_EQ(r["choices"][3]["text"], "p1c1");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(r["usage"]["completion_tokens"], 5);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
}

TEST(Response, FailuresAndServerCancellation) {
  ResponseBuilder b(context(Endpoint::Chat), tokenizer());
  EXPECT_TRUE(b.on_event(0, finished(0, FinishReason::Cancelled)).empty());
  ASSERT_TRUE(b.failure());
  EXPECT_EQ(b.failure()->status, 503);

  ResponseBuilder f(context(Endpoint::Completions), tokenizer());
  StreamEvent failed;
  failed.kind = StreamEvent::Kind::Failed;
  failed.message = "boom";
  f.on_event(0, failed);
  ASSERT_TRUE(f.failure());
  EXPECT_EQ(f.failure()->status, 500);
  EXPECT_NE(f.failure()->message.find("boom"), std::string::npos);
  EXPECT_TRUE(f.finished());
}

TEST(Response, OutOfRangeEventsAreIgnored) {
  ResponseBuilder b(context(Endpoint::Chat), tokenizer());
  EXPECT_TRUE(b.on_event(0, delta(5, "x", {1})).empty());
  EXPECT_TRUE(b.on_event(7, delta(0, "x", {1})).empty());
}

}  // namespace
}  // namespace tmill::server
