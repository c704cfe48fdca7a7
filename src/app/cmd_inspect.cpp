// tokenmill inspect FILE: metadata and tensor table of a GGUF file.
#include <cstdio>

#include "app/commands.h"
#include "app/model_source.h"
#include "gguf/gguf.h"

namespace tmill::app {

void register_inspect(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "GGUF file or shipped model name")->required();
  cmd->callback([path, &exit_code] {
    auto resolved = resolve_model_path(*path);
    if (!resolved.ok()) {
      exit_code = report_error(resolved.error().message);
      return;
    }
    auto file = gguf::File::open(*resolved);
    if (!file.ok()) {
      exit_code = report_error(file.error().message);
      return;
    }
    std::fputs(gguf::describe(*file).c_str(), stdout);
  });
}

}  // namespace tmill::app
