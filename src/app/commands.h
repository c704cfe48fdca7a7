// Subcommands of the tokenmill binary. Each registers itself on the CLI and sets the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace tmill::app {

int run_main(int argc, char** argv);

void register_inspect(CLI::App& app, int& exit_code);
void register_logits(CLI::App& app, int& exit_code);
void register_run(CLI::App& app, int& exit_code);
void register_perplexity(CLI::App& app, int& exit_code);
void register_tokenize(CLI::App& app, int& exit_code);
void register_chat_template(CLI::App& app, int& exit_code);
void register_bench(CLI::App& app, int& exit_code);
void register_quantize(CLI::App& app, int& exit_code);
void register_serve(CLI::App& app, int& exit_code);
void register_bench_serve(CLI::App& app, int& exit_code);
void register_keys(CLI::App& app, int& exit_code);
void register_usage(CLI::App& app, int& exit_code);

// Prints "error: <message>" to stderr and returns 1.
int report_error(const std::string& message);

// Where API keys and the usage ledger live: $TOKENMILL_DATA_DIR, else ~/.local/share/tokenmill.
std::string default_data_dir();

}  // namespace tmill::app
