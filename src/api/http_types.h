// The HTTP vocabulary shared by the server, the router and the handlers (Beast types, string bodies).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookwire::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A response body written over time (server-sent events). The server writes the head the handler returned,
// then runs the stream's body (a StreamBody) on the connection's loop; the connection closes when it returns.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Writes `data` whole, waiting while the client is slow (backpressure: nothing is queued beyond it).
  // false: nothing more can be written (the client went away, or did not take the bytes within the
  // server's stream_write_timeout and was dropped): the body should return.
  virtual boost::asio::awaitable<bool> write(std::string data) = 0;
  // The server is stopping: the body should write its last bytes (writes still work) and return.
  virtual bool stopping() const = 0;
  // The connection is gone (client closed it, a write failed or timed out): the body should return.
  virtual bool closed() const = 0;
};
// The body of a streamed response. When the server stops or the client goes away, the operation the body
// is awaiting at that moment (a timer, FeedHub::wait) is cancelled (terminal cancellation: it ends with
// operation_aborted; awaiting never throws for it) and stopping() or closed() is then true. A body that
// awaits something else (store work) checks stopping() and closed() before each long wait.
using StreamBody = std::function<boost::asio::awaitable<void>(StreamWriter&)>;

// Values captured from a route pattern's {name} segments, percent-decoded; and the address of the
// connection's peer (the server sets it before calling the handler).
class PathParams {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // The captured value; empty if the pattern has no such name (a programming error).
  const std::string& get(std::string_view name) const;

  // The TCP peer of the request's connection (unspecified when not served over TCP, e.g. in router tests).
  const boost::asio::ip::address& peer() const { return peer_; }
  void set_peer(const boost::asio::ip::address& peer) { peer_ = peer; }
  // What the route's admission check left for its handler (Admission::check_route), or null.
  const std::shared_ptr<const void>& note() const { return note_; }
  void set_note(std::shared_ptr<const void> note) { note_ = std::move(note); }

  // Streamed responses: a handler answers with a stream by calling stream(body) and returning the head (a
  // 2xx status and its fields; any body and Content-Length are dropped). The server writes the head with
  // `Connection: close` and no Content-Length (the body ends when the connection closes), then runs `body`.
  // A handler that returns a non-2xx response (or answers HEAD) is answered as usual and `body` is dropped.
  // can_stream() is false outside the server (e.g. a router test): stream() must not be called then.
  bool can_stream() const { return stream_ != nullptr; }
  void stream(StreamBody body) const { *stream_ = std::move(body); }  // the server's slot, not the params
  void set_stream_slot(StreamBody* slot) { stream_ = slot; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
  boost::asio::ip::address peer_;
  std::shared_ptr<const void> note_;
  StreamBody* stream_ = nullptr;
};

// A route handler. Runs on the connection's executor; may co_await store work; must not block.
// The request outlives the returned awaitable.
using Handler = std::function<boost::asio::awaitable<Response>(const Request&, const PathParams&)>;

}  // namespace hookwire::api
