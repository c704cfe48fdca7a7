// Reading the usage ledger: totals over a time range, grouped by tenant, key, model and/or UTC
// day, and a key's charges since a time (for budgets). These work on any connection to the
// ledger database (see open_ledger_database in ledger.h), so a reader such as the `usage`
// command needs no writer thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/expected.h"
#include "platform/database.h"

namespace tmill::platform {

enum class GroupBy { Tenant, Key, Model, Day };

struct UsageQuery {
  int64_t from_unix = 0;              // inclusive, seconds
  int64_t to_unix = INT64_MAX;        // exclusive
  std::vector<GroupBy> group_by;      // empty: one total row
  std::optional<std::string> tenant;  // restrict to one tenant (non-admin keys)
};

struct UsageRow {
  // Only the grouped-by ones are set; day is "YYYY-MM-DD" (UTC).
  std::optional<std::string> tenant, key_id, model, day;
  int64_t requests = 0, prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0, charge_usd = 0, energy_j = 0;
};

// Rows ordered by the grouped-by values in the order given. Without grouping there is exactly
// one row (all zero when nothing matched); with grouping, one row per group that has requests.
Expected<std::vector<UsageRow>> query_usage(Database& ledger_db, const UsageQuery& query);

// Sum of charge_usd of a key's rows finished at or after since_unix.
Expected<double> query_charged_since(Database& ledger_db, const std::string& key_id,
                                     int64_t since_unix);

}  // namespace tmill::platform
