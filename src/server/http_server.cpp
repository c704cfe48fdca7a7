#include "server/http_server.h"

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "server/http_io.h"
#include "server/http_session.h"
#include "server/service.h"

namespace tmill::server {

using asio::ip::tcp;

struct HttpServer::Impl {
  std::shared_ptr<Service> service;
  asio::io_context io;
  tcp::acceptor acceptor{asio::make_strand(io)};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;

  void request_stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop_requested = true;
    }
    cv.notify_all();
  }

  void wait_for_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (service->stopping.load()) {
        // A second signal while draining: the user wants out now.
        std::fprintf(stderr, "tokenmill serve: signal %d again, exiting now\n", signal);
        std::_Exit(128 + signal);
      }
      std::fprintf(stderr, "tokenmill serve: signal %d, shutting down\n", signal);
      request_stop();
      wait_for_signal();
    });
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), kAwaitTuple);
      if (ec) {
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
        // Out of file descriptors and the like: back off instead of spinning.
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
        co_await pause.async_wait(kAwaitTuple);
        continue;
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // SSE chunks go out as they are written
      auto executor = socket.get_executor();
      asio::co_spawn(executor, run_session(service, std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          std::fprintf(stderr, "tokenmill serve: connection error: %s\n", x.what());
        }
      });
    }
  }
};

HttpServer::HttpServer(std::shared_ptr<Service> service) : impl_(std::make_unique<Impl>()) {
  impl_->service = std::move(service);
}

HttpServer::~HttpServer() = default;

Status HttpServer::listen() {
  const ServerOptions& opt = impl_->service->options();
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(opt.host, std::to_string(opt.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    return fail("cannot resolve host '", opt.host, "': ", ec ? ec.message() : "no address");
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec) return fail("cannot open a socket: ", ec.message());
  if (a.set_option(asio::socket_base::reuse_address(true), ec); ec)
    return fail("cannot set SO_REUSEADDR: ", ec.message());
  if (a.bind(endpoint, ec); ec)
    return fail("cannot bind ", opt.host, ":", opt.port, ": ", ec.message());
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec)
    return fail("cannot listen on ", opt.host, ":", opt.port, ": ", ec.message());
  return Status::success();
}

uint16_t HttpServer::port() const {
  boost::system::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::stop() { impl_->request_stop(); }

void HttpServer::run() {
  Impl& s = *impl_;
  Service& service = *s.service;
  s.wait_for_signal();
  asio::co_spawn(s.acceptor.get_executor(), s.accept_loop(), asio::detached);
  std::vector<std::thread> threads;
  const int n_threads = std::max(1, service.options().io_threads);
  for (int i = 0; i < n_threads; ++i) threads.emplace_back([&s] { s.io.run(); });

  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait(lock, [&s] { return s.stop_requested; });
  }
  // 1. Stop accepting; responses from now on close their connections.
  service.stopping = true;
  asio::post(s.acceptor.get_executor(), [&s] {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
  });
  // 2. The engine refuses new work, lets in-flight requests finish until the deadline, then
  //    cancels the rest (their clients get a 503 or an error event). Blocks this thread only;
  //    the io threads keep streaming meanwhile.
  service.engine().shutdown(service.options().shutdown_deadline_ms);
  // 3. Every request now has its final events; give the connections a moment to write them.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (service.in_flight.load() > 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // 4. Idle keep-alive connections are simply dropped.
  s.signals.cancel();
  s.io.stop();
  for (auto& t : threads) t.join();
}

}  // namespace tmill::server
