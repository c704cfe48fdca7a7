#include "platform/usage_request.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string>

namespace tmill::platform {
namespace {

// %XX and '+' decoding of one query-string value.
std::string url_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < in.size() &&
               std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// Unix seconds, or a UTC date/time: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z].
std::optional<int64_t> parse_time(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    if (text.size() > 12) return std::nullopt;
    return std::stoll(text);
  }
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail[8] = {};
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &year, &month, &day, &hour,
                            &minute, &second, tail);
  const bool date_only = n == 3 && text.size() == 10;
  const bool with_time = n >= 5 && (n < 7 || std::string(tail) == "Z");
  if (!date_only && !with_time) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

std::string_view bearer_secret(std::string_view authorization) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  if (authorization[kScheme.size()] != ' ') return {};
  return trim(authorization.substr(kScheme.size()));
}

server::ApiResult<UsageQuery> parse_usage_query(std::string_view query) {
  UsageQuery q;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string name = url_decode(pair.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (name == "from" || name == "to") {
      const auto t = parse_time(value);
      if (!t)
        return server::invalid_request(
            name + ": '" + value + "' is not a time (unix seconds or YYYY-MM-DD[THH:MM:SSZ], UTC)",
            name);
      (name == "from" ? q.from_unix : q.to_unix) = *t;
    } else if (name == "group_by") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        GroupBy g;
        if (item == "tenant")
          g = GroupBy::Tenant;
        else if (item == "key" || item == "key_id")
          g = GroupBy::Key;
        else if (item == "model")
          g = GroupBy::Model;
        else if (item == "day")
          g = GroupBy::Day;
        else
          return server::invalid_request(
              "group_by: '" + std::string(item) + "' is not one of tenant, key, model, day",
              "group_by");
        if (std::find(q.group_by.begin(), q.group_by.end(), g) == q.group_by.end())
          q.group_by.push_back(g);
      }
    } else if (name == "tenant") {
      q.tenant = value;
    } else {
      return server::invalid_request(
          "unknown query parameter '" + name + "' (use from, to, group_by, tenant)", name);
    }
  }
  if (q.from_unix >= q.to_unix) return server::invalid_request("from must be before to", "from");
  return q;
}

nlohmann::json usage_row_json(const UsageRow& r) {
  nlohmann::json row = nlohmann::json::object();
  if (r.tenant) row["tenant"] = *r.tenant;
  if (r.key_id) row["key_id"] = *r.key_id;
  if (r.model) row["model"] = *r.model;
  if (r.day) row["day"] = *r.day;
  row["requests"] = r.requests;
  row["prompt_tokens"] = r.prompt_tokens;
  row["cached_prompt_tokens"] = r.cached_prompt_tokens;
  row["completion_tokens"] = r.completion_tokens;
  row["cost_usd"] = r.cost_usd;
  row["charge_usd"] = r.charge_usd;
  row["energy_j"] = r.energy_j;
  return row;
}

nlohmann::json usage_json(const std::vector<UsageRow>& rows) {
  nlohmann::json data = nlohmann::json::array();
  for (const UsageRow& r : rows) data.push_back(usage_row_json(r));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace tmill::platform
