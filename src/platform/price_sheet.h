// The price sheet: what the deployment costs to run (hardware) and what tenants are charged per
// model (list prices). Loaded from the JSON file given to `tokenmill serve --price-sheet FILE`;
// the format, and how cost, energy and charges are attributed, is in docs/price-sheet.md.
//
// Parsing is strict: a misspelt key is an error rather than a price that silently reads as 0,
// and every message names the JSON path of the offending value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/expected.h"

namespace tmill::platform {

// What running the deployment costs, for attributing cost and energy to requests.
struct HardwarePrice {
  double usd_per_hour = 0;  // the machine's price (rent, or amortised purchase + operations)
  double idle_watts = 0;    // power drawn with the process idle
  double busy_watts = 0;    // power drawn with the process using all its CPU time
};

// What tenants are charged for one model, in USD per million tokens.
struct ListPrice {
  double input_usd_per_mtok = 0;  // prompt tokens computed by this request
  // Prompt tokens served from the prefix cache. The parser sets it to the input price when the
  // file leaves it out, so a sheet without it charges every prompt token alike.
  double cached_input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;  // completion tokens
};

struct PriceSheet {
  HardwarePrice hardware;
  std::map<std::string, ListPrice> models;  // by model id or alias, exact match

  // List price of a model (nullopt when the sheet has none: charges are then 0).
  std::optional<ListPrice> list_price(std::string_view model) const;

  // What a request is charged: uncached prompt tokens at the input price, cached ones at the
  // cached-input price, completion tokens at the output price. `cached_prompt_tokens` is clamped
  // to [0, prompt_tokens] and negative counts are taken as 0, so a caller's off-by-one can never
  // produce a negative charge.
  double charge_usd(std::string_view model, int64_t prompt_tokens, int64_t cached_prompt_tokens,
                    int64_t completion_tokens) const;
};

// Reads and validates a price sheet; messages start with "price sheet FILE: ".
Expected<PriceSheet> load_price_sheet(const std::filesystem::path& file);

// The same for text already in memory; `source_name` names it in messages.
Expected<PriceSheet> parse_price_sheet(std::string_view json_text, std::string_view source_name);

}  // namespace tmill::platform
