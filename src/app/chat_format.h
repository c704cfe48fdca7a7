// Chat prompt formatting for `tokenmill run --chat`.
//
// Interim: recognizes the well-known template families (ChatML, Gemma, Llama 3) from the model's
// tokenizer.chat_template / architecture and formats one user turn. The general Jinja renderer
// (tokenizer layer) replaces this; an unrecognized template is an error, never a guess.
#pragma once

#include <string>

#include "core/expected.h"
#include "gguf/gguf.h"

namespace tmill::app {

// Text to tokenize (with special-token parsing) for a single user message, ending where the
// assistant's reply begins. `add_bos` says whether the tokenizer already adds BOS.
Expected<std::string> format_chat_prompt(const gguf::File& file, const std::string& user_message,
                                         bool tokenizer_adds_bos);

}  // namespace tmill::app
