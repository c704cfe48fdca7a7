// Monotonic wall time for throughput reports.
#pragma once

#include <chrono>

namespace tmill {

inline double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace tmill
