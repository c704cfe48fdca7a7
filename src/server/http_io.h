// The transport types and small write helpers the connection code shares. Everything here runs
// on a connection's strand, inside its coroutines.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "server/api_error.h"

namespace tmill::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Completion token: errors come back as values (an error_code in a tuple), never as exceptions.
inline constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);

using Request = http::request<http::string_body>;
using ExtraHeaders = std::vector<std::pair<std::string, std::string>>;

class Service;

// Writes a complete response (Content-Length set here) and counts its status. False when the
// write failed (the connection is unusable).
asio::awaitable<bool> write_response(Service& service, beast::tcp_stream& stream, unsigned version,
                                     bool keep_alive, http::status status, std::string content_type,
                                     std::string body, const ApiError* error = nullptr,
                                     const ExtraHeaders& headers = {});

asio::awaitable<bool> write_error(Service& service, beast::tcp_stream& stream, unsigned version,
                                  bool keep_alive, const ApiError& error);

asio::awaitable<bool> write_json(Service& service, beast::tcp_stream& stream, unsigned version,
                                 bool keep_alive, const nlohmann::json& body,
                                 const ExtraHeaders& headers = {});

}  // namespace tmill::server
