// HttpServer: hookwire's HTTP/1.1 front door (Boost.Beast, coroutines).
//
// Threads: `threads` event loops, each its own io_context; a connection lives on one loop for its whole life;
// handlers run on that loop and must never block (store work is co_awaited on the store's threads).
// Hostile-client limits: header size (431), body size (413, refused from Content-Length or as soon as the
// streamed body passes the limit, never buffered whole), framing (request_framing.h: 400/501), read timeout
// for a whole request (408 then close), first-byte and idle keep-alive timeouts, and a cap on concurrent
// connections (over it: 503 and close). On the parsed head, before any body byte is read, the route (404,
// 405), its Admission (e.g. 401 without the token) and the unauthenticated body budget (503) are checked;
// a refused request's body is never read (Connection: close).
// Streamed responses (PathParams::stream): the head with `Connection: close` and no Content-Length, then the
// stream's bytes until it returns (the connection then closes); bounded by max_streams; writes wait for the
// client (backpressure) up to stream_write_timeout; a client that closes its side ends the stream.
// TLS (ServerOptions::tls): the same, over a TLS stream; a connection that closes sends close_notify first.
// Lifecycle: construct, listen(), start(); stop() stops accepting, tells every stream to finish (it writes
// its last event and returns), lets in-flight requests finish (up to `drain_timeout`), closes idle
// connections and joins the threads. stop() must be called before destruction
// (the destructor calls it too), from any thread but the server's own (e.g. a signal-handling thread).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "api/tls.h"
#include "core/metrics.h"
#include "core/result.h"

namespace hookwire::api {

struct ServerOptions {
  int threads = 2;
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  std::chrono::milliseconds request_timeout{30'000};     // from first byte to the end of the body
  std::chrono::milliseconds idle_timeout{75'000};        // keep-alive connection with no request
  std::chrono::milliseconds first_byte_timeout{10'000};  // a new connection's first byte (then silent close)
  // Body bytes that requests not authenticated by their route's admission (e.g. POST /in/{source}) may hold
  // at once, server-wide, counting each by its Content-Length (a chunked one: body_limit). Past it: 503
  // with Retry-After, before the body is read. Bodies already in the read buffer (8 KiB) do not count.
  size_t unauthenticated_body_budget = 64 << 20;
  size_t max_connections = 10'000;
  std::chrono::milliseconds drain_timeout{15'000};
  // Streamed responses (PathParams::stream, e.g. server-sent events): at most this many at once, server-wide
  // (a handler's stream past it is answered 503 with Retry-After instead), so streams cannot take every
  // connection; and a stream write the client does not take within stream_write_timeout drops the client.
  // A stream has no read, idle or request timeout.
  size_t max_streams = 1000;
  std::chrono::milliseconds stream_write_timeout{30'000};
  // Set: the listener speaks HTTPS only. Each connection's handshake must finish within first_byte_timeout;
  // a failed one is counted and logged (throttled per client address); a plain HTTP request is answered 400
  // in plain text saying the port speaks HTTPS. Connections over max_connections are closed, not answered.
  std::shared_ptr<const TlsCredentials> tls;
};

class HttpServer {
 public:
  // Connections over max_connections are answered 503 while at most this many are being answered; the
  // others are closed at once. So the server holds at most max_connections + kMaxRefusing + 1 descriptors
  // (the acceptor), which is what start-up sizes the cap by (app.cc: the open-file limit).
  static constexpr size_t kMaxRefusing = 32;

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
