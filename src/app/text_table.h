// Plain-text tables for command output: columns padded to their widest cell, numbers right-aligned.
#pragma once

#include <string>
#include <vector>

namespace tmill::app {

struct TextTable {
  std::vector<std::string> headers;
  std::vector<bool> right_aligned;  // per column; missing entries are left-aligned
  std::vector<std::vector<std::string>> rows;
};

// The table as lines of text, two spaces between columns, no trailing spaces.
std::string format_text_table(const TextTable& table);

}  // namespace tmill::app
