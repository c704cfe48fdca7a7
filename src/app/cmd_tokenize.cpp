// tokenmill tokenize / detokenize: the tokenizer as a command-line tool (stable contracts used by
// verification scripts).
//   tokenize --ids: all of stdin (bytes, trailing whitespace included) -> one JSON array of ids;
//   by default no BOS/EOS and no special-token parsing.
//   detokenize: a JSON array of ids on stdin -> the text.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/model_source.h"
#include "tokenizer/tokenizer.h"

namespace tmill::app {
namespace {

Expected<tok::Tokenizer> load_tokenizer(const std::string& name) {
  TM_ASSIGN(std::string path, resolve_model_path(name));
  TM_ASSIGN(gguf::File file, gguf::File::open(path));
  return tok::Tokenizer::from_gguf(file);
}

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace

void register_tokenize(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model;
    bool ids = false, add_special = false, parse_special = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "Tokenize stdin");
  cmd->add_option("-m,--model", a->model, "GGUF file or shipped model name")->required();
  cmd->add_flag("--ids", a->ids,
                "print one JSON array of ids (default: one 'id<TAB>piece' per line)");
  cmd->add_flag("--add-special", a->add_special, "add BOS/EOS as the model's metadata says");
  cmd->add_flag("--parse-special", a->parse_special, "parse special-token text as single tokens");
  cmd->callback([a, &exit_code] {
    auto tokenizer = load_tokenizer(a->model);
    if (!tokenizer.ok()) {
      exit_code = report_error(tokenizer.error().message);
      return;
    }
    const std::vector<int32_t> ids =
        tokenizer->encode(read_stdin(), a->add_special, a->parse_special);
    if (a->ids) {
      std::printf("%s\n", nlohmann::json(ids).dump().c_str());
      return;
    }
    for (int32_t id : ids) {
      const std::string piece = nlohmann::json(tokenizer->token_text(id))
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%d\t%s\n", id, piece.c_str());
    }
  });

  auto m = std::make_shared<std::string>();
  auto* de = app.add_subcommand("detokenize", "Turn a JSON array of token ids on stdin into text");
  de->add_option("-m,--model", *m, "GGUF file or shipped model name")->required();
  de->callback([m, &exit_code] {
    auto tokenizer = load_tokenizer(*m);
    if (!tokenizer.ok()) {
      exit_code = report_error(tokenizer.error().message);
      return;
    }
    std::vector<int32_t> ids;
    try {
      ids = nlohmann::json::parse(read_stdin()).get<std::vector<int32_t>>();
    } catch (const std::exception& e) {
      exit_code = report_error(std::string("stdin is not a JSON array of token ids: ") + e.what());
      return;
    }
    for (int32_t id : ids) {
      if (id < 0 || id >= tokenizer->n_vocab()) {
        exit_code = report_error("token id " + std::to_string(id) + " is outside the vocabulary");
        return;
      }
    }
    const std::string text = tokenizer->decode(ids);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace tmill::app
