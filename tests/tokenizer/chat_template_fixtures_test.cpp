// Real models' chat templates rendered by our Jinja subset against Jinja2's output
// (tests/fixtures/chat_templates, made by tools/gen-chat-template-fixtures.py with Debian's
// python3-jinja2 configured as Hugging Face transformers renders chat templates).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/chat_template/chat_template.h"

namespace {

using nlohmann::ordered_json;
// TOKENMILL_CHAT_FIXTURES points the test at another fixture set made by the same generator.
const std::string kDir = std::getenv("TOKENMILL_CHAT_FIXTURES") != nullptr
                             ? std::string(std::getenv("TOKENMILL_CHAT_FIXTURES")) + "/"
                             : std::string(TOKENMILL_TEST_FIXTURES) + "/chat_templates/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ChatTemplateFixtures, ByteIdenticalToJinja2) {
  const ordered_json manifest = ordered_json::parse(read_file(kDir + "manifest.json"));
  const ordered_json conversations = ordered_json::parse(read_file(kDir + "conversations.json"));
  const int64_t fixed_time = manifest["fixed_unix_time"].get<int64_t>();
  std::map<std::string, tmill::tok::ChatTemplate> templates;
  int rendered = 0, errors = 0;
  for (const ordered_json& c : manifest["cases"]) {
    const std::string tfile = c["template"].get<std::string>();
    const std::string cname = c["conversation"].get<std::string>();
    SCOPED_TRACE(tfile + " / " + cname +
                 (c["add_generation_prompt"].get<bool>() ? " / generation prompt" : ""));
    auto it = templates.find(tfile);
    if (it == templates.end()) {
      auto t = tmill::tok::ChatTemplate::parse(read_file(kDir + "templates/" + tfile));
      ASSERT_TRUE(t.ok()) << t.error().message;
      it = templates.emplace(tfile, std::move(t).value()).first;
    }
    tmill::tok::ChatTemplate& tmpl = it->second;
    tmpl.set_bos_token(c["bos_token"].get<std::string>());
    tmpl.set_eos_token(c["eos_token"].get<std::string>());
    tmpl.set_fixed_time(fixed_time);
    const ordered_json& conv = conversations[cname];
    tmill::tok::ChatRequest req;
    req.messages = conv["messages"];
    if (conv.contains("tools")) req.tools = conv["tools"];
    req.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    auto out = tmpl.render(req);
    if (c.contains("error")) {
      EXPECT_FALSE(out.ok()) << "Jinja2 failed with: " << c["error"].get<std::string>()
                             << "\nwe rendered:\n"
                             << *out;
      const std::string expected = c["error"].get<std::string>();
      const std::string prefix = "TemplateError: ";
      if (!out.ok() && expected.rfind(prefix, 0) == 0) {  // raise_exception: same message
        EXPECT_NE(out.error().message.find(expected.substr(prefix.size())), std::string::npos)
            << out.error().message;
      }
      ++errors;
      continue;
    }
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(*out, read_file(kDir + c["expected"].get<std::string>()));
    ++rendered;
  }
  EXPECT_GE(rendered, 100);
  std::printf("chat template fixtures: %d rendered byte-identical, %d expected errors\n", rendered,
              errors);
}

}  // namespace
