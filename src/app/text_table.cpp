#include "app/text_table.h"

#include <algorithm>

namespace tmill::app {
namespace {

void append_row(std::string& out, const std::vector<std::string>& cells,
                const std::vector<size_t>& widths, const std::vector<bool>& right_aligned) {
  std::string line;
  for (size_t c = 0; c < widths.size(); ++c) {
    const std::string cell = c < cells.size() ? cells[c] : std::string();
    const std::string padding(widths[c] - std::min(widths[c], cell.size()), ' ');
    if (c > 0) line += "  ";
    const bool right = c < right_aligned.size() && right_aligned[c];
    line += right ? padding + cell : cell + padding;
  }
  line.erase(line.find_last_not_of(' ') + 1);
  out += line + "\n";
}

}  // namespace

std::string format_text_table(const TextTable& table) {
  std::vector<size_t> widths(table.headers.size(), 0);
  for (size_t c = 0; c < widths.size(); ++c) widths[c] = table.headers[c].size();
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < std::min(row.size(), widths.size()); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  append_row(out, table.headers, widths, table.right_aligned);
  for (const auto& row : table.rows) append_row(out, row, widths, table.right_aligned);
  return out;
}

}  // namespace tmill::app
