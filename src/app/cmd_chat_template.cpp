// tokenmill chat-template: render a model's chat template for an OpenAI-style request on stdin
// ({"messages": [...], "tools": [...], "chat_template_kwargs": {...}}) and print the prompt,
// byte for byte (no trailing newline added). A stable contract used by verification scripts.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "app/chat_format.h"
#include "app/commands.h"
#include "app/model_source.h"
#include "gguf/gguf.h"
#include "tokenizer/chat_template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tmill::app {

namespace {

struct ChatTemplateArgs {
  std::string model;
  std::string template_file;
  bool no_generation_prompt = false;
};

Status run_chat_template(const ChatTemplateArgs& a) {
  TM_ASSIGN(std::string path, resolve_model_path(a.model));
  TM_ASSIGN(gguf::File file, gguf::File::open(path));
  TM_ASSIGN(tok::Tokenizer tokenizer, tok::Tokenizer::from_gguf(file));
  TM_ASSIGN(tok::ChatTemplate tmpl, load_chat_template(file, tokenizer, a.template_file));

  std::ios::sync_with_stdio(false);
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  const auto request = nlohmann::ordered_json::parse(input, nullptr, false);
  if (request.is_discarded() || !request.is_object())
    return fail("stdin is not a JSON object like {\"messages\": [...], \"tools\": [...]}");
  if (!request.contains("messages")) return fail("the request has no \"messages\"");
  tok::ChatRequest req;
  req.messages = request["messages"];
  if (request.contains("tools")) req.tools = request["tools"];
  if (request.contains("chat_template_kwargs")) req.extra_vars = request["chat_template_kwargs"];
  req.add_generation_prompt = !a.no_generation_prompt;
  TM_ASSIGN(std::string prompt, tmpl.render(req));
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return Status::success();
}

}  // namespace

void register_chat_template(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ChatTemplateArgs>();
  auto* cmd =
      app.add_subcommand("chat-template",
                         "Render the model's chat template for an OpenAI-style request on stdin "
                         "({\"messages\": [...], \"tools\": [...]}) and print the prompt");
  cmd->add_option("-m,--model", a->model, "GGUF file or shipped model name")->required();
  cmd->add_option("--template", a->template_file,
                  "Jinja chat template file to use instead of the model's "
                  "tokenizer.chat_template");
  cmd->add_flag("--no-generation-prompt", a->no_generation_prompt,
                "render without add_generation_prompt (no opening of the assistant's turn)");
  cmd->callback([a, &exit_code] {
    Status s = run_chat_template(*a);
    if (!s.ok()) exit_code = report_error(s.error().message);
  });
}

}  // namespace tmill::app
