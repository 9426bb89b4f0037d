#include "delivery/http_client.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "core/names.h"

namespace hookwire::delivery {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kUse = net::as_tuple(net::use_awaitable);
constexpr auto kSweepEvery = std::chrono::seconds(1);

ClientError fail(FailureKind kind, std::string message) { return {kind, std::move(message)}; }

// A header name as a message may quote it: printable ASCII as is, other bytes as \xNN, at most 64 bytes.
std::string printable(std::string_view name) {
  std::string out;
  for (unsigned char c : name.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

// Every header must be one RFC 9110 field line: a bad name or value (CR, LF, NUL...) could end the head
// early and smuggle headers or a whole request to the receiver. Checked whatever the header's origin (an
// endpoint's custom headers, the event type, signatures). The message quotes the name, never the value.
std::optional<ClientError> bad_header(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (!is_field_name(name))
      return fail(
          FailureKind::kInvalidRequest,
          fmt::format("header name \"{}\" is not an RFC 9110 token; nothing was sent", printable(name)));
    if (!is_field_value(value))
      return fail(
          FailureKind::kInvalidRequest,
          fmt::format("the value of header \"{}\" holds a byte RFC 9110 forbids in a field (CR, LF, NUL or "
                      "another control character); nothing was sent",
                      printable(name)));
  }
  return std::nullopt;
}

// One TCP (optionally TLS) connection to an origin.
struct Connection {
  explicit Connection(net::any_io_executor ex) : tcp(std::move(ex)) {}

  beast::tcp_stream tcp;  // moved into `tls` once the TLS layer exists
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;

  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : tcp; }
  void close() {
    error_code ignored;
    lowest().socket().close(ignored);
  }
  // An idle keep-alive connection is usable if the peer has neither closed it nor sent anything.
  bool looks_alive() {
    auto& sock = lowest().socket();
    if (!sock.is_open()) return false;
    char c;
    const auto n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

bool is_connection_loss(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::connection_aborted ||
         ec == net::error::broken_pipe || ec == net::error::not_connected ||
         ec == net::error::bad_descriptor || ec == ssl::error::stream_truncated;
}

std::string host_header(const TargetUrl& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  const bool default_port = t.port == (t.tls ? 443 : 80);
  std::string h = v6 ? fmt::format("[{}]", t.host) : t.host;
  if (!default_port) h += fmt::format(":{}", t.port);
  return h;
}

std::string tls_error_message(const error_code& ec, SSL* ssl) {
  std::string msg = ec.message();
  if (ssl) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
      msg = fmt::format("certificate verification failed: {}", X509_verify_cert_error_string(verify));
  }
  return msg;
}

// Parses a response straight into an HttpResponse: the status, the fields in order (Retry-After kept apart),
// and at most `max_body` bytes of the body; past that the response is marked truncated and reading stops
// (the read ends with http::error::body_limit). Beast's response_parser would first build its own fields
// container, copied again into the HttpResponse.
class ResponseParser final : public http::basic_parser<false> {
 public:
  explicit ResponseParser(size_t max_body) : max_body_(max_body) {}
  HttpResponse& response() { return response_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override {
    response_.status = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code&) override {
    // Values as Beast's fields kept them: without leading and trailing spaces and tabs.
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    response_.headers.emplace_back(std::string(name_string), std::string(value));
    if (name == http::field::retry_after && !response_.retry_after)
      response_.retry_after = std::string(value);
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(beast::string_view body, error_code& ec) override {
    const size_t room = max_body_ - response_.body.size();
    response_.body.append(body.data(), std::min(body.size(), room));
    if (body.size() > room) {
      response_.truncated = true;
      ec = http::error::body_limit;
    }
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  const size_t max_body_;
  HttpResponse response_;
};

}  // namespace

// ---- public small pieces ----

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::kInvalidUrl:
      return "invalid_url";
    case FailureKind::kInvalidRequest:
      return "invalid_request";
    case FailureKind::kBlockedAddress:
      return "blocked_address";
    case FailureKind::kDnsFailure:
      return "dns_failure";
    case FailureKind::kConnectFailed:
      return "connect_failed";
    case FailureKind::kConnectTimeout:
      return "connect_timeout";
    case FailureKind::kTlsFailed:
      return "tls_failed";
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kConnectionLost:
      return "connection_lost";
    case FailureKind::kProtocolError:
      return "protocol_error";
    case FailureKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

// ---- State ----

class HttpClient::State : public std::enable_shared_from_this<State> {
 public:
  class Attempt;

  State(net::any_io_executor ex, HttpClientOptions options)
      : executor_(std::move(ex)), options_(std::move(options)), ssl_ctx_(ssl::context::tls_client) {}

  Status init_tls() {
    SSL_CTX_set_min_proto_version(ssl_ctx_.native_handle(), TLS1_2_VERSION);
    ssl_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    error_code ec;
    ssl_ctx_.set_default_verify_paths(ec);
    if (ec) return Error::internal(fmt::format("cannot load the system CA certificates: {}", ec.message()));
    if (!options_.extra_ca_file.empty()) {
      ssl_ctx_.load_verify_file(options_.extra_ca_file, ec);
      if (ec) {
        return Error::validation("extra_ca_file", fmt::format("cannot load CA bundle \"{}\": {}",
                                                              options_.extra_ca_file, ec.message()));
      }
    }
    ssl_ctx_.set_verify_mode(ssl::verify_peer);
    return {};
  }

  // `self` is this state: the request's frame keeps it alive.
  net::awaitable<ClientResult<HttpResponse>> post(std::shared_ptr<State> self, HttpRequest req);
  void close_all();

  size_t idle_count() const {
    size_t n = 0;
    for (const auto& [k, v] : idle_) n += v.size();
    return n;
  }

  net::any_io_executor executor_;
  const HttpClientOptions options_;
  ssl::context ssl_ctx_;
  std::atomic<bool> stopped_{false};

 private:
  using RequestBytes = std::array<net::const_buffer, 2>;  // head, body
  struct Exchange {
    HttpResponse response;
    bool keep_alive = false;
  };
  struct ExchangeError {
    ClientError error;
    bool nothing_received = false;  // the connection failed before any response byte: safe to retry
  };

  // A URL validated by the guard, with what each request to it needs. Endpoints are few and sent to again and
  // again: they are parsed once (cached by URL text, on the client's executor), not per request.
  struct ParsedUrl {
    TargetUrl target;
    std::string origin;  // the keep-alive pool key
    std::string host;    // the Host header
  };
  Result<std::shared_ptr<const ParsedUrl>> parse_url(const std::string& text);
  std::unordered_map<std::string, std::shared_ptr<const ParsedUrl>> urls_;
  static constexpr size_t kMaxCachedUrls = 10'000;

  std::shared_ptr<Connection> take_idle(const std::string& origin);
  void release(const std::string& origin, std::shared_ptr<Connection> conn);
  void sweep(SteadyClock::time_point now);
  SteadyClock::time_point pool_now() const {
    return options_.pool_clock ? options_.pool_clock() : SteadyClock::now();
  }

  net::awaitable<ClientResult<std::shared_ptr<Connection>>> connect(
      std::shared_ptr<Attempt> attempt, TargetUrl target, std::chrono::milliseconds connect_timeout);
  template <class Stream>
  net::awaitable<std::variant<Exchange, ExchangeError>> exchange(std::shared_ptr<Attempt> attempt,
                                                                 Stream* stream, Connection* conn,
                                                                 std::string_view host, RequestBytes request);

  std::unordered_map<std::string, std::deque<std::shared_ptr<Connection>>> idle_;
  std::unordered_set<Attempt*> attempts_;
  SteadyClock::time_point last_sweep_{};
};

// One post() call: its deadline timer, its resolver and the connection it is using, so that a timer expiry
// or stop() can abort whatever the request is waiting on.
class HttpClient::State::Attempt : public std::enable_shared_from_this<Attempt> {
 public:
  enum class Abort { kNone, kConnectTimeout, kTimeout, kCancelled };

  Attempt(std::shared_ptr<State> state, SteadyClock::time_point total_deadline)
      : state_(std::move(state)), timer_(state_->executor_), total_deadline_(total_deadline) {
    state_->attempts_.insert(this);
  }
  ~Attempt() { state_->attempts_.erase(this); }

  void start() { arm(); }
  void finish() {
    done_ = true;
    conn_.reset();
    timer_.cancel();
  }
  void set_connect_deadline(SteadyClock::time_point at) {
    connect_deadline_ = at;
    arm();
  }
  void use(std::shared_ptr<Connection> conn) { conn_ = std::move(conn); }
  void abort(Abort why) {
    if (done_ || aborted_ != Abort::kNone) return;
    aborted_ = why;
    if (resolver_) resolver_->cancel();
    if (wake_) wake_->cancel();
    if (conn_) conn_->close();
  }

  // A wait that ends on wake() or on abort().
  net::awaitable<void> wait_for_wake() {
    if (aborted_ != Abort::kNone) co_return;
    if (!wake_) wake_.emplace(state_->executor_);
    wake_->expires_at(SteadyClock::time_point::max());
    co_await wake_->async_wait(kUse);
  }
  void wake() {
    if (wake_) wake_->cancel();
  }

  Abort aborted() const { return aborted_; }
  // Made on first use: a pooled connection needs neither the resolver nor the wake timer.
  tcp::resolver& resolver() {
    if (!resolver_) resolver_.emplace(state_->executor_);
    return *resolver_;
  }
  SteadyClock::time_point total_deadline() const { return total_deadline_; }

  // The error to report when the attempt was aborted (nullopt if it was not).
  std::optional<ClientError> abort_error(std::string_view host, std::string_view during) const {
    switch (aborted_) {
      case Abort::kNone:
        return std::nullopt;
      case Abort::kConnectTimeout:
        return fail(FailureKind::kConnectTimeout, fmt::format("connect to {} timed out", host));
      case Abort::kTimeout:
        return fail(FailureKind::kTimeout, fmt::format("request to {} timed out while {}", host, during));
      case Abort::kCancelled:
        return fail(FailureKind::kCancelled, "the HTTP client is stopping");
    }
    return std::nullopt;
  }

 private:
  void arm() {
    timer_.expires_at(std::min(total_deadline_, connect_deadline_));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->on_timer();
    });
  }
  void on_timer() {
    if (done_ || aborted_ != Abort::kNone) return;
    const auto now = SteadyClock::now();
    if (now >= total_deadline_) {
      abort(Abort::kTimeout);
    } else if (now >= connect_deadline_) {
      abort(Abort::kConnectTimeout);
    } else {
      arm();
    }
  }

  std::shared_ptr<State> state_;
  net::steady_timer timer_;
  std::optional<net::steady_timer> wake_;
  std::optional<tcp::resolver> resolver_;
  std::shared_ptr<Connection> conn_;
  SteadyClock::time_point total_deadline_;
  SteadyClock::time_point connect_deadline_ = SteadyClock::time_point::max();
  Abort aborted_ = Abort::kNone;
  bool done_ = false;
};

void HttpClient::State::close_all() {
  for (auto& [origin, conns] : idle_)
    for (auto& c : conns) c->close();
  idle_.clear();
  // abort() never touches attempts_, so iterating is safe.
  for (auto* a : attempts_) a->abort(Attempt::Abort::kCancelled);
}

void HttpClient::State::sweep(SteadyClock::time_point now) {
  if (now - last_sweep_ < kSweepEvery) return;
  last_sweep_ = now;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& conns = it->second;
    while (!conns.empty() && now - conns.front()->idle_since >= options_.idle_timeout) {
      conns.front()->close();
      conns.pop_front();
    }
    it = conns.empty() ? idle_.erase(it) : std::next(it);
  }
}

Result<std::shared_ptr<const HttpClient::State::ParsedUrl>> HttpClient::State::parse_url(
    const std::string& text) {
  if (auto it = urls_.find(text); it != urls_.end()) return it->second;
  auto target = options_.guard.validate_url(text);
  if (!target.ok()) return target.take_error();  // refusals are not cached (and are rare)
  auto parsed = std::make_shared<const ParsedUrl>(ParsedUrl{*target, target->origin(), host_header(*target)});
  if (urls_.size() >= kMaxCachedUrls) urls_.clear();  // crude bound
  urls_.emplace(text, parsed);
  return parsed;
}

// A connection idle for less than this is reused without a liveness peek: one system call per request
// saved under load. If its peer closed it meanwhile, the request fails before any answer and is retried on a
// fresh connection (see post), which is what the peek would have led to, one round trip later.
constexpr std::chrono::seconds kProbeAfter{1};

std::shared_ptr<Connection> HttpClient::State::take_idle(const std::string& origin) {
  const auto now = pool_now();
  sweep(now);
  auto it = idle_.find(origin);
  if (it == idle_.end()) return nullptr;
  auto& conns = it->second;
  std::shared_ptr<Connection> found;
  // Newest first: the most recently used connection is the most likely to still be open at the far end.
  while (!conns.empty() && !found) {
    auto c = std::move(conns.back());
    conns.pop_back();
    const auto idle = now - c->idle_since;
    if (idle < options_.idle_timeout && (idle < kProbeAfter || c->looks_alive())) {
      found = std::move(c);
    } else {
      c->close();
    }
  }
  if (conns.empty()) idle_.erase(it);
  return found;
}

void HttpClient::State::release(const std::string& origin, std::shared_ptr<Connection> conn) {
  if (stopped_.load() || options_.max_idle_per_origin == 0 || conn->buffer.size() != 0) {
    conn->close();
    return;
  }
  const auto now = pool_now();
  conn->idle_since = now;
  auto& conns = idle_[origin];
  conns.push_back(std::move(conn));
  while (conns.size() > options_.max_idle_per_origin) {
    conns.front()->close();
    conns.pop_front();
  }
  sweep(now);
}

net::awaitable<ClientResult<std::shared_ptr<Connection>>> HttpClient::State::connect(
    std::shared_ptr<Attempt> attempt, TargetUrl target, std::chrono::milliseconds connect_timeout) {
  // Resolve, then keep only the addresses the guard allows: this is the check that DNS rebinding cannot
  // get around, because we connect to exactly the addresses checked here.
  const std::string port = std::to_string(target.port);
  const auto flags = target.host_is_ip ? tcp::resolver::numeric_host : tcp::resolver::flags{};
  // Asio's resolver cancel() does not interrupt a getaddrinfo() in progress, so the wait for the answer is
  // separate from the resolution itself: a timeout or stop() wakes the waiter even if the lookup hangs.
  struct Resolved {
    error_code ec;
    tcp::resolver::results_type results;
    bool done = false;
  };
  auto resolved = std::make_shared<Resolved>();
  auto on_resolved = [attempt, resolved](error_code ec, tcp::resolver::results_type results) {
    resolved->ec = ec;
    resolved->results = std::move(results);
    resolved->done = true;
    attempt->wake();
  };
  attempt->resolver().async_resolve(target.host, port, flags, std::move(on_resolved));
  if (!resolved->done) co_await attempt->wait_for_wake();
  if (auto e = attempt->abort_error(target.host, "resolving")) co_return *e;
  if (resolved->ec) {
    co_return fail(FailureKind::kDnsFailure,
                   fmt::format("cannot resolve {}: {}", target.host, resolved->ec.message()));
  }
  const auto& results = resolved->results;
  std::vector<tcp::endpoint> allowed;
  std::string refused;
  for (const auto& entry : results) {
    const auto ep = entry.endpoint();
    auto st = options_.guard.check_address(ep.address());
    if (!st.ok()) {
      if (refused.empty()) refused = st.error().detail;
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), ep) == allowed.end()) allowed.push_back(ep);
  }
  if (allowed.empty()) {
    if (refused.empty()) {
      co_return fail(FailureKind::kDnsFailure, fmt::format("{} resolved to no address", target.host));
    }
    co_return fail(FailureKind::kBlockedAddress,
                   fmt::format("refusing to connect to {}: {}", target.host, refused));
  }

  auto conn = std::make_shared<Connection>(executor_);
  attempt->use(conn);
  attempt->set_connect_deadline(SteadyClock::now() + connect_timeout);
  error_code last;
  tcp::endpoint last_ep;
  bool connected = false;
  for (const auto& ep : allowed) {
    auto [ec] = co_await conn->tcp.async_connect(ep, kUse);
    if (auto e = attempt->abort_error(target.host, "connecting")) co_return *e;
    if (!ec) {
      connected = true;
      break;
    }
    last = ec;
    last_ep = ep;
    conn->close();
  }
  attempt->set_connect_deadline(SteadyClock::time_point::max());
  if (!connected) {
    co_return fail(FailureKind::kConnectFailed, fmt::format("cannot connect to {} ({}): {}", target.host,
                                                            last_ep.address().to_string(), last.message()));
  }
  error_code ignored;
  conn->tcp.socket().set_option(tcp::no_delay(true), ignored);

  if (target.tls) {
    conn->tls.emplace(std::move(conn->tcp), ssl_ctx_);
    SSL* ssl = conn->tls->native_handle();
    if (target.host_is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target.host.c_str());
    } else {
      // SNI (never for IP literals, per RFC 6066) and host name verification by OpenSSL during the handshake.
      SSL_set_tlsext_host_name(ssl, target.host.c_str());
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, target.host.c_str());
    }
    auto [ec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kUse);
    if (auto e = attempt->abort_error(target.host, "in the TLS handshake")) co_return *e;
    if (ec) {
      co_return fail(FailureKind::kTlsFailed, fmt::format("TLS handshake with {} failed: {}", target.host,
                                                          tls_error_message(ec, ssl)));
    }
  }
  co_return conn;
}

template <class Stream>
net::awaitable<std::variant<HttpClient::State::Exchange, HttpClient::State::ExchangeError>>
HttpClient::State::exchange(std::shared_ptr<Attempt> attempt, Stream* stream, Connection* conn,
                            std::string_view host, RequestBytes request) {
  using Out = std::variant<Exchange, ExchangeError>;
  auto lost = [&](std::string_view during, const error_code& ec, bool nothing_received) -> Out {
    if (auto e = attempt->abort_error(host, during)) return ExchangeError{*e, false};
    if (is_connection_loss(ec)) {
      return ExchangeError{
          fail(FailureKind::kConnectionLost,
               fmt::format("connection to {} lost while {}: {}", host, during, ec.message())),
          nothing_received};
    }
    if (ec == http::error::header_limit) {
      return ExchangeError{
          fail(FailureKind::kProtocolError, fmt::format("response header from {} larger than {} bytes", host,
                                                        options_.max_response_header)),
          false};
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return ExchangeError{fail(FailureKind::kProtocolError,
                                fmt::format("invalid HTTP response from {}: {}", host, ec.message())),
                           false};
    }
    return ExchangeError{fail(FailureKind::kConnectionLost,
                              fmt::format("I/O error with {} while {}: {}", host, during, ec.message())),
                         nothing_received};
  };

  {
    auto [ec, n] = co_await net::async_write(*stream, request, kUse);
    if (ec) co_return lost("sending the request", ec, true);
  }
  if (conn->buffer.size() == 0) {
    // Let the other work that is ready run first, then read. Asio tries a read at once; straight after the
    // write it would fail (the receiver has not answered yet) and cost a system call, as would waiting for
    // readability (an epoll_ctl each time). Under load the answer has usually arrived by the time this
    // coroutine is resumed, and the first read finds it; when idle, it resumes at once and costs what it
    // did before.
    co_await net::post(stream->get_executor(), net::use_awaitable);
  }

  std::optional<ResponseParser> parser;
  for (;;) {
    parser.emplace(options_.max_response_body);
    parser->header_limit(static_cast<std::uint32_t>(options_.max_response_header));
    parser->body_limit(boost::none);
    auto [ec, n] = co_await http::async_read_header(*stream, conn->buffer, *parser, kUse);
    if (ec) co_return lost("waiting for the response", ec, !parser->got_some() && conn->buffer.size() == 0);
    const unsigned status = parser->response().status;
    if (status < 100 || status >= 200 || status == 101) break;
    // An interim 1xx response: skip it (it has no body) and read the real one.
    if (!parser->is_done()) {
      auto [ec2, n2] = co_await http::async_read(*stream, conn->buffer, *parser, kUse);
      if (ec2) co_return lost("reading the response", ec2, false);
    }
  }
  if (!parser->is_done()) {
    auto [ec, n] = co_await http::async_read(*stream, conn->buffer, *parser, kUse);
    if (ec && !(ec == http::error::body_limit && parser->response().truncated))
      co_return lost("reading the response body", ec, false);
  }
  Exchange out;
  out.keep_alive = parser->is_done() && parser->keep_alive();
  out.response = std::move(parser->response());
  co_return out;
}

net::awaitable<ClientResult<HttpResponse>> HttpClient::State::post(std::shared_ptr<State> self,
                                                                   HttpRequest req) {
  const auto start = SteadyClock::now();
  if (stopped_.load()) co_return fail(FailureKind::kCancelled, "the HTTP client is stopping");
  auto parsed = parse_url(req.url);
  if (!parsed.ok()) co_return fail(FailureKind::kInvalidUrl, parsed.error().detail);
  const std::shared_ptr<const ParsedUrl> url = std::move(*parsed);  // kept by this frame
  if (auto bad = bad_header(req.headers)) co_return std::move(*bad);
  const TargetUrl* target = &url->target;

  const auto total = req.total_timeout.count() > 0 ? req.total_timeout : options_.total_timeout;
  const auto connect_timeout =
      req.connect_timeout.count() > 0 ? req.connect_timeout : options_.connect_timeout;
  auto attempt = std::make_shared<Attempt>(std::move(self), start + total);
  attempt->start();
  struct Finish {
    Attempt* a;
    ~Finish() { a->finish(); }
  } finish{attempt.get()};
  if (stopped_.load()) co_return fail(FailureKind::kCancelled, "the HTTP client is stopping");

  // The request head, written here rather than through Beast's serializer (which cost more than the rest of
  // the exchange), byte for byte as Beast wrote it: Host, the fields for_each_sent_field gives (the caller's
  // headers and the client's defaults), Content-Length. The body follows as a second buffer, not copied.
  const std::string& host = url->host;
  size_t head_size = target->target.size() + host.size() + options_.user_agent.size() + 96;
  for (const auto& [name, value] : req.headers) head_size += name.size() + value.size() + 4;
  std::string head;
  head.reserve(head_size);
  auto add_field = [&head](std::string_view name, std::string_view value) {
    head.append(name).append(": ").append(value).append("\r\n");
  };
  head.append("POST ").append(target->target).append(" HTTP/1.1\r\n");
  add_field("Host", host);
  for_each_sent_field(req.headers, options_.user_agent, add_field);
  add_field("Content-Length", std::to_string(req.body.size()));
  head.append("\r\n");
  const RequestBytes request{net::buffer(head), net::buffer(req.body)};

  const std::string& origin = url->origin;
  std::shared_ptr<Connection> conn = take_idle(origin);
  for (;;) {
    const bool reused = conn != nullptr;
    if (!conn) {
      auto c = co_await connect(attempt, *target, connect_timeout);
      if (!c.ok()) co_return c.error();
      conn = std::move(*c);
    }
    attempt->use(conn);
    std::variant<Exchange, ExchangeError> r;
    if (conn->tls) {
      r = co_await exchange(attempt, &*conn->tls, conn.get(), host, request);
    } else {
      r = co_await exchange(attempt, &conn->tcp, conn.get(), host, request);
    }
    if (auto* err = std::get_if<ExchangeError>(&r)) {
      conn->close();
      conn.reset();
      // A pooled connection the peer had closed: the request never got an answer, try once more afresh.
      if (reused && err->nothing_received && attempt->aborted() == Attempt::Abort::kNone) continue;
      co_return err->error;
    }
    auto& ex = std::get<Exchange>(r);
    attempt->finish();  // before release: a late timer must not close a pooled connection
    if (ex.keep_alive && !ex.response.truncated) {
      release(origin, std::move(conn));
    } else {
      conn->close();
    }
    ex.response.reused_connection = reused;
    ex.response.duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    co_return std::move(ex.response);
  }
}

// ---- HttpClient ----

Result<std::unique_ptr<HttpClient>> HttpClient::create(net::any_io_executor executor,
                                                       HttpClientOptions options) {
  auto state = std::make_shared<State>(std::move(executor), std::move(options));
  auto st = state->init_tls();
  if (!st.ok()) return st.take_error();
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(state)));
}

HttpClient::HttpClient(std::shared_ptr<State> state) : state_(std::move(state)) {}

HttpClient::~HttpClient() { stop(); }

net::awaitable<ClientResult<HttpResponse>> HttpClient::post(HttpRequest req) {
  return state_->post(state_, std::move(req));  // in-flight requests keep the state alive
}

void HttpClient::stop() {
  if (state_->stopped_.exchange(true)) return;
  net::dispatch(state_->executor_, [state = state_] { state->close_all(); });
}

size_t HttpClient::idle_connections() const { return state_->idle_count(); }

const HttpClientOptions& HttpClient::options() const { return state_->options_; }

}  // namespace hookwire::delivery
