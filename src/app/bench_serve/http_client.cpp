#include "app/bench_serve/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace tmill::app::bench_serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Expected<Url> parse_url(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme)
    return fail("--url: '", text, "' must start with http:// (https is not supported)");
  std::string_view rest = text.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0)
    path.resize(path.size() - 3);
  Url url;
  url.base_path = path;
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    url.host = std::string(authority);
    url.port = "80";
  } else {
    url.host = std::string(authority.substr(0, colon));
    url.port = std::string(authority.substr(colon + 1));
  }
  if (url.host.empty() || url.port.empty()) return fail("--url: '", text, "' has no host or port");
  return url;
}

struct HttpClient::Impl {
  Url url;
  double timeout_s;
  asio::io_context io;
  std::optional<tcp::socket> socket;
  beast::flat_buffer buffer;

  Status connect() {
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return fail("resolving ", url.host, ":", url.port, ": ", ec.message());
    socket.emplace(io);
    asio::connect(*socket, endpoints, ec);
    if (ec) {
      socket.reset();
      return fail("connecting to ", url.host, ":", url.port, ": ", ec.message());
    }
    // Blocking reads would otherwise wait forever on a stuck server; the kernel timeout turns
    // that into an error for this request only.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    setsockopt(socket->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    socket->set_option(tcp::no_delay(true), ec);
    buffer.clear();
    return Status::success();
  }

  void close() {
    if (!socket) return;
    boost::system::error_code ec;
    socket->shutdown(tcp::socket::shutdown_both, ec);
    socket->close(ec);
    socket.reset();
  }

  http::request<http::string_body> make_request(http::verb verb, const std::string& path) {
    http::request<http::string_body> req{verb, url.base_path + path, 11};
    req.set(http::field::host, url.host + ":" + url.port);
    req.set(http::field::user_agent, "tokenmill-bench-serve");
    if (!url.api_key.empty()) req.set(http::field::authorization, "Bearer " + url.api_key);
    req.keep_alive(true);
    return req;
  }

  // Sends the request and reads its response; body pieces of a 200 go to on_data when given.
  // A kept-alive connection the server has since closed fails on first use (the write may
  // still succeed into the socket buffer, so the header read is what fails): such a failure
  // on a reused connection is retried once on a fresh one.
  Expected<HttpResult> exchange(http::request<http::string_body>& req,
                                const std::function<void(std::string_view)>* on_data) {
    // Re-created per attempt: a parser that has seen part of a failed response cannot be reused.
    std::optional<http::response_parser<http::buffer_body>> parser_slot;
    boost::system::error_code ec;
    for (int attempt = 0;; ++attempt) {
      parser_slot.emplace();
      parser_slot->body_limit(boost::none);
      const bool reused = socket.has_value();
      if (!socket) TM_TRY(connect());
      http::write(*socket, req, ec);
      if (!ec) http::read_header(*socket, buffer, *parser_slot, ec);
      if (!ec) break;
      close();
      if (!reused || attempt > 0)
        return fail("HTTP request to ", url.host, ":", url.port, ": ", ec.message());
    }
    auto& parser = *parser_slot;
    HttpResult result;
    result.status = static_cast<int>(parser.get().result_int());
    const bool streaming = on_data != nullptr && result.status == 200;
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      // read_some (not read) returns as soon as some bytes were parsed, so each SSE event is
      // seen when it arrives rather than when the buffer fills.
      http::read_some(*socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      const size_t n = sizeof chunk - parser.get().body().size;
      if (n > 0) {
        if (streaming) {
          (*on_data)(std::string_view(chunk, n));
        } else {
          result.body.append(chunk, n);
        }
      }
      if (ec) {
        close();
        return fail("reading response body: ", ec.message());
      }
    }
    if (!parser.keep_alive()) close();
    return result;
  }
};

HttpClient::HttpClient(Url url, double timeout_s) : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->timeout_s = timeout_s;
}

HttpClient::~HttpClient() { impl_->close(); }

Expected<HttpResult> HttpClient::get(const std::string& path) {
  auto req = impl_->make_request(http::verb::get, path);
  return impl_->exchange(req, nullptr);
}

Expected<HttpResult> HttpClient::post_stream(const std::string& path, const std::string& json_body,
                                             const std::function<void(std::string_view)>& on_data) {
  auto req = impl_->make_request(http::verb::post, path);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  req.body() = json_body;
  req.prepare_payload();
  return impl_->exchange(req, &on_data);
}

}  // namespace tmill::app::bench_serve
