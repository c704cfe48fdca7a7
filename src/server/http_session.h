// One client connection: HTTP/1.1 requests read one after another (keep-alive), each routed
// and answered, with the header and body limits applied before anything is buffered in full.
#pragma once

#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tmill::server {

class Service;

// Runs on the socket's executor (a strand) until the client closes, a limit or a protocol
// error ends the connection, or the server stops.
boost::asio::awaitable<void> run_session(std::shared_ptr<Service> service,
                                         boost::asio::ip::tcp::socket socket);

}  // namespace tmill::server
