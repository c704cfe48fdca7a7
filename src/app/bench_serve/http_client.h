// A minimal blocking HTTP/1.1 client for the load generator: one keep-alive connection per
// client, JSON POSTs whose response body is handed over piece by piece as it arrives (so SSE
// chunks can be timestamped on arrival), and whole-body GETs. Boost.Beast stays inside the .cpp
// so only one translation unit pays for its headers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/expected.h"

namespace tmill::app::bench_serve {

struct Url {
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/'; "" for the server root
  std::string api_key;    // sent as "Authorization: Bearer KEY" when not empty
};

// "http://host[:port][/path]". A trailing "/v1" is dropped: endpoints are appended as /v1/...
Expected<Url> parse_url(std::string_view text);

struct HttpResult {
  int status = 0;
  std::string body;  // the whole body for get(); for post_stream() only a non-200 body
};

class HttpClient {
 public:
  HttpClient(Url url, double timeout_s);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Expected<HttpResult> get(const std::string& path);

  // POSTs `json_body`. With status 200, every piece of the body goes to on_data as soon as it
  // is read; any other status collects the body into the result instead.
  Expected<HttpResult> post_stream(const std::string& path, const std::string& json_body,
                                   const std::function<void(std::string_view)>& on_data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tmill::app::bench_serve
