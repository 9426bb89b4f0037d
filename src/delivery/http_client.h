// HttpClient: the delivery engine's outbound HTTP/1.1 client (Boost.Beast, coroutines).
//
// One POST per call, with everything a webhook sender needs and nothing more:
//  - URL validated by UrlGuard; the host resolved, and EVERY resolved address checked by UrlGuard before
//    connecting (only allowed addresses are tried), so DNS rebinding cannot reach a refused network.
//  - TLS 1.2+ with certificate verification against the system roots plus an optional extra CA bundle,
//    SNI, and host name (or IP) verification.
//  - Keep-alive pool per origin (scheme, host, port): idle connections are reused, at most
//    `max_idle_per_origin` are kept, each for at most `idle_timeout`. One idle for a second or more is first
//    checked for a close by the peer (a non-blocking peek: one system call, skipped for connections just
//    used, which under load is nearly all of them). A reused connection that fails before any byte of the
//    response arrives (the peer closed it while idle) is retried once on a fresh connection.
//  - A connect timeout and a total deadline (resolve + connect + TLS + write + read); on expiry the
//    connection is closed and discarded.
//  - The response body is read up to `max_response_body` bytes; a longer body is cut there (`truncated`)
//    and the connection closed rather than read to the end. Redirects are not followed: a 3xx is returned
//    like any other status, and the caller treats it as a failure.
//
// Threads: an HttpClient belongs to one executor (one io_context thread): post() must be awaited from a
// coroutine running on that executor, and the pool is touched only there. Use one client per I/O thread.
// stop() is the exception: it may be called from any thread.
// Lifetime: in-flight post() calls share ownership of the client's state, so destroying the HttpClient while
// requests are in flight is safe (the destructor calls stop(); they end with kCancelled). The io_context
// must outlive every post() it runs.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"
#include "delivery/url_guard.h"

namespace hookwire::delivery {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpClientOptions {
  UrlGuard guard;             // default: refuse private/loopback/... addresses
  std::string extra_ca_file;  // PEM bundle trusted in addition to the system roots
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{15'000};
  size_t max_response_body = 64 << 10;    // bytes kept; the rest is not read
  size_t max_response_header = 16 << 10;  // a bigger response header is a kProtocolError
  // Idle keep-alive connections kept per origin. Sized for the dispatcher's concurrency to one origin (many
  // endpoints often share one): a smaller pool closes and reopens connections under load.
  size_t max_idle_per_origin = 512;
  std::chrono::milliseconds idle_timeout{60'000};  // an idle pooled connection older than this is closed
  std::string user_agent = "hookwire/0.1";
  // The clock the keep-alive pool measures idleness with (empty: std::chrono::steady_clock). For tests;
  // timeouts always use the real clock.
  std::function<std::chrono::steady_clock::time_point()> pool_clock;
};

struct HttpRequest {
  std::string url;
  Headers headers;  // sent as for_each_sent_field says; Host, Content-Length, Connection are the client's
  std::string body;
  std::chrono::milliseconds total_timeout{0};    // 0: the client's default
  std::chrono::milliseconds connect_timeout{0};  // 0: the client's default
};

struct HttpResponse {
  unsigned status = 0;
  Headers headers;                         // as received, in order
  std::optional<std::string> retry_after;  // the raw Retry-After value, if any
  std::string body;                        // at most max_response_body bytes
  bool truncated = false;                  // the body was longer than what is kept
  std::chrono::milliseconds duration{0};   // from the call to the end of the response
  bool reused_connection = false;          // served on a pooled keep-alive connection

  // The first header with this name (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

// The header fields post() sends for `headers`, in its order, but for Host (before them) and Content-Length
// (after them): User-Agent `user_agent` unless `headers` gives one, then `headers` in order with values
// trimmed of spaces and tabs (only the last User-Agent given; Host, Content-Length, Transfer-Encoding and
// Connection skipped: framing is the client's), then Content-Type application/json unless given. Calls
// fn(name, value) for each. post() writes its request head with it; the dispatcher records with it what an
// attempt sent (store::Attempt::request_headers).
template <class Fn>
void for_each_sent_field(const Headers& headers, std::string_view user_agent, Fn&& fn) {
  namespace http = boost::beast::http;
  size_t last_user_agent = headers.size();  // the caller's last User-Agent, if any
  bool has_content_type = false;
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto f = http::string_to_field(headers[i].first);
    if (f == http::field::user_agent) last_user_agent = i;
    if (f == http::field::content_type) has_content_type = true;
  }
  auto trimmed = [](std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return value;
  };
  if (last_user_agent == headers.size()) fn(std::string_view("User-Agent"), trimmed(user_agent));
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    const auto f = http::string_to_field(name);
    const bool framing = f == http::field::host || f == http::field::content_length ||
                         f == http::field::transfer_encoding || f == http::field::connection;
    if (framing || (f == http::field::user_agent && i != last_user_agent)) continue;
    fn(std::string_view(name), trimmed(value));
  }
  if (!has_content_type) fn(std::string_view("Content-Type"), std::string_view("application/json"));
}

// Why a request failed, for the dispatcher to act on.
enum class FailureKind {
  kInvalidUrl,      // UrlGuard::validate_url refused the URL (also https-only): permanent
  kInvalidRequest,  // a header name or value RFC 9110 forbids (CR, LF, NUL...): nothing was sent
  kBlockedAddress,  // every resolved address is refused by the SSRF guard: permanent until config changes
  kDnsFailure,      // the name did not resolve
  kConnectFailed,   // refused / unreachable on every allowed address
  kConnectTimeout,  // no TCP connection within the connect timeout
  kTlsFailed,       // handshake failed: certificate not trusted, host name mismatch, protocol
  kTimeout,         // the total deadline passed (resolving, in TLS, writing or waiting for the response)
  kConnectionLost,  // the peer closed or reset the connection before a complete response
  kProtocolError,   // the response was not valid HTTP/1.1 (or its header was too large)
  kCancelled,       // stop() was called
};
std::string_view to_string(FailureKind kind);

struct ClientError {
  FailureKind kind;
  std::string message;  // human text naming the URL's host / address and the cause
};

// Result<T> with a ClientError instead of core's Error (the kind is what the dispatcher branches on).
template <class T>
using ClientResult = Result<T, ClientError>;

class HttpClient {
 public:
  // Fails (kValidation, field "extra_ca_file") if the extra CA bundle cannot be loaded.
  static Result<std::unique_ptr<HttpClient>> create(boost::asio::any_io_executor executor,
                                                    HttpClientOptions options);
  ~HttpClient();  // calls stop()
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs req.body to req.url. Any HTTP status is a success here (including 3xx, 4xx, 5xx): failures are
  // only what prevented getting a status. Must be awaited on the client's executor.
  boost::asio::awaitable<ClientResult<HttpResponse>> post(HttpRequest req);

  // Closes idle connections and aborts in-flight requests (they end with kCancelled); later post() calls
  // fail at once with kCancelled. Idempotent; callable from any thread (from another thread it takes effect
  // shortly after, on the client's executor).
  void stop();

  // Idle connections currently pooled (all origins). Call on the client's executor.
  size_t idle_connections() const;

  const HttpClientOptions& options() const;

 private:
  class State;
  explicit HttpClient(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace hookwire::delivery
