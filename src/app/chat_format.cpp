#include "app/chat_format.h"

#include <fstream>
#include <iterator>

namespace tmill::app {

Expected<tok::ChatTemplate> load_chat_template(const gguf::File& file,
                                               const tok::Tokenizer& tokenizer,
                                               const std::string& template_file) {
  if (template_file.empty()) return tok::ChatTemplate::from_gguf(file, tokenizer);
  std::ifstream in(template_file, std::ios::binary);
  if (!in) return fail("cannot read the template file '", template_file, "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = tok::ChatTemplate::parse(text, tok::ChatTemplate::bos_text(tokenizer),
                                    tok::ChatTemplate::eos_text(tokenizer));
  if (!t.ok()) return fail(template_file, ": ", t.error().message);
  return t;
}

Expected<std::string> format_chat_prompt(const gguf::File& file, const tok::Tokenizer& tokenizer,
                                         const std::string& user_message,
                                         const std::string& template_file) {
  TM_ASSIGN(tok::ChatTemplate tmpl, load_chat_template(file, tokenizer, template_file));
  tok::ChatRequest req;
  req.messages = nlohmann::ordered_json::array(
      {nlohmann::ordered_json{{"role", "user"}, {"content", user_message}}});
  req.add_generation_prompt = true;
  TM_ASSIGN(std::string prompt, tmpl.render(req));
  const std::string& bos = tmpl.bos_token();
  if (tokenizer.add_bos() && !bos.empty() && prompt.compare(0, bos.size(), bos) == 0)
    prompt.erase(0, bos.size());
  return prompt;
}

}  // namespace tmill::app
