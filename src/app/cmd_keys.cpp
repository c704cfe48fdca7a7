// tokenmill keys create|list|revoke: API keys, the tenants they belong to and their limits
// (DATA_DIR/keys.db). `keys create` prints the secret alone on the last line of stdout (a stable
// contract for scripts: key=$(tokenmill keys create ... | tail -n1)); it is shown only then.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands.h"
#include "app/text_table.h"
#include "platform/key_store.h"

namespace tmill::app {
namespace {

struct CreateArgs {
  std::string tenant;
  bool admin = false;
  platform::KeyLimits limits;
};

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string format_count_limit(int64_t value) {
  return value == 0 ? "unlimited" : std::to_string(value);
}

std::string format_budget(const platform::KeyLimits& limits) {
  if (limits.budget_usd == 0) return "none";
  const std::string per =
      limits.budget_period == "total" ? " in total" : "/" + limits.budget_period;
  return "$" + format_number(limits.budget_usd) + per;
}

std::string format_models(const platform::KeyLimits& limits) {
  if (limits.models.empty()) return "all";
  std::string out;
  for (const std::string& model : limits.models) out += (out.empty() ? "" : ",") + model;
  return out;
}

// "2025-01-31 12:00:00" in UTC.
std::string format_utc(int64_t unix_seconds) {
  const auto time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  if (gmtime_r(&time, &utc) == nullptr) return std::to_string(unix_seconds);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

nlohmann::json key_json(const platform::KeyRecord& key) {
  nlohmann::json limits = {{"rpm", key.limits.rpm},
                           {"tpm", key.limits.tpm},
                           {"budget_usd", key.limits.budget_usd},
                           {"budget_period", key.limits.budget_period},
                           {"weight", key.limits.weight},
                           {"models", key.limits.models}};
  return {{"key_id", key.key_id},
          {"tenant", key.tenant},
          {"admin", key.admin},
          {"limits", std::move(limits)},
          {"created_unix", key.created_unix},
          {"revoked_unix",
           key.revoked_unix ? nlohmann::json(*key.revoked_unix) : nlohmann::json(nullptr)}};
}

Expected<std::unique_ptr<platform::KeyStore>> open_store(const std::string& data_dir) {
  return platform::KeyStore::open(data_dir);
}

int run_create(const std::string& data_dir, const CreateArgs& args) {
  auto store = open_store(data_dir);
  if (!store.ok()) return report_error(store.error().message);
  auto created = (*store)->create(args.tenant, args.admin, args.limits);
  if (!created.ok()) return report_error(created.error().message);
  const auto& [key, secret] = *created;
  std::printf("created key %s for tenant %s%s\n", key.key_id.c_str(), key.tenant.c_str(),
              key.admin ? " (admin)" : "");
  std::printf("limits: rpm %s, tpm %s, budget %s, weight %s, models %s\n",
              format_count_limit(key.limits.rpm).c_str(),
              format_count_limit(key.limits.tpm).c_str(), format_budget(key.limits).c_str(),
              format_number(key.limits.weight).c_str(), format_models(key.limits).c_str());
  std::printf("secret (shown only now; only its hash is stored):\n");
  std::printf("%s\n", secret.c_str());
  return 0;
}

int run_list(const std::string& data_dir, bool json) {
  // Listing an empty place should not create a key store there.
  std::error_code ec;
  if (!std::filesystem::exists(platform::key_store_file(data_dir), ec)) {
    if (json) {
      std::printf("[]\n");
    } else {
      std::printf("no keys in %s (create one with: tokenmill keys create --tenant NAME)\n",
                  data_dir.c_str());
    }
    return 0;
  }
  auto store = open_store(data_dir);
  if (!store.ok()) return report_error(store.error().message);
  auto keys = (*store)->list(true);
  if (!keys.ok()) return report_error(keys.error().message);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& key : *keys) out.push_back(key_json(key));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (keys->empty()) {
    std::printf("no keys in %s (create one with: tokenmill keys create --tenant NAME)\n",
                data_dir.c_str());
    return 0;
  }
  TextTable table;
  table.headers = {"KEY ID", "TENANT", "ADMIN",  "RPM",     "TPM",
                   "BUDGET", "WEIGHT", "MODELS", "CREATED", "REVOKED"};
  table.right_aligned = {false, false, false, true, true, false, true, false, false, false};
  for (const auto& key : *keys) {
    table.rows.push_back({key.key_id, key.tenant, key.admin ? "yes" : "no",
                          format_count_limit(key.limits.rpm), format_count_limit(key.limits.tpm),
                          format_budget(key.limits), format_number(key.limits.weight),
                          format_models(key.limits), format_utc(key.created_unix),
                          key.revoked_unix ? format_utc(*key.revoked_unix) : "-"});
  }
  std::printf("%s", format_text_table(table).c_str());
  std::printf("(times in UTC)\n");
  return 0;
}

int run_revoke(const std::string& data_dir, const std::string& key_id) {
  std::error_code ec;
  if (!std::filesystem::exists(platform::key_store_file(data_dir), ec)) {
    return report_error("no key with id '" + key_id + "': there are no keys in " + data_dir);
  }
  auto store = open_store(data_dir);
  if (!store.ok()) return report_error(store.error().message);
  Status revoked = (*store)->revoke(key_id);
  if (!revoked.ok()) return report_error(revoked.error().message);
  std::printf("revoked %s\n", key_id.c_str());
  return 0;
}

CLI::Option* add_data_dir_option(CLI::App* cmd, std::string& data_dir) {
  data_dir = default_data_dir();
  return cmd
      ->add_option("--data-dir", data_dir,
                   "directory of keys.db, key-pepper and the usage ledger "
                   "($TOKENMILL_DATA_DIR, else ~/.local/share/tokenmill)")
      ->capture_default_str();
}

void register_create(CLI::App* keys, int& exit_code) {
  auto* cmd = keys->add_subcommand(
      "create",
      "Create an API key; prints its id and limits, then the secret alone on the last line "
      "(shown only this once)");
  auto data_dir = std::make_shared<std::string>();
  auto args = std::make_shared<CreateArgs>();
  add_data_dir_option(cmd, *data_dir);
  cmd->add_option("--tenant", args->tenant, "tenant the key belongs to (1-64 of A-Z a-z 0-9 . _ -)")
      ->required();
  cmd->add_flag("--admin", args->admin,
                "admin key: may read every tenant's usage, not only its own");
  cmd->add_option("--rpm", args->limits.rpm, "requests per minute (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--tpm", args->limits.tpm, "prompt + completion tokens per minute (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--budget-usd", args->limits.budget_usd,
                  "spend limit at list price per budget period (0: none)")
      ->capture_default_str();
  cmd->add_option("--budget-period", args->limits.budget_period,
                  "day or month (calendar, UTC), or total")
      ->check(CLI::IsMember({"day", "month", "total"}))
      ->capture_default_str();
  cmd->add_option("--weight", args->limits.weight, "fair-share weight of the tenant (> 0)")
      ->capture_default_str();
  cmd->add_option("--models", args->limits.models,
                  "comma-separated model ids the key may use (default: all)")
      ->delimiter(',');
  cmd->callback([data_dir, args, &exit_code] { exit_code = run_create(*data_dir, *args); });
}

void register_list(CLI::App* keys, int& exit_code) {
  auto* cmd = keys->add_subcommand("list", "List keys with their limits (never the secrets)");
  auto data_dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  add_data_dir_option(cmd, *data_dir);
  cmd->add_flag("--json", *json, "print a JSON array instead of the table");
  cmd->callback([data_dir, json, &exit_code] { exit_code = run_list(*data_dir, *json); });
}

void register_revoke(CLI::App* keys, int& exit_code) {
  auto* cmd = keys->add_subcommand("revoke", "Revoke a key: its secret no longer authenticates");
  auto data_dir = std::make_shared<std::string>();
  auto key_id = std::make_shared<std::string>();
  add_data_dir_option(cmd, *data_dir);
  cmd->add_option("key_id", *key_id, "id of the key (as `keys list` shows it)")->required();
  cmd->callback([data_dir, key_id, &exit_code] { exit_code = run_revoke(*data_dir, *key_id); });
}

}  // namespace

void register_keys(CLI::App& app, int& exit_code) {
  auto* keys = app.add_subcommand("keys", "Manage API keys and their tenants' limits");
  keys->require_subcommand(1);
  register_create(keys, exit_code);
  register_list(keys, exit_code);
  register_revoke(keys, exit_code);
}

}  // namespace tmill::app
