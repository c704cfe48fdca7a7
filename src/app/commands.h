#pragma once

namespace tmill::app {
int run_main(int argc, char** argv);
}
