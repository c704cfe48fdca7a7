#include "app/chat_format.h"

namespace tmill::app {

Expected<std::string> format_chat_prompt(const gguf::File& file, const std::string& user_message,
                                         bool tokenizer_adds_bos) {
  const std::string* tmpl = file.get_string("tokenizer.chat_template");
  const std::string* arch = file.get_string("general.architecture");
  const std::string t = tmpl != nullptr ? *tmpl : "";
  if (t.find("<|im_start|>") != std::string::npos) {
    std::string out;
    // SmolLM2's template inserts its default system prompt when none is given.
    const std::string smol_default =
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
    if (t.find(smol_default) != std::string::npos)
      out += "<|im_start|>system\n" + smol_default + "<|im_end|>\n";
    out += "<|im_start|>user\n" + user_message + "<|im_end|>\n<|im_start|>assistant\n";
    return out;
  }
  if (t.find("<start_of_turn>") != std::string::npos ||
      (t.empty() && arch != nullptr && *arch == "gemma3")) {
    return std::string(tokenizer_adds_bos ? "" : "<bos>") + "<start_of_turn>user\n" + user_message +
           "<end_of_turn>\n<start_of_turn>model\n";
  }
  if (t.find("<|start_header_id|>") != std::string::npos) {
    return std::string(tokenizer_adds_bos ? "" : "<|begin_of_text|>") +
           "<|start_header_id|>user<|end_header_id|>\n\n" + user_message +
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
  }
  return fail(
      "this model's chat template is not one of the recognized families (ChatML, Gemma, "
      "Llama 3); run without --chat and pass the formatted prompt with -p");
}

}  // namespace tmill::app
