#include "server/http_session.h"

#include <array>
#include <chrono>
#include <optional>

#include <boost/asio/write.hpp>

#include "server/generation.h"
#include "server/http_io.h"
#include "server/json_body.h"
#include "server/router.h"
#include "server/service.h"

namespace tmill::server {
namespace {

bool is_http_parse_error(const boost::system::error_code& ec) {
  return ec.category() == beast::http::make_error_code(http::error::bad_target).category();
}

ApiError limit_error(int status, std::string message) {
  ApiError e = invalid_request(std::move(message));
  e.status = status;
  return e;
}

// Closing a socket with unread input makes the kernel send a reset, which can destroy the
// error response before the client reads it (a 413 for a body still being uploaded). So read
// and discard for a little while first.
asio::awaitable<void> drain_input(beast::tcp_stream& stream) {
  std::array<char, 16384> scratch;
  size_t total = 0;
  stream.expires_after(std::chrono::seconds(2));
  while (total < (64u << 20)) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), kAwaitTuple);
    if (ec) break;
    total += n;
  }
  stream.expires_never();
}

// The response owed for a failed read, if any.
std::optional<ApiError> read_error(const boost::system::error_code& ec, const ServerOptions& opt) {
  if (ec == http::error::header_limit)
    return limit_error(431, "the request header section is larger than " +
                                std::to_string(opt.max_header_bytes) + " bytes");
  // Beast checks Content-Length against the limit as soon as the header is read.
  if (ec == http::error::body_limit)
    return limit_error(
        413, "the request body is larger than " + std::to_string(opt.max_body_bytes) + " bytes");
  if (is_http_parse_error(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message)
    return limit_error(400, "malformed HTTP request: " + ec.message());
  return std::nullopt;
}

// GET endpoints and the routing errors; generations go to handle_generation.
asio::awaitable<bool> dispatch(Service& service, beast::tcp_stream& stream,
                               beast::flat_buffer& buffer, const Request& req, bool keep_alive) {
  const unsigned version = req.version();
  const std::string_view target(req.target().data(), req.target().size());
  // Everything but the liveness probe needs a caller: authentication comes before routing, so
  // an unauthenticated client learns nothing (not even which paths exist) and no path spelling
  // reaches a handler without a key. Paths are matched exactly, never normalised.
  Principal principal;
  principal.tenant = "default";
  principal.admin = true;  // an open server has one user
  if (AccessControl* access = service.access(); access && target != "/health") {
    const auto auth = req[http::field::authorization];
    auto who = access->authenticate(std::string_view(auth.data(), auth.size()));
    if (!who.ok())
      co_return co_await write_error(service, stream, version, keep_alive, who.error());
    principal = std::move(who).value();
  }
  auto route =
      route_request(std::string_view(req.method_string().data(), req.method_string().size()),
                    std::string_view(req.target().data(), req.target().size()));
  if (!route.ok())
    co_return co_await write_error(service, stream, version, keep_alive, route.error());
  switch (route->kind) {
    case RouteKind::ChatCompletions:
      co_return co_await handle_generation(service, stream, buffer, req, Endpoint::Chat, principal,
                                           keep_alive);
    case RouteKind::Completions:
      co_return co_await handle_generation(service, stream, buffer, req, Endpoint::Completions,
                                           principal, keep_alive);
    case RouteKind::Usage: {
      AccessControl* access = service.access();
      if (!access) {
        const ApiError e = not_found("usage is not recorded by this server (no ledger)");
        co_return co_await write_error(service, stream, version, keep_alive, e);
      }
      const size_t q = target.find('?');
      auto usage =
          access->usage(principal, q == std::string_view::npos ? "" : target.substr(q + 1));
      if (!usage.ok())
        co_return co_await write_error(service, stream, version, keep_alive, usage.error());
      co_return co_await write_json(service, stream, version, keep_alive, usage.value());
    }
    case RouteKind::Models:
      co_return co_await write_json(service, stream, version, keep_alive, service.models_json());
    case RouteKind::Model: {
      for (const std::string& name : service.limits().model_names)
        if (name == route->arg) {
          co_return co_await write_json(service, stream, version, keep_alive, service.model_json());
        }
      ApiError e = not_found("The model '" + route->arg + "' does not exist", "model_not_found");
      e.param = "model";
      co_return co_await write_error(service, stream, version, keep_alive, e);
    }
    case RouteKind::Health: {
      if (service.stopping.load()) {
        ApiError e = server_error(503, "the server is shutting down", "shutting_down");
        co_return co_await write_error(service, stream, version, keep_alive, e);
      }
      // Built before the co_await: GCC 12 miscompiles braced initializer lists in it.
      const nlohmann::json ok = nlohmann::json::object({{"status", "ok"}});
      co_return co_await write_json(service, stream, version, keep_alive, ok);
    }
    case RouteKind::Metrics:
      // Per-tenant usage is in there: with API keys only an admin key may read it.
      if (!principal.admin) {
        const ApiError e = forbidden("/metrics needs an admin key");
        co_return co_await write_error(service, stream, version, keep_alive, e);
      }
      co_return co_await write_response(service, stream, version, keep_alive, http::status::ok,
                                        "text/plain; version=0.0.4; charset=utf-8",
                                        service.metrics_text());
  }
  co_return false;
}

}  // namespace

asio::awaitable<void> run_session(std::shared_ptr<Service> service, asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  const ServerOptions& opt = service->options();
  bool unread_input = false;  // we answered before reading everything the client sent
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
    parser.body_limit(opt.max_body_bytes);
    stream.expires_after(std::chrono::seconds(opt.idle_timeout_seconds));
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAwaitTuple);
    if (ec) {
      // Limits and malformed HTTP get their status, then the connection closes, since the
      // rest of the byte stream cannot be trusted. EOF, timeouts and resets just end it.
      if (auto error = read_error(ec, opt)) {
        co_await write_error(*service, stream, 11, false, *error);
        unread_input = true;
      }
      break;
    }
    const unsigned version = parser.get().version();
    // curl and others wait (up to a second) for this before sending a large body.
    if (parser.get()[http::field::expect] == "100-continue" && version >= 11) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), kAwaitTuple);
      if (wec) break;
    }
    std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, kAwaitTuple);
    stream.expires_never();
    if (ec) {
      if (auto error = read_error(ec, opt)) {
        co_await write_error(*service, stream, version, false, *error);
        unread_input = true;
      }
      break;
    }
    Request req = parser.release();
    const bool keep_alive = req.keep_alive() && !service->stopping.load();
    if (!co_await dispatch(*service, stream, buffer, req, keep_alive) || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  if (unread_input) co_await drain_input(stream);
}

}  // namespace tmill::server
