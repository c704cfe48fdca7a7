#include "platform/price_sheet.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/json_body.h"

namespace tmill::platform {
namespace {

using nlohmann::json;

// A price sheet is three levels deep; anything much deeper is not one, and refusing it before
// parsing keeps the recursive parser away from pathological input.
constexpr int kMaxSheetDepth = 16;
// Far beyond any real sheet (a few hundred bytes per model); stops a wrong path such as
// /dev/zero from being read forever.
constexpr size_t kMaxSheetBytes = 16 << 20;

constexpr double kTokensPerMillion = 1e6;

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// Model ids may contain dots ("qwen2.5-0.5b"), so they are quoted in paths: models["id"].field.
std::string model_path(const std::string& model_id) {
  return "models[" + json(model_id).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string json_type_name(const json& value) {
  if (value.is_number()) return "a number";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  return "null";
}

// Walks one sheet, collecting every problem instead of stopping at the first, so an operator
// fixes a file in one round.
class SheetReader {
 public:
  std::vector<std::string> problems;

  // Every key of `object` must be one of `known`: a typo must not quietly leave a price at 0.
  void reject_unknown_keys(const json& object, std::initializer_list<std::string_view> known,
                           const std::string& path) {
    for (const auto& [key, value] : object.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string known_list;
      for (std::string_view name : known) {
        if (!known_list.empty()) known_list += ", ";
        known_list += name;
      }
      problems.push_back("unknown key " + join_path(path, key) + " (expected one of " + known_list +
                         ")");
    }
  }

  // An optional field: absent or null gives nullopt; otherwise a finite number >= 0.
  std::optional<double> amount(const json& object, std::string_view key,
                               const std::string& parent_path) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::nullopt;
    const std::string path = join_path(parent_path, key);
    if (!it->is_number()) {
      problems.push_back(path + " must be a number, not " + json_type_name(*it));
      return std::nullopt;
    }
    const double value = it->get<double>();
    if (!std::isfinite(value)) {
      problems.push_back(path + " must be a finite number");
      return std::nullopt;
    }
    if (value < 0) {
      problems.push_back(path + " must be >= 0 (got " + format_number(value) + ")");
      return std::nullopt;
    }
    return value;
  }

  // An optional object field: absent or null gives nullptr.
  const json* object(const json& parent, std::string_view key, const std::string& parent_path) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    if (!it->is_object()) {
      problems.push_back(join_path(parent_path, key) + " must be an object, not " +
                         json_type_name(*it));
      return nullptr;
    }
    return &*it;
  }

  HardwarePrice hardware(const json& node) {
    const std::string path = "hardware";
    reject_unknown_keys(node, {"usd_per_hour", "idle_watts", "busy_watts"}, path);
    HardwarePrice price;
    price.usd_per_hour = amount(node, "usd_per_hour", path).value_or(0);
    const std::optional<double> idle = amount(node, "idle_watts", path);
    const std::optional<double> busy = amount(node, "busy_watts", path);
    price.idle_watts = idle.value_or(0);
    // Without a busy figure the draw is taken as constant: busy = idle.
    price.busy_watts = busy.value_or(price.idle_watts);
    if (idle && busy && *busy < *idle) {
      problems.push_back("hardware.busy_watts must be >= idle_watts (got " + format_number(*busy) +
                         " < " + format_number(*idle) + ")");
    }
    return price;
  }

  std::optional<ListPrice> list_price(const std::string& model_id, const json& node) {
    const std::string path = model_path(model_id);
    if (!node.is_object()) {
      problems.push_back(path + " must be an object, not " + json_type_name(node));
      return std::nullopt;
    }
    reject_unknown_keys(
        node, {"input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok"}, path);
    ListPrice price;
    price.input_usd_per_mtok = amount(node, "input_usd_per_mtok", path).value_or(0);
    price.cached_input_usd_per_mtok =
        amount(node, "cached_input_usd_per_mtok", path).value_or(price.input_usd_per_mtok);
    price.output_usd_per_mtok = amount(node, "output_usd_per_mtok", path).value_or(0);
    return price;
  }

  PriceSheet sheet(const json& root) {
    PriceSheet sheet;
    reject_unknown_keys(root, {"hardware", "models"}, "");
    if (const json* node = object(root, "hardware", "")) sheet.hardware = hardware(*node);
    if (const json* node = object(root, "models", "")) {
      for (const auto& [model_id, entry] : node->items()) {
        if (model_id.empty()) {
          problems.push_back("models: a model id must not be empty");
          continue;
        }
        if (std::optional<ListPrice> price = list_price(model_id, entry)) {
          sheet.models.emplace(model_id, *price);
        }
      }
    }
    return sheet;
  }
};

Error sheet_error(std::string_view source_name, std::string_view problem) {
  return fail("price sheet ", source_name, ": ", problem);
}

}  // namespace

std::optional<ListPrice> PriceSheet::list_price(std::string_view model) const {
  auto it = models.find(std::string(model));
  if (it == models.end()) return std::nullopt;
  return it->second;
}

double PriceSheet::charge_usd(std::string_view model, int64_t prompt_tokens,
                              int64_t cached_prompt_tokens, int64_t completion_tokens) const {
  const std::optional<ListPrice> price = list_price(model);
  if (!price) return 0;
  const int64_t prompt = std::max<int64_t>(prompt_tokens, 0);
  const int64_t cached = std::clamp<int64_t>(cached_prompt_tokens, 0, prompt);
  const int64_t completion = std::max<int64_t>(completion_tokens, 0);
  const double usd_per_million = static_cast<double>(prompt - cached) * price->input_usd_per_mtok +
                                 static_cast<double>(cached) * price->cached_input_usd_per_mtok +
                                 static_cast<double>(completion) * price->output_usd_per_mtok;
  return usd_per_million / kTokensPerMillion;
}

Expected<PriceSheet> parse_price_sheet(std::string_view json_text, std::string_view source_name) {
  if (server::json_nesting_depth(json_text, kMaxSheetDepth) > kMaxSheetDepth) {
    return sheet_error(source_name, "JSON nested too deeply to be a price sheet");
  }
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& error) {
    // A syntax error (parse_error) or a number too large for a double (out_of_range). what()
    // starts with a tag such as "[json.exception.parse_error.101] "; the rest says where and why.
    std::string_view what = error.what();
    if (const size_t tag_end = what.find("] "); tag_end != std::string_view::npos) {
      what.remove_prefix(tag_end + 2);
    }
    return sheet_error(source_name, std::string("invalid JSON: ") + std::string(what));
  }
  if (!root.is_object()) {
    return sheet_error(source_name, "must be a JSON object, not " + json_type_name(root));
  }
  SheetReader reader;
  PriceSheet sheet = reader.sheet(root);
  if (!reader.problems.empty()) {
    std::string all;
    for (const std::string& problem : reader.problems) {
      if (!all.empty()) all += "; ";
      all += problem;
    }
    return sheet_error(source_name, all);
  }
  return sheet;
}

Expected<PriceSheet> load_price_sheet(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code ignored;
  if (std::filesystem::is_directory(file, ignored)) {
    return sheet_error(name, "is a directory, not a JSON file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return sheet_error(name, std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxSheetBytes) {
      return sheet_error(name, "larger than 16 MiB, which no price sheet is");
    }
  }
  if (in.bad()) return sheet_error(name, std::string("cannot read: ") + std::strerror(errno));
  return parse_price_sheet(text, name);
}

}  // namespace tmill::platform
