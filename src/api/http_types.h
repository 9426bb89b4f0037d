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

 private:
  std::vector<std::pair<std::string, std::string>> items_;
  boost::asio::ip::address peer_;
  std::shared_ptr<const void> note_;
};

// A route handler. Runs on the connection's executor; may co_await store work; must not block.
// The request outlives the returned awaitable.
using Handler = std::function<boost::asio::awaitable<Response>(const Request&, const PathParams&)>;

}  // namespace hookwire::api
