#include "platform/usage_query.h"

#include <algorithm>
#include <limits>

namespace tmill::platform {
namespace {

// Seconds to the milliseconds the ledger stores, saturating instead of overflowing (the default
// to_unix is INT64_MAX).
int64_t to_unix_ms(int64_t unix_seconds) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1000;
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min() / 1000;
  if (unix_seconds >= kMax) return std::numeric_limits<int64_t>::max();
  if (unix_seconds <= kMin) return std::numeric_limits<int64_t>::min();
  return unix_seconds * 1000;
}

// The SQL expression of a grouping column (SQLite's date functions take seconds).
std::string group_expression(GroupBy group) {
  switch (group) {
    case GroupBy::Tenant:
      return "tenant";
    case GroupBy::Key:
      return "key_id";
    case GroupBy::Model:
      return "model";
    case GroupBy::Day:
      return "strftime('%Y-%m-%d', finished_unix_ms / 1000, 'unixepoch')";
  }
  return "NULL";
}

std::optional<std::string>& group_field(UsageRow& row, GroupBy group) {
  switch (group) {
    case GroupBy::Tenant:
      return row.tenant;
    case GroupBy::Key:
      return row.key_id;
    case GroupBy::Model:
      return row.model;
    case GroupBy::Day:
      break;
  }
  return row.day;
}

}  // namespace

Expected<std::vector<UsageRow>> query_usage(Database& ledger_db, const UsageQuery& query) {
  // A group asked for twice is grouped once.
  std::vector<GroupBy> groups;
  for (GroupBy g : query.group_by) {
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  std::string columns, group_clause;
  for (GroupBy g : groups) {
    columns += group_expression(g) + ", ";
    group_clause += (group_clause.empty() ? "" : ", ") + group_expression(g);
  }
  std::string sql = "SELECT " + columns +
                    "COUNT(*), SUM(prompt_tokens), SUM(cached_prompt_tokens), "
                    "SUM(completion_tokens), TOTAL(cost_usd), TOTAL(charge_usd), "
                    "TOTAL(energy_j) FROM usage_ledger "
                    "WHERE finished_unix_ms >= ?1 AND finished_unix_ms < ?2";
  if (query.tenant) sql += " AND tenant = ?3";
  if (!groups.empty()) sql += " GROUP BY " + group_clause + " ORDER BY " + group_clause;

  TM_ASSIGN(Statement select, ledger_db.prepare(sql));
  select.bind_int(1, to_unix_ms(query.from_unix)).bind_int(2, to_unix_ms(query.to_unix));
  if (query.tenant) select.bind_text(3, *query.tenant);
  std::vector<UsageRow> rows;
  while (true) {
    TM_ASSIGN(const bool has_row, select.step());
    if (!has_row) return rows;
    UsageRow row;
    int column = 0;
    for (GroupBy g : groups) group_field(row, g) = select.column_text(column++);
    row.requests = select.column_int(column++);
    // SUM of no rows is NULL, which reads as 0.
    row.prompt_tokens = select.column_int(column++);
    row.cached_prompt_tokens = select.column_int(column++);
    row.completion_tokens = select.column_int(column++);
    row.cost_usd = select.column_double(column++);
    row.charge_usd = select.column_double(column++);
    row.energy_j = select.column_double(column++);
    rows.push_back(std::move(row));
  }
}

Expected<double> query_charged_since(Database& ledger_db, const std::string& key_id,
                                     int64_t since_unix) {
  TM_ASSIGN(Statement select, ledger_db.prepare("SELECT TOTAL(charge_usd) FROM usage_ledger "
                                                "WHERE key_id = ?1 AND finished_unix_ms >= ?2"));
  TM_ASSIGN(const bool has_row,
            select.bind_text(1, key_id).bind_int(2, to_unix_ms(since_unix)).step());
  return has_row ? select.column_double(0) : 0.0;
}

}  // namespace tmill::platform
