// Which endpoint a request line names. Pure, so the 404/405 rules are unit-tested.
#pragma once

#include <string>
#include <string_view>

#include "server/api_error.h"

namespace tmill::server {

enum class RouteKind { ChatCompletions, Completions, Models, Model, Health, Metrics, Usage };

struct Route {
  RouteKind kind = RouteKind::Health;
  std::string arg;  // Model: the id in /v1/models/{id}
};

// `target` may carry a query string (ignored). Unknown path: 404; known path, other method:
// 405 with Allow.
ApiResult<Route> route_request(std::string_view method, std::string_view target);

}  // namespace tmill::server
