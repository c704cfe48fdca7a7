#include "server/http_io.h"

#include <chrono>

#include "server/json_body.h"
#include "server/service.h"

namespace tmill::server {

asio::awaitable<bool> write_response(Service& service, beast::tcp_stream& stream, unsigned version,
                                     bool keep_alive, http::status status, std::string content_type,
                                     std::string body, const ApiError* error,
                                     const ExtraHeaders& headers) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "tokenmill");
  res.set(http::field::content_type, content_type);
  if (error != nullptr && error->retry_after_seconds)
    res.set(http::field::retry_after, std::to_string(*error->retry_after_seconds));
  if (error != nullptr && !error->allow.empty()) res.set(http::field::allow, error->allow);
  if (error != nullptr && error->should_not_retry) res.set("x-should-retry", "false");
  for (const auto& [name, value] : headers) res.set(name, value);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  service.counters().count_response(static_cast<int>(status));
  // A client that stops reading must not hold the connection forever.
  stream.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await http::async_write(stream, res, kAwaitTuple);
  stream.expires_never();
  co_return !ec;
}

asio::awaitable<bool> write_error(Service& service, beast::tcp_stream& stream, unsigned version,
                                  bool keep_alive, const ApiError& error) {
  co_return co_await write_response(service, stream, version, keep_alive,
                                    static_cast<http::status>(error.status), "application/json",
                                    dump_json(error_json(error)), &error);
}

asio::awaitable<bool> write_json(Service& service, beast::tcp_stream& stream, unsigned version,
                                 bool keep_alive, const nlohmann::json& body,
                                 const ExtraHeaders& headers) {
  co_return co_await write_response(service, stream, version, keep_alive, http::status::ok,
                                    "application/json", dump_json(body), nullptr, headers);
}

}  // namespace tmill::server
