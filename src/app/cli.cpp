#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/commands.h"

namespace tmill::app {

int run_main(int argc, char** argv) {
  CLI::App app{"tokenmill: LLM inference at the lowest cost per token"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace tmill::app
