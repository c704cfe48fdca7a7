// tokenmill: the command-line entry point. Each subcommand lives in its own file.
#include <cstdio>
#include <string>

#include "app/commands.h"

int main(int argc, char** argv) { return tmill::app::run_main(argc, argv); }
