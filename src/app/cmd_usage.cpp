// tokenmill usage: what was served, per model and tenant, from the usage ledger
// (DATA_DIR/ledger.db): requests, tokens, hardware cost, list-price charge, energy, and the cost
// per million tokens and energy per token. Reads the file directly (no server needed).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands.h"
#include "app/text_table.h"
#include "platform/ledger.h"
#include "platform/usage_query.h"
#include "platform/usage_request.h"

namespace tmill::app {
namespace {

struct UsageArgs {
  std::string data_dir;
  std::string since = "all";
  bool json = false;
};

int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// "all" -> 0; "30m", "24h", "7d" (also "90s") -> now minus that much.
Expected<int64_t> parse_since(const std::string& since, int64_t now) {
  if (since == "all") return int64_t{0};
  const auto bad = [&] {
    return fail("--since '", since, "': expected all or a count with s, m, h or d (e.g. 24h, 7d)");
  };
  if (since.size() < 2) return bad();
  int64_t count = 0;
  for (size_t i = 0; i + 1 < since.size(); ++i) {
    const char c = since[i];
    if (c < '0' || c > '9' || count > 1'000'000'000) return bad();
    count = count * 10 + (c - '0');
  }
  int64_t unit = 0;
  switch (since.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return bad();
  }
  return now - count * unit;
}

int64_t total_tokens(const platform::UsageRow& row) {
  return row.prompt_tokens + row.completion_tokens;
}

double usd_per_million_tokens(const platform::UsageRow& row) {
  return total_tokens(row) > 0 ? row.cost_usd / static_cast<double>(total_tokens(row)) * 1e6 : 0;
}

double joules_per_token(const platform::UsageRow& row) {
  return total_tokens(row) > 0 ? row.energy_j / static_cast<double>(total_tokens(row)) : 0;
}

void add_to(platform::UsageRow& total, const platform::UsageRow& row) {
  total.requests += row.requests;
  total.prompt_tokens += row.prompt_tokens;
  total.cached_prompt_tokens += row.cached_prompt_tokens;
  total.completion_tokens += row.completion_tokens;
  total.cost_usd += row.cost_usd;
  total.charge_usd += row.charge_usd;
  total.energy_j += row.energy_j;
}

nlohmann::json row_json(const platform::UsageRow& row) {
  nlohmann::json j = platform::usage_row_json(row);
  j["usd_per_million_tokens"] = usd_per_million_tokens(row);
  j["joules_per_token"] = joules_per_token(row);
  return j;
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::vector<std::string> table_cells(const std::string& model, const std::string& tenant,
                                     const platform::UsageRow& row) {
  const bool has_tokens = total_tokens(row) > 0;
  return {model,
          tenant,
          std::to_string(row.requests),
          std::to_string(row.prompt_tokens),
          std::to_string(row.cached_prompt_tokens),
          std::to_string(row.completion_tokens),
          format("%.6f", row.cost_usd),
          format("%.6f", row.charge_usd),
          format("%.1f", row.energy_j),
          has_tokens ? format("%.4f", usd_per_million_tokens(row)) : "-",
          has_tokens ? format("%.4f", joules_per_token(row)) : "-"};
}

void print_table(const std::vector<platform::UsageRow>& rows, const platform::UsageRow& total) {
  TextTable table;
  table.headers = {"MODEL",    "TENANT",     "REQUESTS", "PROMPT TOK", "CACHED", "COMPLETION TOK",
                   "COST USD", "CHARGE USD", "ENERGY J", "$/1M TOK",   "J/TOK"};
  table.right_aligned = {false, false, true, true, true, true, true, true, true, true, true};
  for (const auto& row : rows) {
    table.rows.push_back(table_cells(row.model.value_or(""), row.tenant.value_or(""), row));
  }
  if (rows.size() > 1) table.rows.push_back(table_cells("total", "", total));
  std::printf("%s", format_text_table(table).c_str());
}

int run_usage(const UsageArgs& args) {
  const int64_t now = unix_now();
  auto since = parse_since(args.since, now);
  if (!since.ok()) return report_error(since.error().message);
  const std::string period = args.since == "all" ? "" : " in the last " + args.since;

  std::vector<platform::UsageRow> rows;
  const std::filesystem::path file = platform::ledger_file(args.data_dir);
  std::error_code ec;
  const bool ledger_exists = std::filesystem::exists(file, ec);
  if (ledger_exists) {
    auto db = platform::open_ledger_database(args.data_dir);
    if (!db.ok()) return report_error(db.error().message);
    platform::UsageQuery query;
    query.from_unix = *since;
    query.group_by = {platform::GroupBy::Model, platform::GroupBy::Tenant};
    auto result = platform::query_usage(**db, query);
    if (!result.ok()) return report_error(result.error().message);
    rows = std::move(*result);
  }
  platform::UsageRow total;
  for (const auto& row : rows) add_to(total, row);

  if (args.json) {
    nlohmann::json out = {{"from_unix", *since}, {"to_unix", now}, {"ledger", file.string()}};
    out["rows"] = nlohmann::json::array();
    for (const auto& row : rows) out["rows"].push_back(row_json(row));
    out["total"] = row_json(total);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (!ledger_exists) {
    std::printf("no usage recorded: %s does not exist (tokenmill serve writes it)\n", file.c_str());
    return 0;
  }
  if (rows.empty()) {
    std::printf("no requests recorded%s in %s\n", period.c_str(), file.c_str());
    return 0;
  }
  std::printf("usage%s from %s\n", period.empty() ? " (all time)" : period.c_str(), file.c_str());
  print_table(rows, total);
  return 0;
}

}  // namespace

void register_usage(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "usage",
      "Usage per model and tenant from the ledger: requests, tokens, cost, charge, energy, "
      "$/1M tokens and J/token (tokens = prompt + completion)");
  auto args = std::make_shared<UsageArgs>();
  args->data_dir = default_data_dir();
  cmd->add_option("--data-dir", args->data_dir,
                  "directory of the usage ledger ledger.db ($TOKENMILL_DATA_DIR, else "
                  "~/.local/share/tokenmill)")
      ->capture_default_str();
  cmd->add_option("--since", args->since,
                  "only requests finished in the last 30m, 24h, 7d, ... (s, m, h, d), or all")
      ->capture_default_str();
  cmd->add_flag("--json", args->json,
                "print one JSON object (rows and total) instead of the table");
  cmd->callback([args, &exit_code] { exit_code = run_usage(*args); });
}

}  // namespace tmill::app
