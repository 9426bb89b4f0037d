#include "cli/server_client.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>
#include <cctype>

namespace hookwire::cli {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
constexpr auto kUse = net::as_tuple(net::use_awaitable);

Error unreachable(const Server& server, const std::string& why) {
  return Error::unavailable(fmt::format("cannot reach the server at {}: {}", server.url(), why));
}
}  // namespace

Result<Server> parse_server(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty() || u->has_query() ||
      u->has_fragment())
    return Error::validation("--server", "must be an http:// or https:// URL (e.g. http://127.0.0.1:8071)");
  const bool tls = u->scheme() == "https";
  Server s{std::string(u->host()),
           u->has_port() ? std::string(u->port()) : (tls ? "443" : "80"),
           std::string(u->path()),
           tls,
           {}};
  if (s.host.size() > 2 && s.host.front() == '[') s.host = s.host.substr(1, s.host.size() - 2);
  while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
  return s;
}

std::string Server::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", tls ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "", port);
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

net::awaitable<Result<std::unique_ptr<ServerStream>>> ServerStream::open(net::any_io_executor ex,
                                                                         const Server& server,
                                                                         std::chrono::seconds timeout) {
  auto stream = std::unique_ptr<ServerStream>(new ServerStream());
  if (server.tls) {
    stream->context_ = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    stream->context_->set_default_verify_paths(ec);
    if (!server.ca_file.empty())
      if (stream->context_->load_verify_file(server.ca_file, ec); ec)
        co_return Error::validation(
            "--ca-file", fmt::format("--ca-file: cannot load {}: {}", server.ca_file, ec.message()));
    stream->context_->set_verify_mode(ssl::verify_peer);
    stream->tls_.emplace(ex, *stream->context_);
    stream->tls_->set_verify_callback(ssl::host_name_verification(server.host));
    boost::system::error_code not_ip;
    net::ip::make_address(server.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(stream->tls_->native_handle(), server.host.c_str());
  } else {
    stream->plain_.emplace(ex);
  }
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(server.host, server.port, kUse);
  if (rec) co_return unreachable(server, rec.message());
  stream->tcp().expires_after(timeout);
  auto [cec, ep] = co_await stream->tcp().async_connect(results, kUse);
  if (cec) co_return unreachable(server, cec.message());
  if (stream->tls_) {
    auto [hec] = co_await stream->tls_->async_handshake(ssl::stream_base::client, kUse);
    if (hec) {
      const long verify = SSL_get_verify_result(stream->tls_->native_handle());
      co_return unreachable(
          server, verify != X509_V_OK
                      ? fmt::format("its certificate is not trusted ({}); give the CA with --ca-file",
                                    X509_verify_cert_error_string(verify))
                      : hec.message());
    }
  }
  co_return stream;
}

net::awaitable<Result<CallResult>> call_server_async(const Server& server, const std::string& token,
                                                     std::string_view method, const std::string& target,
                                                     std::string body, std::string_view user_agent) {
  auto stream =
      co_await ServerStream::open(co_await net::this_coro::executor, server, std::chrono::seconds{30});
  if (!stream) co_return stream.error();
  auto& s = **stream;
  http::request<http::string_body> req{http::string_to_verb(method), server.prefix + target, 11};
  req.set(http::field::host, server.host);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::user_agent, user_agent);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await s.on_stream([&](auto& st) { return http::async_write(st, req, kUse); });
  if (wec) co_return unreachable(server, wec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  auto [ec, n] = co_await s.on_stream([&](auto& st) { return http::async_read(st, buffer, parser, kUse); });
  if (ec) co_return unreachable(server, ec.message());
  auto res = parser.release();
  co_return CallResult{res.result_int(), std::move(res.body())};
}

Result<CallResult> call_server(const Server& server, const std::string& token, std::string_view method,
                               const std::string& target, std::string body) {
  net::io_context ioc;
  std::optional<Result<CallResult>> out;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        out.emplace(
            co_await call_server_async(server, token, method, target, std::move(body), "hookwire-cli"));
      },
      net::detached);
  ioc.run();
  if (!out) return Error::internal("the call did not finish");
  return std::move(*out);
}

}  // namespace hookwire::cli
