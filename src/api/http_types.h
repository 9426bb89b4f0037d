// The HTTP vocabulary shared by the server, the router and the handlers (Beast types, string bodies).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookwire::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Values captured from a route pattern's {name} segments, percent-decoded.
class PathParams {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // The captured value; empty if the pattern has no such name (a programming error).
  const std::string& get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// A route handler. Runs on the connection's executor; may co_await store work; must not block.
// The request outlives the returned awaitable.
using Handler = std::function<boost::asio::awaitable<Response>(const Request&, const PathParams&)>;

}  // namespace hookwire::api
