// The hookwire server as the command line reaches it: its URL (--server, http:// or https://), one path
// segment encoded for a URL, a connection to it (over https: the system's CAs and --ca-file trusted, the host
// name checked), and an HTTP/1.1 call with the bearer token. Shared by `hookwire listen` and the terminal
// workflow (client_commands.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace hookwire::cli {

struct Server {
  std::string host;
  std::string port;
  std::string prefix;  // the URL's path, without a trailing '/'
  bool tls = false;    // https://
  std::string
      ca_file;  // https: a PEM bundle trusted besides the system's CAs (e.g. a self-signed certificate)
  std::string url() const;  // scheme://host:port, for messages
};

// kValidation on "--server" unless `url` is http(s)://HOST[:PORT][/path] without query or fragment.
Result<Server> parse_server(const std::string& url);

// `s` percent-encoded for one path segment (or a query value): only unreserved characters are left as they
// are.
std::string encode_segment(std::string_view s);

// One connection to the server, plain or TLS; every read and write goes through on_stream().
class ServerStream {
 public:
  // Connects within `timeout` (the caller may set another deadline on tcp() for what follows); over https it
  // also handshakes. kUnavailable naming the server when it cannot be reached or its certificate is not
  // trusted; kValidation when --ca-file does not load.
  static boost::asio::awaitable<Result<std::unique_ptr<ServerStream>>> open(boost::asio::any_io_executor ex,
                                                                            const Server& server,
                                                                            std::chrono::seconds timeout);
  boost::beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  // `op` takes the stream and returns the operation's awaitable.
  template <class Op>
  auto on_stream(Op&& op) -> decltype(op(std::declval<boost::beast::tcp_stream&>())) {
    if (tls_) return op(*tls_);
    return op(*plain_);
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
};

struct CallResult {
  unsigned status = 0;
  std::string body;
};

// One request over a new connection (30 s in all), JSON body when `body` is not empty. kUnavailable naming
// the server when it cannot be reached or does not answer.
boost::asio::awaitable<Result<CallResult>> call_server_async(const Server& server, const std::string& token,
                                                             std::string_view method,
                                                             const std::string& target, std::string body,
                                                             std::string_view user_agent);
// The same, blocking.
Result<CallResult> call_server(const Server& server, const std::string& token, std::string_view method,
                               const std::string& target, std::string body = {});

}  // namespace hookwire::cli
