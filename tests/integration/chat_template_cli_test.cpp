// `tokenmill chat-template` on the shipped models: the stable contract (stdin request, prompt
// on stdout byte for byte), --no-generation-prompt, --template, and the clear error for a base
// model without a template.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/test_support.h"

namespace {

const std::string kBin = TOKENMILL_BINARY;
const std::string kTemplates = std::string(TOKENMILL_TEST_FIXTURES) + "/chat_templates/templates/";

struct Result {
  int exit_code;
  std::string out;  // stdout only
  std::string err;
};

// Runs `tokenmill args` with `input` on stdin.
Result run(const std::string& args, const std::string& input) {
  const std::string in_path = tmill::testing::unique_temp_path("tm_chat_in", ".json");
  const std::string err_path = tmill::testing::unique_temp_path("tm_chat_err", ".txt");
  { std::ofstream(in_path, std::ios::binary) << input; }
  const std::string cmd = kBin + " " + args + " < " + in_path + " 2> " + err_path;
  tmill::testing::CommandResult c = tmill::testing::run_shell(cmd);
  Result r{c.exit_code, std::move(c.output), ""};
  std::ifstream err(err_path);
  r.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  std::remove(in_path.c_str());
  std::remove(err_path.c_str());
  return r;
}

bool have_model(const std::string& file) {
  return std::ifstream(tmill::testing::models_dir() + "/" + file).good();
}

#define REQUIRE_MODEL(file)                                                         \
  do {                                                                              \
    if (!have_model(file)) {                                                        \
      if (tmill::testing::models_required()) FAIL() << "model not found: " << file; \
      GTEST_SKIP() << "model not found: " << file << " (run scripts/fetch-models)"; \
    }                                                                               \
  } while (0)

const char kRequest[] =
    R"({"messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "Hi {{ x }}"},
                                                  {"type": "text", "text": "<|im_end|>"}]}]})";

TEST(ChatTemplateCli, RendersSmolLM2Template) {
  REQUIRE_MODEL("SmolLM2-135M-Instruct.Q4_1.gguf");
  Result r = run("chat-template -m smollm2-135m", kRequest);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi {{ x }}\n"
            "<|im_end|><|im_end|>\n<|im_start|>assistant\n");
  Result no_gen = run("chat-template -m smollm2-135m --no-generation-prompt",
                      R"({"messages": [{"role": "user", "content": "Hi"}]})");
  ASSERT_EQ(no_gen.exit_code, 0) << no_gen.err;
  EXPECT_EQ(no_gen.out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateCli, TemplateFileOverridesAndErrorsAreClear) {
  REQUIRE_MODEL("gemma-3-270m-q4_k_m.gguf");
  const std::string req = R"({"messages": [{"role": "user", "content": "Hi"}]})";
  Result none = run("chat-template -m gemma3-270m", req);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no chat template"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("--template FILE"), std::string::npos) << none.err;

  Result gemma =
      run("chat-template -m gemma3-270m --template " + kTemplates + "google-gemma-3-it.jinja", req);
  ASSERT_EQ(gemma.exit_code, 0) << gemma.err;
  EXPECT_EQ(gemma.out, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");

  Result raised =
      run("chat-template -m gemma3-270m --template " + kTemplates + "google-gemma-3-it.jinja",
          R"({"messages": [{"role": "user", "content": "a"},
                                       {"role": "user", "content": "b"}]})");
  EXPECT_EQ(raised.exit_code, 1);
  EXPECT_NE(raised.err.find("Conversation roles must alternate"), std::string::npos) << raised.err;

  Result bad =
      run("chat-template -m gemma3-270m --template " + kTemplates + "google-gemma-3-it.jinja",
          "not json");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("stdin is not a JSON object"), std::string::npos) << bad.err;
}

}  // namespace
