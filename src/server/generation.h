// POST /v1/chat/completions and /v1/completions on one connection: validate the body, build
// the prompts, submit them to the engine, then either collect the whole response or stream it
// as server-sent events, waking on engine notifications. A client that disconnects mid-request
// (a failed write, or EOF read while waiting) has its engine requests cancelled.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "server/access.h"
#include "server/http_io.h"
#include "server/openai_request.h"

namespace tmill::server {

class Service;

// Returns false when the connection must be closed (write failed, client gone, HTTP/1.0 stream).
// Bytes the client sent meanwhile (a pipelined request) are appended to `buffer`.
asio::awaitable<bool> handle_generation(Service& service, beast::tcp_stream& stream,
                                        beast::flat_buffer& buffer, const Request& request,
                                        Endpoint endpoint, const Principal& principal,
                                        bool keep_alive);

}  // namespace tmill::server
