#include "server/router.h"

#include <array>

namespace tmill::server {
namespace {

struct Entry {
  std::string_view path;
  std::string_view method;
  RouteKind kind;
};

constexpr std::array<Entry, 7> kRoutes = {{
    {"/v1/chat/completions", "POST", RouteKind::ChatCompletions},
    {"/v1/completions", "POST", RouteKind::Completions},
    {"/v1/models", "GET", RouteKind::Models},
    {"/health", "GET", RouteKind::Health},
    {"/metrics", "GET", RouteKind::Metrics},
    {"/v1/usage", "GET", RouteKind::Usage},
    {"/v1/models/", "GET", RouteKind::Model},  // prefix: /v1/models/{id}
}};

ApiError method_not_allowed(std::string_view method, std::string_view path,
                            std::string_view allowed) {
  ApiError e;
  e.status = 405;
  e.message = std::string("method ") + std::string(method) + " is not allowed on " +
              std::string(path) + " (use " + std::string(allowed) + ")";
  e.code = "method_not_allowed";
  e.allow = std::string(allowed);
  return e;
}

}  // namespace

ApiResult<Route> route_request(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const Entry& e : kRoutes) {
    Route route{e.kind, ""};
    if (e.kind == RouteKind::Model) {
      if (path.size() <= e.path.size() || path.substr(0, e.path.size()) != e.path) continue;
      route.arg = std::string(path.substr(e.path.size()));
    } else if (path != e.path) {
      continue;
    }
    if (method != e.method) return method_not_allowed(method, path, e.method);
    return route;
  }
  return not_found("no route for " + std::string(method) + " " + std::string(path));
}

}  // namespace tmill::server
