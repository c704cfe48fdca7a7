// Chat prompts for the tokenmill command: the model's chat template (or a template file given
// on the command line) rendered by the tokenizer layer's Jinja renderer.
#pragma once

#include <string>

#include "core/expected.h"
#include "gguf/gguf.h"
#include "tokenizer/chat_template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tmill::app {

// The GGUF's tokenizer.chat_template, or the template in `template_file` when it is not empty.
// A model without a template is an error that suggests --template/--chat-template.
Expected<tok::ChatTemplate> load_chat_template(const gguf::File& file,
                                               const tok::Tokenizer& tokenizer,
                                               const std::string& template_file);

// Text to tokenize (with special-token parsing, add_special=true) for one user message, ending
// where the assistant's reply begins. As llama.cpp does, a leading BOS text is removed when the
// tokenizer adds BOS itself, so the prompt never starts with two BOS tokens.
Expected<std::string> format_chat_prompt(const gguf::File& file, const tok::Tokenizer& tokenizer,
                                         const std::string& user_message,
                                         const std::string& template_file);

}  // namespace tmill::app
