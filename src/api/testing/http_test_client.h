// TestClient: a small synchronous HTTP/1.1 client for tests. One TCP connection to 127.0.0.1:port; every call
// blocks until done or until the timeout (default 5 s), so a broken server fails a test instead of hanging
// it.
//
//   TestClient c(port);
//   auto res = c.request(http::verb::post, "/api/v1/app", R"({"name":"a"})", {{"authorization", "Bearer
//   x"}}); c.send_raw("GET / HTTP/1.1\r\n");              // anything, byte for byte auto ec =
//   c.try_read_response(res);            // or read_response(), which throws EXPECT_TRUE(c.wait_closed()); //
//   the server closed the connection
//
// Not thread-safe; use one client per thread. Test-only: throws std::system_error on unexpected I/O errors.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "api/http_types.h"

namespace hookwire::api::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

class TestClient {
 public:
  // Connects at once; throws std::system_error if the connection is refused.
  explicit TestClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : stream_(ioc_), timeout_(timeout) {
    const boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
    auto ec = run([&](auto done) { stream_.async_connect(ep, [done](auto e) { done(e, 0); }); });
    if (ec) throw std::system_error(ec, "TestClient: connect");
  }

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Sends a request (Host, Content-Length filled in) and reads its response.
  Response request(http::verb verb, std::string_view target, std::string body = {},
                   const Headers& headers = {}) {
    Request req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    send(req);
    return read_response(verb == http::verb::head);
  }

  // Writes a request as is (call prepare_payload() first if it has a body).
  void send(const Request& req) {
    auto ec = run([&](auto done) { http::async_write(stream_, req, done); });
    if (ec) throw std::system_error(ec, "TestClient: write request");
  }

  // Writes raw bytes. Returns the error rather than throwing: tests often write to a server that has closed.
  boost::system::error_code send_raw(std::string_view bytes) {
    return run([&](auto done) { boost::asio::async_write(stream_, boost::asio::buffer(bytes), done); });
  }

  // Reads one response; `head`: it answers a HEAD request (no body follows its headers). Throws on error.
  Response read_response(bool head = false) {
    Response res;
    if (auto ec = try_read_response(res, head)) throw std::system_error(ec, "TestClient: read response");
    return res;
  }

  // Reads one response into `out`, or returns why not (end_of_stream: closed; beast::error::timeout).
  boost::system::error_code try_read_response(Response& out, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(head);
    auto ec = run([&](auto done) { http::async_read(stream_, buffer_, parser, done); });
    if (!ec) out = parser.release();
    return ec;
  }

  // Reads (and discards) until the server closes the connection. True if it did (EOF or reset) within the
  // timeout, false if the connection was still open when the timeout passed.
  bool wait_closed() {
    buffer_.clear();
    for (;;) {
      std::size_t got = 0;
      auto ec = run([&](auto done) {
        stream_.async_read_some(buffer_.prepare(4096), [&got, done](auto e, std::size_t n) {
          got = n;
          done(e, n);
        });
      });
      if (ec == boost::beast::error::timeout) return false;
      if (ec) return true;
      buffer_.commit(got);
      buffer_.clear();
    }
  }

  // Reads raw bytes until `marker` has arrived (e.g. the end of a server-sent event) and returns everything
  // up to and including it; what follows stays buffered for the next call. Throws on error, timeout or close.
  std::string read_until(std::string_view marker) {
    for (;;) {
      const std::string_view have(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      if (auto at = have.find(marker); at != std::string_view::npos) {
        std::string out(have.substr(0, at + marker.size()));
        buffer_.consume(out.size());
        return out;
      }
      std::size_t got = 0;
      auto ec = run([&](auto done) {
        stream_.async_read_some(buffer_.prepare(4096), [&got, done](auto e, std::size_t n) {
          got = n;
          done(e, n);
        });
      });
      if (ec) throw std::system_error(ec, "TestClient: read_until");
      buffer_.commit(got);
    }
  }

  // Waits up to `timeout` for the server to send something (or close). Does not consume it, and unlike a
  // read with the client's timeout, does not give up the connection when nothing comes.
  bool wait_readable(std::chrono::milliseconds timeout) {
    boost::asio::steady_timer timer(ioc_, timeout);
    bool readable = false;
    stream_.socket().async_wait(boost::asio::socket_base::wait_read, [&](boost::system::error_code ec) {
      readable = !ec;
      timer.cancel();
    });
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) stream_.socket().cancel();
    });
    ioc_.restart();
    ioc_.run();
    return readable;
  }

  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  boost::beast::tcp_stream& stream() { return stream_; }

 private:
  // Runs one asynchronous operation to completion under the timeout. `start(done)` starts it; `done` is a
  // completion handler taking (error_code, size_t).
  template <class Start>
  boost::system::error_code run(Start start) {
    boost::system::error_code result = boost::asio::error::would_block;
    stream_.expires_after(timeout_);
    start([&result](boost::system::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};

}  // namespace hookwire::api::testing
