// The small text formats of metering requests, parsed without touching any database (so they
// are fuzzed on their own): the Authorization header and /v1/usage's query string and answer.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/usage_query.h"
#include "server/api_error.h"

namespace tmill::platform {

// "Bearer <secret>" -> secret; "" when the header is absent or uses another scheme.
std::string_view bearer_secret(std::string_view authorization);

// /v1/usage's query string: from, to (unix seconds or YYYY-MM-DD[THH:MM:SS[Z]], UTC), group_by
// (comma-separated tenant,key,model,day), tenant. Errors name the parameter.
server::ApiResult<UsageQuery> parse_usage_query(std::string_view query);
// One row: the grouped-by fields it has, then its sums.
nlohmann::json usage_row_json(const UsageRow& row);
// /v1/usage's answer: {"object": "list", "data": [rows]}.
nlohmann::json usage_json(const std::vector<UsageRow>& rows);

}  // namespace tmill::platform
