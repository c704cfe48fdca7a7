// The listening side: binds, accepts connections onto per-connection strands served by a few
// io threads, and shuts down gracefully on SIGINT/SIGTERM: stop accepting, let in-flight
// requests finish within the deadline (then the engine cancels them), finish writing, exit.
#pragma once

#include <cstdint>
#include <memory>

#include "core/expected.h"

namespace tmill::server {

class Service;

class HttpServer {
 public:
  explicit HttpServer(std::shared_ptr<Service> service);
  ~HttpServer();

  // Binds and listens on the service's host:port (port 0: any free port).
  Status listen();
  uint16_t port() const;  // the bound port, once listening

  // Serves until SIGINT/SIGTERM or stop(), then shuts down as described above. Blocks; call
  // after listen(). Returns once every io thread has stopped.
  void run();
  // Asks run() to shut down (thread-safe). For tests and embedding.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tmill::server
