#include "core/cache_size.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

namespace tmill {
namespace {

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// The largest level among /sys/devices/system/cpu/cpu0/cache/index*/ that holds data.
std::optional<size_t> sysfs_last_level_cache_bytes() {
  int best_level = 0;
  std::optional<size_t> best_bytes;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    const auto level = read_line(dir + "/level");
    const auto type = read_line(dir + "/type");
    const auto size = read_line(dir + "/size");
    if (!level || !type || !size) break;
    if (*type == "Instruction") continue;
    const int lv = std::atoi(level->c_str());
    const auto bytes = parse_cache_size(*size);
    if (lv > best_level && bytes && *bytes > 0) {
      best_level = lv;
      best_bytes = bytes;
    }
  }
  return best_bytes;
}

}  // namespace

std::optional<size_t> parse_cache_size(std::string_view text) {
  size_t value = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    value = value * 10 + static_cast<size_t>(text[i] - '0');
    if (value > (size_t{1} << 32))
      return std::nullopt;  // no cache is that many units; no overflow below
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back())))
    unit.remove_suffix(1);
  if (unit.empty()) return value;
  if (unit == "K" || unit == "k") return value << 10;
  if (unit == "M" || unit == "m") return value << 20;
  if (unit == "G" || unit == "g") return value << 30;
  return std::nullopt;
}

size_t last_level_cache_bytes() {
  if (const auto bytes = sysfs_last_level_cache_bytes()) return *bytes;
  for (const int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long bytes = sysconf(name);
    if (bytes > 0) return static_cast<size_t>(bytes);
  }
  return 0;
}

}  // namespace tmill
