// HttpServer: hookwire's HTTP/1.1 front door (Boost.Beast, coroutines).
//
// Threads: `threads` event loops, each its own io_context; a connection lives on one loop for its whole life;
// handlers run on that loop and must never block (store work is co_awaited on the store's threads).
// Hostile-client limits: header size (431), body size (413, refused from Content-Length or as soon as the
// streamed body passes the limit, never buffered whole), read timeout for a whole request (408 then close),
// idle keep-alive timeout, and a cap on concurrent connections (over it: 503 and close).
// Lifecycle: construct, listen(), start(); stop() stops accepting, lets in-flight requests finish (up to
// `drain_timeout`), closes idle connections and joins the threads. stop() must be called before destruction
// (the destructor calls it too), from any thread but the server's own (e.g. a signal-handling thread).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "core/metrics.h"
#include "core/result.h"

namespace hookwire::api {

struct ServerOptions {
  int threads = 2;
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  std::chrono::milliseconds request_timeout{30'000};  // from first byte to the end of the body
  std::chrono::milliseconds idle_timeout{75'000};     // keep-alive connection with no request
  size_t max_connections = 10'000;
  std::chrono::milliseconds drain_timeout{15'000};
};

class HttpServer {
 public:
  // `router` and `metrics` must outlive the server. Metrics recorded:
  // http_requests_total{route,method,status}, http_request_duration_seconds{route} histogram,
  // http_connections_open gauge.
  HttpServer(ServerOptions options, const Router& router, metrics::Registry& metrics);
  ~HttpServer();

  // Binds and listens (port 0 picks a free port). Returns the bound address.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, uint16_t port);
  // Starts the event loop threads. Returns at once.
  void start();
  // Graceful shutdown as described above. Idempotent; blocks until done.
  void stop();

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace hookwire::api
