#include "cli/server_client.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <chrono>

namespace hookwire::cli {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<Server> parse_server(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "http" || u->host().empty() || u->has_query() || u->has_fragment())
    return Error::validation("--server", "must be an http:// URL (e.g. http://127.0.0.1:8071)");
  Server s{std::string(u->host()), u->has_port() ? std::string(u->port()) : "80", std::string(u->path())};
  if (s.host.size() > 2 && s.host.front() == '[') s.host = s.host.substr(1, s.host.size() - 2);
  while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
  return s;
}

std::string encode_segment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

Result<CallResult> call_server(const Server& server, const std::string& token, std::string_view method,
                               const std::string& target, std::string body) {
  const auto unreachable = [&](const std::string& why) {
    return Error::unavailable(
        fmt::format("cannot reach the server at http://{}:{}: {}", server.host, server.port, why));
  };
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(server.host, server.port, ec);
  if (ec) return unreachable(ec.message());
  stream.expires_after(std::chrono::seconds{30});
  stream.connect(results, ec);
  if (ec) return unreachable(ec.message());
  http::request<http::string_body> req{http::string_to_verb(method), server.prefix + target, 11};
  req.set(http::field::host, server.host);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::user_agent, "hookwire-cli");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return unreachable(ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec) return unreachable(ec.message());
  auto res = parser.release();
  return CallResult{res.result_int(), std::move(res.body())};
}

}  // namespace hookwire::cli
