// Request parsing and validation (server/openai_request.h, server/json_body.h): every field's
// accepted forms, and every error's status, type, param and code.
#include <gtest/gtest.h>

#include <string>

#include "server/json_body.h"
#include "server/openai_request.h"

namespace tmill::server {
namespace {

ValidationLimits limits() {
  ValidationLimits l;
  l.model_names = {"smol", "smollm2-135m"};
  l.n_vocab = 1000;
  return l;
}

ApiResult<OpenAIRequest> chat(const std::string& extra) {
  return parse_openai_request(
      Endpoint::Chat,
      R"({"model":"smol","messages":[{"role":"user","content":"hi"}])" + extra + "}", limits());
}

ApiResult<OpenAIRequest> completion(const std::string& fields) {
  return parse_openai_request(Endpoint::Completions, "{\"model\":\"smol\"" + fields + "}",
                              limits());
}

// The error must be a 400 invalid_request_error naming `param`.
void expect_invalid(const ApiResult<OpenAIRequest>& r, const std::string& param,
                    const std::string& code = "") {
  ASSERT_FALSE(r.ok()) << "accepted; expected an error about " << param;
  EXPECT_EQ(r.error().status, 400) << r.error().message;
  EXPECT_EQ(r.error().type, "invalid_request_error");
  EXPECT_EQ(r.error().param, param) << r.error().message;
  EXPECT_EQ(r.error().code, code);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(Request, ChatDefaultsFollowOpenAI) {
  auto r = chat("");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "smol");
  EXPECT_EQ(r->n, 1);
  EXPECT_FALSE(r->max_tokens.has_value());
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(r->seed_given);
  EXPECT_FALSE(r->stream);
  EXPECT_EQ(r->logprobs, -1);
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]["role"], "user");
  EXPECT_EQ(r->messages[0]["content"], "hi");
}

TEST(Request, AllSamplingFields) {
  auto r =
      chat(R"(,"max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"min_p":0.1,"n":2,"seed":-5,)"
           R"("presence_penalty":1.5,"frequency_penalty":-2,"logit_bias":{"12":-100,"7":2.5},)"
           R"("stop":["a","b"],"user":"u1","stream":true,"stream_options":{"include_usage":true},)"
           R"("logprobs":true,"top_logprobs":3)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->max_tokens, 7);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 3);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.1f);
  EXPECT_EQ(r->n, 2);
  EXPECT_TRUE(r->seed_given);
  EXPECT_EQ(r->sampling.seed, static_cast<uint64_t>(int64_t{-5}));
  EXPECT_FLOAT_EQ(r->sampling.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(r->sampling.frequency_penalty, -2.0f);
  ASSERT_EQ(r->sampling.logit_bias.size(), 2u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->user, "u1");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->logprobs, 3);
}

TEST(Request, NullMeansNotGiven) {
  auto r = chat(R"(,"max_tokens":null,"temperature":null,"stop":null,"seed":null,"n":null)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->max_tokens.has_value());
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
}

TEST(Request, UnknownFieldsAreIgnored) {
  auto r = chat(R"(,"parallel_tool_calls":false,"metadata":{"x":[1,2]},"whatever":1)");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(Request, MaxCompletionTokensWins) {
  auto r = chat(R"(,"max_tokens":5,"max_completion_tokens":9)");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->max_tokens, 9);
}

TEST(Request, WholeFloatIsAnInteger) {
  auto r = chat(R"(,"max_tokens":4.0)");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->max_tokens, 4);
  expect_invalid(chat(R"(,"max_tokens":4.5)"), "max_tokens");
}

TEST(Request, ContentParts) {
  auto r = parse_openai_request(Endpoint::Chat, R"({"model":"smol","messages":[
      {"role":"developer","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[]},
      {"role":"tool","content":"x","tool_call_id":"t1"}]})",
                                limits());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0]["role"], "system");
  EXPECT_EQ(r->messages[1]["content"], "a\nb");
  EXPECT_TRUE(r->messages[2]["content"].is_null());
  EXPECT_EQ(r->messages[3]["tool_call_id"], "t1");
}

TEST(Request, ModelMustBeServed) {
  auto r = chat(R"(,"model":"gpt-4")");  // later key wins in nlohmann: "gpt-4"
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 404);
  EXPECT_EQ(r.error().code, "model_not_found");
  EXPECT_EQ(r.error().param, "model");
  EXPECT_TRUE(parse_openai_request(Endpoint::Chat,
                                   R"({"model":"smollm2-135m","messages":[{"role":"user",)"
                                   R"("content":"x"}]})",
                                   limits())
                  .ok());
  expect_invalid(parse_openai_request(Endpoint::Chat, R"({"messages":[]})", limits()), "model");
  expect_invalid(parse_openai_request(Endpoint::Chat, R"({"model":5})", limits()), "model");
}

TEST(Request, MessageErrors) {
  auto msg = [](const std::string& messages) {
    return parse_openai_request(Endpoint::Chat, R"({"model":"smol","messages":)" + messages + "}",
                                limits());
  };
  expect_invalid(parse_openai_request(Endpoint::Chat, R"({"model":"smol"})", limits()), "messages");
  expect_invalid(msg("[]"), "messages");
  expect_invalid(msg(R"("hi")"), "messages");
  expect_invalid(msg("[1]"), "messages[0]");
  expect_invalid(msg(R"([{"content":"x"}])"), "messages[0].role");
  expect_invalid(msg(R"([{"role":"wizard","content":"x"}])"), "messages[0].role");
  expect_invalid(msg(R"([{"role":"user"}])"), "messages[0].content");
  expect_invalid(msg(R"([{"role":"user","content":5}])"), "messages[0].content");
  expect_invalid(msg(R"([{"role":"user","content":[{"type":"image_url","image_url":{}}]}])"),
                 "messages[0].content[0].type");
  expect_invalid(msg(R"([{"role":"user","content":[{"type":"text"}]}])"),
                 "messages[0].content[0].text");
}

TEST(Request, RangeAndTypeErrors) {
  expect_invalid(chat(R"(,"temperature":2.5)"), "temperature");
  expect_invalid(chat(R"(,"temperature":-0.1)"), "temperature");
  expect_invalid(chat(R"(,"temperature":"1")"), "temperature");
  expect_invalid(chat(R"(,"temperature":true)"), "temperature");
  expect_invalid(chat(R"(,"top_p":0)"), "top_p");
  expect_invalid(chat(R"(,"top_p":1.5)"), "top_p");
  expect_invalid(chat(R"(,"top_k":-2)"), "top_k");
  expect_invalid(chat(R"(,"min_p":2)"), "min_p");
  expect_invalid(chat(R"(,"n":0)"), "n");
  expect_invalid(chat(R"(,"n":1000)"), "n");
  expect_invalid(chat(R"(,"max_tokens":0)"), "max_tokens");  // chat needs at least one
  expect_invalid(chat(R"(,"max_tokens":-1)"), "max_tokens");
  expect_invalid(chat(R"(,"max_tokens":1e300)"), "max_tokens");
  expect_invalid(chat(R"(,"max_tokens":99999999999999999999999)"), "max_tokens");
  expect_invalid(chat(R"(,"max_completion_tokens":0)"), "max_completion_tokens");
  expect_invalid(chat(R"(,"presence_penalty":3)"), "presence_penalty");
  expect_invalid(chat(R"(,"frequency_penalty":-3)"), "frequency_penalty");
  expect_invalid(chat(R"(,"seed":"x")"), "seed");
  expect_invalid(chat(R"(,"seed":1.5)"), "seed");
  expect_invalid(chat(R"(,"stream":"yes")"), "stream");
  expect_invalid(chat(R"(,"stream_options":{"include_usage":true})"), "stream_options");
  expect_invalid(chat(R"(,"stream":true,"stream_options":5)"), "stream_options");
  expect_invalid(chat(R"(,"stream":true,"stream_options":{"include_usage":1})"), "include_usage");
  expect_invalid(chat(R"(,"logprobs":1)"), "logprobs");
  expect_invalid(chat(R"(,"top_logprobs":2)"), "top_logprobs");  // needs logprobs: true
  expect_invalid(chat(R"(,"logprobs":true,"top_logprobs":21)"), "top_logprobs");
  expect_invalid(chat(R"(,"user":5)"), "user");
}

TEST(Request, Stop) {
  auto r = chat(R"(,"stop":"END")");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stop, std::vector<std::string>{"END"});
  r = chat(R"(,"stop":["", "x"])");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stop, std::vector<std::string>{"x"});  // empty strings are dropped
  expect_invalid(chat(R"(,"stop":["a","b","c","d","e"])"), "stop");
  expect_invalid(chat(R"(,"stop":[1])"), "stop[0]");
  expect_invalid(chat(R"(,"stop":{})"), "stop");
}

TEST(Request, LogitBias) {
  expect_invalid(chat(R"(,"logit_bias":{"1000":1})"), "logit_bias");  // n_vocab is 1000
  expect_invalid(chat(R"(,"logit_bias":{"-1":1})"), "logit_bias");
  expect_invalid(chat(R"(,"logit_bias":{"abc":1})"), "logit_bias");
  expect_invalid(chat(R"(,"logit_bias":{" 1":1})"), "logit_bias");
  expect_invalid(chat(R"(,"logit_bias":{"1":101})"), "logit_bias.1");
  expect_invalid(chat(R"(,"logit_bias":{"1":"x"})"), "logit_bias.1");
  expect_invalid(chat(R"(,"logit_bias":[1])"), "logit_bias");
}

TEST(Request, CompletionPrompts) {
  auto r = completion(R"(,"prompt":"hello")");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_FALSE(r->prompts[0].is_tokens);
  EXPECT_EQ(r->prompts[0].text, "hello");

  r = completion(R"(,"prompt":["a","b","c"])");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prompts.size(), 3u);

  r = completion(R"(,"prompt":[1,2,3])");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_TRUE(r->prompts[0].is_tokens);
  EXPECT_EQ(r->prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));

  r = completion(R"(,"prompt":[[1],[2,3]])");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 2u);
  EXPECT_EQ(r->prompts[1].tokens, (std::vector<int32_t>{2, 3}));

  expect_invalid(completion(""), "prompt");
  expect_invalid(completion(R"(,"prompt":[])"), "prompt");
  expect_invalid(completion(R"(,"prompt":5)"), "prompt");
  expect_invalid(completion(R"(,"prompt":[1000])"), "prompt[0]");  // n_vocab is 1000
  expect_invalid(completion(R"(,"prompt":[-1])"), "prompt[0]");
  expect_invalid(completion(R"(,"prompt":[1,"a"])"), "prompt[1]");
  expect_invalid(completion(R"(,"prompt":["a",1])"), "prompt[1]");
  expect_invalid(completion(R"(,"prompt":[[1],[]])"), "prompt[1]");
  expect_invalid(completion(R"(,"prompt":[[1],2])"), "prompt[1]");
}

TEST(Request, CompletionLogprobsAndEcho) {
  // What lm-evaluation-harness's local-completions sends for loglikelihood.
  auto r = completion(R"(,"prompt":[1,2,3],"max_tokens":0,"echo":true,"logprobs":1,)"
                      R"("temperature":0,"seed":1234)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->max_tokens, 0);
  EXPECT_TRUE(r->echo);
  EXPECT_EQ(r->logprobs, 1);
  expect_invalid(completion(R"(,"prompt":"a","logprobs":6)"), "logprobs");
  expect_invalid(completion(R"(,"prompt":"a","logprobs":true)"), "logprobs");
  expect_invalid(completion(R"(,"prompt":"a","echo":1)"), "echo");
}

TEST(Request, BodyMustBeAnObject) {
  auto r = parse_openai_request(Endpoint::Chat, "[1,2]", limits());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 400);
}

TEST(JsonBody, MalformedAndInvalidUtf8) {
  for (const std::string bad :
       {"", "{", "{\"a\":}", "nul", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1e400}",
        "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":1}x"}) {
    auto r = parse_json_body(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().type, "invalid_request_error");
    // The message may quote raw input; it must still serialize.
    EXPECT_NO_THROW(dump_json(error_json(r.error())));
  }
}

TEST(JsonBody, DepthLimit) {
  EXPECT_EQ(json_nesting_depth(R"({"a":[{"b":"[[[["}]})", 100), 3);  // brackets in strings
  EXPECT_EQ(json_nesting_depth(R"(["\"[["])", 100), 1);              // escaped quote
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(parse_json_body(ok).ok());
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_FALSE(parse_json_body(deep).ok());
  // A million levels: one linear scan, no recursion, no crash.
  const std::string huge = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  auto r = parse_json_body(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 400);
  const std::string huge_obj = std::string(1'000'000, '{');
  EXPECT_FALSE(parse_json_body(huge_obj).ok());
}

}  // namespace
}  // namespace tmill::server
