#include <cstdio>
#include <cstdlib>

#include "app/commands.h"

namespace tmill::app {

int report_error(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

std::string default_data_dir() {
  if (const char* env = std::getenv("TOKENMILL_DATA_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/tokenmill";
}

int run_main(int argc, char** argv) {
  CLI::App app{"tokenmill: LLM inference at the lowest cost per token"};
  app.require_subcommand(1);
  int exit_code = 0;
  register_serve(app, exit_code);
  register_run(app, exit_code);
  register_logits(app, exit_code);
  register_perplexity(app, exit_code);
  register_bench(app, exit_code);
  register_bench_serve(app, exit_code);
  register_inspect(app, exit_code);
  register_tokenize(app, exit_code);
  register_chat_template(app, exit_code);
  register_quantize(app, exit_code);
  register_keys(app, exit_code);
  register_usage(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}

}  // namespace tmill::app
