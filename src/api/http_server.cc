#include "api/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cassert>
#include <condition_variable>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/errors.h"
#include "api/request_framing.h"
#include "core/clock.h"
#include "core/log_throttle.h"

namespace hookwire::api {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kUse = net::as_tuple(net::use_awaitable);
constexpr std::string_view kUnmatched = "unmatched";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After an error response we stop sending and read (and discard) what the client is still sending, so that
// closing does not reset the connection before the client has read the response.
constexpr std::chrono::milliseconds kLingerMax{1000};
constexpr size_t kLingerBytes = 1 << 20;
// write_response()'s reused buffer (the head; over TLS the body too) is let go past this size.
constexpr size_t kLargeHead = 64 << 10;
// After a refusal on the head (401, 404, 503...) the announced body is not wanted: drain only a little.
constexpr size_t kEarlyLingerBytes = 64 << 10;
// Read capacity of a connection's buffer. Beast reads at most the buffer's free capacity per call (and 512
// bytes into an empty flat_buffer), so without this a 1.2 KB request costs three recvmsg calls and three
// trips through the event loop. 8 KiB holds a typical API request (headers and body) in one read; bigger
// bodies grow it.
constexpr size_t kReadCapacity = 8 << 10;

std::string_view method_label(http::verb v) {
  if (v == http::verb::unknown) return "OTHER";
  const auto s = http::to_string(v);
  return {s.data(), s.size()};
}

struct SeriesKey {
  const char* route;  // identity of the route pattern (Router storage) or kUnmatched
  http::verb method;
  unsigned status;
  bool operator==(const SeriesKey&) const = default;
};
struct SeriesKeyHash {
  size_t operator()(const SeriesKey& k) const {
    return std::hash<const void*>{}(k.route) ^ (static_cast<size_t>(k.method) << 20) ^
           (static_cast<size_t>(k.status) * 0x9E3779B97F4A7C15ull);
  }
};

// The server-wide budget of body bytes that requests not yet authenticated may hold at once. take() is one
// atomic add (and a subtract when refused); only bodies not already in the read buffer take from it.
class BodyBudget {
 public:
  explicit BodyBudget(size_t limit) : limit_(limit) {}

  // A share of the budget, given back when destroyed.
  class Hold {
   public:
    Hold() = default;
    Hold(BodyBudget* budget, size_t bytes) : budget_(budget), bytes_(bytes) {}
    Hold(Hold&& o) noexcept : budget_(std::exchange(o.budget_, nullptr)), bytes_(o.bytes_) {}
    Hold& operator=(Hold&& o) noexcept {
      if (this != &o) {
        release();
        budget_ = std::exchange(o.budget_, nullptr);
        bytes_ = o.bytes_;
      }
      return *this;
    }
    ~Hold() { release(); }
    explicit operator bool() const { return budget_ != nullptr; }

   private:
    void release() {
      if (budget_) budget_->used_.fetch_sub(bytes_, std::memory_order_relaxed);
      budget_ = nullptr;
    }
    BodyBudget* budget_ = nullptr;
    size_t bytes_ = 0;
  };

  // An empty Hold when `bytes` does not fit in what is left.
  Hold take(size_t bytes) {
    const size_t before = used_.fetch_add(bytes, std::memory_order_relaxed);
    if (bytes > limit_ || before > limit_ - bytes) {
      used_.fetch_sub(bytes, std::memory_order_relaxed);
      return {};
    }
    return Hold(this, bytes);
  }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

// 404, or 405 with Allow, for a request no route takes.
Response no_route_response(const Router::Match& match) {
  if (match.allowed.empty()) return error_response(Error::not_found("no such path"));
  auto res = error_response(http::status::method_not_allowed, "method_not_allowed", "method not allowed");
  std::string allow;
  for (auto v : match.allowed) {
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(v);
  }
  res.set(http::field::allow, allow);
  return res;
}

}  // namespace

class HttpServer::State {
 public:
  class Connection;

  // Counts one accepted connection for its whole life (including a connection that never got to run).
  enum class Admit { kServe, kRefuse, kDrop };
  class Ticket {
   public:
    Ticket(State* state, Admit admit) : state_(state), admit_(admit) {}
    Ticket(Ticket&& o) noexcept : state_(std::exchange(o.state_, nullptr)), admit_(o.admit_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (state_) state_->release(admit_);
    }
    // kServe: within max_connections; kRefuse: over it, answered 503; kDrop: over it while
    // HttpServer::kMaxRefusing others are being answered 503: closed at once.
    Admit admit() const { return admit_; }

   private:
    State* state_;
    Admit admit_;
  };

  // One event loop: its io_context, its connections and its cache of metric series. Everything but the
  // io_context itself is touched only from the loop's thread.
  struct Loop {
    explicit Loop(State& s) : state(s) {}
    // Counts a response in the metrics; a refusal of credentials (401, 403) is also logged (throttled per
    // client address and status), so an operator sees who is being refused where.
    void record(std::string_view route, http::verb method, unsigned status, double seconds,
                const net::ip::address& peer);

    State& state;
    std::list<Connection*> connections;
    std::unordered_map<SeriesKey, metrics::Counter*, SeriesKeyHash> requests;
    std::unordered_map<const char*, metrics::Histogram*> durations;
    net::io_context ioc{1};  // last: destroyed first, while the members above are still alive
  };

  State(ServerOptions options, const Router& router, metrics::Registry& metrics)
      : options_(std::move(options)),
        router_(router),
        metrics_(metrics),
        open_gauge_(metrics.gauge("http_connections_open", "Open HTTP connections.")),
        accept_failures_(
            metrics.counter("http_accept_failures_total",
                            "Failed accepts of a client connection (EMFILE: out of descriptors).")),
        budget_refusals_(metrics.counter(
            "http_body_budget_refusals_total",
            "Requests answered 503 because unauthenticated bodies already held the whole budget.")),
        streams_gauge_(metrics.gauge("http_streams_open", "Streamed responses (server-sent events) open.")),
        stream_refusals_(metrics.counter("http_stream_refusals_total",
                                         "Streams answered 503 because max_streams were already open.")),
        stream_drops_(metrics.counter(
            "http_stream_write_timeouts_total",
            "Stream clients dropped because they did not take a write within stream_write_timeout.")),
        handshake_failures_(
            metrics.counter("http_tls_handshake_failures_total",
                            "TLS handshakes that failed or did not finish within the first-byte timeout.")),
        body_budget_(options_.unauthenticated_body_budget) {
    const int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<Loop>(*this));
  }

  Result<tcp::endpoint> listen(const std::string& host, uint16_t port);
  void start();
  void stop();

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  size_t open_connections() {
    std::lock_guard lock(count_mu_);
    return open_;
  }

  const ServerOptions options_;
  const Router& router_;
  metrics::Registry& metrics_;
  LogThrottle refusal_log_{SystemClock::instance()};  // Loop::record's 401/403 lines

  // One of max_streams, or false (then counted and logged once per episode).
  bool take_stream() {
    std::lock_guard lock(count_mu_);
    if (streams_ >= options_.max_streams) {
      stream_refusals_.inc();
      const auto now = SteadyClock::now();
      if (now - last_stream_refusal_ > std::chrono::minutes(1))
        spdlog::warn("http: {} streams open (the cap, --max-streams): answering new streams 503", streams_);
      last_stream_refusal_ = now;
      return false;
    }
    streams_gauge_.set(static_cast<double>(++streams_));
    return true;
  }
  void release_stream() {
    std::lock_guard lock(count_mu_);
    streams_gauge_.set(static_cast<double>(--streams_));
  }
  void note_stream_drop() { stream_drops_.inc(); }

  // Counts a failed TLS handshake and logs it (throttled per client address).
  void note_handshake_failure(const net::ip::address& peer, std::string_view why) {
    handshake_failures_.inc();
    const std::string who = peer.to_string();
    if (auto verdict = handshake_log_.admit(who))
      spdlog::warn("http: TLS handshake with {} failed: {}{}", who, why,
                   verdict.suppressed ? fmt::format(" ({} similar suppressed)", verdict.suppressed) : "");
  }

  // Counts a refusal; logs one line per episode (the first refusal after a minute without any).
  void note_budget_full() {
    budget_refusals_.inc();
    const auto now = SteadyClock::now().time_since_epoch().count();
    auto last = last_budget_refusal_.exchange(now, std::memory_order_relaxed);
    if (now - last > std::chrono::duration_cast<SteadyClock::duration>(std::chrono::minutes(1)).count())
      spdlog::warn(
          "http: unauthenticated request bodies hold the whole budget of {} bytes: answering 503 "
          "(--unauthenticated-body-budget)",
          options_.unauthenticated_body_budget);
  }

 private:
  Ticket acquire() {
    std::lock_guard lock(count_mu_);
    ++live_;
    if (open_ < options_.max_connections) {
      open_gauge_.set(static_cast<double>(++open_));
      return Ticket(this, Admit::kServe);
    }
    if (refusing_ < kMaxRefusing) {
      ++refusing_;
      return Ticket(this, Admit::kRefuse);
    }
    return Ticket(this, Admit::kDrop);
  }
  void release(Admit admit) {
    std::lock_guard lock(count_mu_);
    --live_;
    if (admit == Admit::kServe) open_gauge_.set(static_cast<double>(--open_));
    if (admit == Admit::kRefuse) --refusing_;
    if (live_ == 0) count_cv_.notify_all();
  }
  // Runs fn on every loop and waits until all have run it.
  template <class Fn>
  void on_every_loop(Fn fn);
  static net::awaitable<void> accept_loop(State* state);

  metrics::Gauge& open_gauge_;
  metrics::Counter& accept_failures_;
  metrics::Counter& budget_refusals_;
  metrics::Gauge& streams_gauge_;
  metrics::Counter& stream_refusals_;
  metrics::Counter& stream_drops_;
  metrics::Counter& handshake_failures_;
  LogThrottle handshake_log_{SystemClock::instance()};
  std::atomic<SteadyClock::rep> last_budget_refusal_{std::numeric_limits<SteadyClock::rep>::min() / 2};
  std::atomic<bool> stopping_{false};

 public:
  BodyBudget body_budget_;

 private:
  std::mutex count_mu_;
  std::condition_variable count_cv_;
  size_t open_ = 0;      // served connections (the gauge, the cap)
  size_t live_ = 0;      // every connection, including those being answered 503
  size_t refusing_ = 0;  // connections being answered 503 (at most kMaxRefusing)
  size_t streams_ = 0;   // streamed responses open (at most max_streams)
  SteadyClock::time_point last_stream_refusal_{};

  std::mutex stop_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::thread> threads_;

  // Destroyed in reverse order: the acceptor and work guards before the loops, the loops (whose io_context
  // destructors may destroy suspended connections) before the counters above.
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::optional<tcp::acceptor> acceptor_;
};

// One TCP connection: a coroutine that reads requests one after the other and answers them, and a deadline
// timer (`deadline_`) whose meaning depends on the phase: waiting for a request (idle_timeout: close),
// reading one (request_timeout: 408 then close), running its handler (none), writing (close), streaming (a
// write pending longer than stream_write_timeout: close; none between writes).
class HttpServer::State::Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kStreaming, kClosing };

  Connection(State& state, Loop& loop, tcp::socket socket, Ticket ticket,
             std::shared_ptr<net::ssl::context> tls)
      : state_(state),
        loop_(loop),
        opts_(state.options_),
        limits_{state.options_.header_limit, state.options_.body_limit},
        ticket_(std::move(ticket)),
        socket_(std::move(socket)),
        tls_context_(std::move(tls)),
        timer_(loop.ioc) {
    error_code ignored;
    peer_ = socket_.remote_endpoint(ignored).address();
    buffer_.reserve(kReadCapacity);
    socket_.non_blocking(true, ignored);
    if (tls_context_) tls_.emplace(socket_, *tls_context_);
  }

  ~Connection() {
    if (registered_) loop_.connections.erase(self_);
  }

  static net::awaitable<void> run(State* state, Loop* loop, tcp::socket socket, Ticket ticket,
                                  std::shared_ptr<net::ssl::context> tls) {
    auto self =
        std::make_shared<Connection>(*state, *loop, std::move(socket), std::move(ticket), std::move(tls));
    self->self_ = loop->connections.insert(loop->connections.end(), self.get());
    self->registered_ = true;
    try {
      switch (self->ticket_.admit()) {
        case Admit::kServe:
          if (!self->tls_ || co_await self->handshake()) co_await self->serve();
          break;
        case Admit::kRefuse:
          // Over the cap, a TLS client is not worth a handshake to tell it so: closed.
          if (self->tls_)
            self->close_socket();
          else
            co_await self->reject();
          break;
        case Admit::kDrop:
          self->close_socket();
          break;
      }
    } catch (const std::exception& e) {
      spdlog::error("http: connection failed: {}", e.what());
    }
    self->finish();
  }

  // stop(): a connection waiting for its next request closes at once; a stream is told to finish.
  void close_if_idle() {
    if ((phase_ == Phase::kIdle && buffer_.size() == 0) || phase_ == Phase::kClosing) close_socket();
    if (phase_ == Phase::kStreaming) {
      stream_stopping_ = true;
      interrupt_stream();
    }
  }
  // stop() after drain_timeout.
  void force_close() {
    close_socket();
    stream_gone_ = true;
    interrupt_stream();
    finish();
  }

 private:
  net::awaitable<void> serve();
  net::awaitable<bool> handshake();
  net::awaitable<void> reject();
  net::awaitable<void> fail(error_code ec);
  net::awaitable<void> send_error_and_close(Response res, std::string_view route, http::verb method,
                                            SteadyClock::time_point start,
                                            size_t linger_bytes = kLingerBytes);
  net::awaitable<void> linger_close(size_t linger_bytes);
  // The rest of the request's body is already in the read buffer (or it has none).
  bool body_buffered() const {
    if (parser_->is_done()) return true;
    const auto declared = parser_->content_length();
    return declared && *declared <= buffer_.size();
  }
  net::awaitable<error_code> write_response(const Response& res);
  void serialize_head(const Response& res);

  // An I/O operation on the connection's stream: the TLS stream when there is one, else the socket. `op`
  // takes the stream and returns the operation's awaitable.
  template <class Op>
  auto on_stream(Op&& op) -> decltype(op(std::declval<tcp::socket&>())) {
    if (tls_) return op(*tls_);
    return op(socket_);
  }
  // Ends what the server sends: over TLS, close_notify first (which waits for the client's, so the caller
  // sets a deadline), then the TCP FIN. False when the connection is already broken.
  net::awaitable<bool> close_output() {
    if (tls_) co_await tls_->async_shutdown(kUse);
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    co_return !ec;
  }

  // Streamed responses (PathParams::stream).
  class Writer;
  net::awaitable<void> run_stream(Response head, StreamBody body, std::string_view route, http::verb method,
                                  SteadyClock::time_point start);
  static net::awaitable<void> stream_entry(StreamBody body, StreamWriter* writer);
  static net::awaitable<void> watch_stream_client(std::shared_ptr<Connection> self);
  // Ends the wait the stream's body is in (once: the body checks stopping()/closed() before each wait).
  void interrupt_stream() {
    if (!streaming_ || interrupted_) return;
    interrupted_ = true;
    stream_cancel_.emit(net::cancellation_type::terminal);
  }

  void finish() {
    closed_ = true;
    timer_.cancel();
  }
  void close_socket() {
    error_code ignored;
    socket_.close(ignored);
  }

  void set_deadline(Phase phase, SteadyClock::time_point deadline) {
    phase_ = phase;
    deadline_ = deadline;
    // The timer only ever moves earlier here; when it fires early it re-arms itself for the later deadline.
    // So a request on a keep-alive connection usually costs no timer operation at all.
    if (deadline < timer_expiry_) arm(deadline);
  }
  void arm(SteadyClock::time_point at) {
    timer_expiry_ = at;
    timer_.expires_at(at);  // cancels a pending wait: its handler sees operation_aborted and does nothing
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
  }
  void on_timer(error_code ec) {
    if (ec || closed_) return;
    timer_expiry_ = SteadyClock::time_point::max();
    if (SteadyClock::now() < deadline_) {
      if (deadline_ != SteadyClock::time_point::max()) arm(deadline_);
      return;
    }
    if (phase_ == Phase::kReading) {
      // Cancel the read but keep the socket: the coroutine answers 408.
      timed_out_ = true;
      error_code ignored;
      socket_.cancel(ignored);
    } else {
      if (phase_ == Phase::kStreaming && !stream_gone_) {
        // A stream write the client did not take in time: drop the client.
        state_.note_stream_drop();
        stream_gone_ = true;
        interrupt_stream();
      }
      close_socket();
    }
  }
  SteadyClock::duration short_timeout() const {
    return std::min<SteadyClock::duration>(opts_.request_timeout, kLingerMax);
  }

  State& state_;
  Loop& loop_;
  const ServerOptions& opts_;
  const FramingLimits limits_;
  Ticket ticket_;
  tcp::socket socket_;  // non-blocking: write_response() tries a synchronous send first
  // TLS listener: the context the handshake used (kept alive while the connection is), and the stream over
  // socket_ that every read and write of the connection goes through (on_stream).
  std::shared_ptr<net::ssl::context> tls_context_;
  std::optional<net::ssl::stream<tcp::socket&>> tls_;
  beast::flat_buffer buffer_;
  std::string head_;  // write_response()'s status line and header fields, reused
  std::optional<RequestParser> parser_;
  Framing framing_;
  net::steady_timer timer_;
  SteadyClock::time_point request_start_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point timer_expiry_ = SteadyClock::time_point::max();  // max: no wait pending
  Phase phase_ = Phase::kIdle;
  bool timed_out_ = false;
  bool closed_ = false;
  bool registered_ = false;
  // Streaming state (loop thread only).
  bool streaming_ = false;        // the stream's body is running
  bool interrupted_ = false;      // stream_cancel_ was emitted
  bool stream_stopping_ = false;  // the server is stopping (StreamWriter::stopping)
  bool stream_gone_ = false;      // the client went away or a write failed (StreamWriter::closed)
  bool watcher_done_ = false;     // watch_stream_client() returned
  net::cancellation_signal stream_cancel_;
  std::optional<net::steady_timer> watcher_end_;  // cancelled when the watcher returns
  std::list<Connection*>::iterator self_;
  net::ip::address peer_;
};

void HttpServer::State::Loop::record(std::string_view route, http::verb method, unsigned status,
                                     double seconds, const net::ip::address& peer) {
  if (route.empty()) route = kUnmatched;
  if (status == 401 || status == 403) {
    // Only what the server made of the request: the route's pattern, a known method, the peer's address.
    const std::string who = peer.to_string();
    if (auto verdict = state.refusal_log_.admit(fmt::format("{}/{}", who, status))) {
      spdlog::warn("http: refused {} {} {} from {}{}", status, method_label(method), route, who,
                   verdict.suppressed ? fmt::format(" ({} similar suppressed)", verdict.suppressed) : "");
    }
  }
  const SeriesKey key{route.data(), method, status};
  auto it = requests.find(key);
  if (it == requests.end()) {
    auto& c = state.metrics_.counter("http_requests_total", "HTTP requests by route, method and status.",
                                     {{"route", std::string(route)},
                                      {"method", std::string(method_label(method))},
                                      {"status", std::to_string(status)}});
    it = requests.emplace(key, &c).first;
  }
  it->second->inc();
  auto dit = durations.find(route.data());
  if (dit == durations.end()) {
    auto& h = state.metrics_.histogram(
        "http_request_duration_seconds",
        "HTTP request duration, from its first byte to its response being ready, by route.",
        metrics::latency_buckets(), {{"route", std::string(route)}});
    dit = durations.emplace(route.data(), &h).first;
  }
  dit->second->observe(seconds);
}

net::awaitable<void> HttpServer::State::Connection::serve() {
  for (bool first = true;; first = false) {
    if (state_.stopping()) co_return;
    if (buffer_.size() == 0) {
      // Between requests: wait for the first byte under the idle timeout (a new connection: the shorter
      // first-byte timeout, so one that never sends a byte does not hold a slot for long). Let the other
      // work that is ready run first, then read: Asio tries a read at once, and straight after our answer it
      // would fail (the client sends its next request only after reading it) and cost a system call, as
      // would waiting for readability (an epoll_ctl each time). Under load the next request has usually
      // arrived by the time this coroutine is resumed; when idle, it resumes at once and costs what it did
      // before.
      set_deadline(Phase::kIdle,
                   SteadyClock::now() + (first ? opts_.first_byte_timeout : opts_.idle_timeout));
      co_await net::post(socket_.get_executor(), net::use_awaitable);
      auto [ec, n] = co_await on_stream([&](auto& s) {
        return s.async_read_some(buffer_.prepare(beast::read_size(buffer_, kReadCapacity)), kUse);
      });
      if (ec) co_return;
      buffer_.commit(n);
    }
    const auto start = request_start_ = SteadyClock::now();
    timed_out_ = false;
    set_deadline(Phase::kReading, start + opts_.request_timeout);
    parser_.emplace();
    start_request(*parser_, limits_);
    if (auto ec = feed(*parser_, buffer_); ec) co_return co_await fail(ec);
    if (!parser_->is_header_done()) {
      auto [ec, n] =
          co_await on_stream([&](auto& s) { return http::async_read_header(s, buffer_, *parser_, kUse); });
      if (ec || timed_out_) co_return co_await fail(ec);
    }
    const auto method = parser_->get().method();
    if (auto refused = check_head(*parser_, framing_))
      co_return co_await send_error_and_close(std::move(*refused), {}, method, start);

    // On the head, before any body byte is read: the route (404, 405), its admission (e.g. 401), and for a
    // caller not authenticated by it, room in the budget of unauthenticated body bytes (503).
    auto match = state_.router_.match(method, parser_->get().target());
    match.params.set_peer(peer_);
    StreamBody stream_body;
    match.params.set_stream_slot(&stream_body);
    std::optional<Response> early;
    BodyBudget::Hold hold;
    size_t body_limit = opts_.body_limit;
    if (!match.handler) {
      early = no_route_response(match);
    } else if (match.admission->check_route) {
      Admission::Route route{match.params, body_limit};
      early = match.admission->check_route(parser_->get(), route);
      if (!early && route.wait && match.admission->wait) {
        co_await match.admission->wait(parser_->get(), match.params);
        if (timed_out_) co_return co_await fail({});
        route.wait = false;
        early = match.admission->check_route(parser_->get(), route);
      }
      if (!early && route.body_limit < body_limit) {
        body_limit = route.body_limit;
        const auto declared = parser_->content_length();
        if (declared && *declared > body_limit)
          early = read_error_response(http::error::body_limit, parser_->get().version());
        else
          parser_->body_limit(body_limit);
      }
    } else if (match.admission->check) {
      early = match.admission->check(parser_->get());
    }
    if (!early && !match.admission->authenticates && !body_buffered()) {
      const auto declared = parser_->content_length();
      hold = state_.body_budget_.take(declared ? static_cast<size_t>(*declared) : body_limit);
      if (!hold) {
        state_.note_budget_full();
        early = error_response(Error::unavailable("too many requests in progress; retry later"),
                               parser_->get().version(), false);
        early->set(http::field::retry_after, "1");
      }
    }
    if (early) early->version(parser_->get().version());
    if (early && !body_buffered()) {
      // The body is not read: answer and close (draining little, so a refused client cannot keep us busy).
      co_return co_await send_error_and_close(std::move(*early), match.route, method, start,
                                              kEarlyLingerBytes);
    }

    if (!parser_->is_done()) {
      parser_->eager(true);
      if (auto ec = feed(*parser_, buffer_); ec) co_return co_await fail(ec);
    }
    if (!parser_->is_done()) {
      const auto& head = parser_->get();
      if (head.version() >= 11 && beast::iequals(head[http::field::expect], "100-continue")) {
        auto [ec, n] =
            co_await on_stream([](auto& s) { return net::async_write(s, net::buffer(kContinue), kUse); });
        if (ec || timed_out_) co_return co_await fail(ec);
      }
      auto [ec, n] =
          co_await on_stream([&](auto& s) { return http::async_read(s, buffer_, *parser_, kUse); });
      if (ec || timed_out_) co_return co_await fail(ec);
    }
    if (auto refused = check_complete(*parser_, framing_))
      co_return co_await send_error_and_close(std::move(*refused), match.route, method, start);

    set_deadline(Phase::kHandling, SteadyClock::time_point::max());
    Request req = parser_->release();
    Response res;
    if (early) {
      res = std::move(*early);
    } else {
      bool failed = false;
      try {
        res = co_await (*match.handler)(req, match.params);
      } catch (const std::exception& e) {
        spdlog::error("http: handler for {} {} threw: {}", method_label(method), match.route, e.what());
        failed = true;
      } catch (...) {
        spdlog::error("http: handler for {} {} threw a non-exception", method_label(method), match.route);
        failed = true;
      }
      if (failed) res = error_response(Error::internal("internal server error"));
    }
    if (stream_body && res.result_int() / 100 == 2 && method != http::verb::head) {
      if (state_.take_stream()) {
        res.version(req.version());
        co_return co_await run_stream(std::move(res), std::move(stream_body), match.route, method, start);
      }
      res = error_response(Error::unavailable("too many streams open; retry later"), req.version(), false);
      res.set(http::field::retry_after, "1");
    }

    const bool handler_close = http::token_list(res[http::field::connection]).exists("close");
    const bool keep_alive = req.keep_alive() && !handler_close && !state_.stopping();
    res.version(req.version());
    res.keep_alive(keep_alive);
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    // HEAD: the GET response's headers (Content-Length included, the serializer leaves it alone), no body.
    if (method == http::verb::head) res.body().clear();

    // Recorded before the write, so a client that has its response also sees it counted.
    const auto now = SteadyClock::now();
    loop_.record(match.route, method, res.result_int(), std::chrono::duration<double>(now - start).count(),
                 peer_);
    set_deadline(Phase::kWriting, now + opts_.request_timeout);
    if (auto ec = co_await write_response(res); ec) co_return;
    if (!keep_alive) {
      if (tls_) set_deadline(Phase::kClosing, SteadyClock::now() + short_timeout());
      co_await close_output();
      co_return;
    }
  }
}

// The status line and fields of `res`, as they go on the wire, into head_ (reused: no allocation once warm).
void HttpServer::State::Connection::serialize_head(const Response& res) {
  head_.clear();
  head_ += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head_ += std::to_string(res.result_int());
  head_ += ' ';
  head_ += res.reason();
  head_ += "\r\n";
  for (const auto& field : res) {
    head_ += field.name_string();
    head_ += ": ";
    head_ += field.value();
    head_ += "\r\n";
  }
  head_ += "\r\n";
}

// Writes a response whose length is known as two buffers (status line and fields, then the body) and tries to
// send them at once on the non-blocking socket: a small answer on a healthy connection costs one sendmsg and
// no trip through the event loop. Whatever the kernel did not take is written asynchronously. Chunked
// responses go through Beast's serializer.
net::awaitable<error_code> HttpServer::State::Connection::write_response(const Response& res) {
  if (res.chunked()) {
    auto [ec, n] = co_await on_stream([&](auto& s) { return http::async_write(s, res, kUse); });
    co_return ec;
  }
  serialize_head(res);
  if (tls_) {
    // One buffer: the TLS stream writes one record per buffer of a sequence. A large body's copy is not kept.
    head_.append(res.body());
    auto [ec, n] = co_await net::async_write(*tls_, net::buffer(head_), kUse);
    if (head_.capacity() > kLargeHead) std::string().swap(head_);
    co_return ec;
  }
  const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(res.body())};
  error_code ec;
  const size_t sent = socket_.write_some(buffers, ec);
  if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
  if (ec) co_return ec;
  if (sent == head_.size() + res.body().size()) co_return error_code{};
  beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(buffers);
  rest.consume(sent);
  auto [wec, n] = co_await net::async_write(socket_, rest, kUse);
  co_return wec;
}

// The StreamWriter a stream's body writes through: one write at a time, each under stream_write_timeout.
class HttpServer::State::Connection::Writer : public StreamWriter {
 public:
  explicit Writer(Connection& c) : c_(c) {}
  net::awaitable<bool> write(std::string data) override {
    if (c_.stream_gone_) co_return false;
    c_.set_deadline(Phase::kStreaming, SteadyClock::now() + c_.opts_.stream_write_timeout);
    // Not cancelled with the body's wait (an empty slot): a stopping stream's last event goes out whole.
    auto [ec, n] = co_await c_.on_stream([&](auto& s) {
      return net::async_write(s, net::buffer(data),
                              net::bind_cancellation_slot(net::cancellation_slot(), kUse));
    });
    c_.deadline_ = SteadyClock::time_point::max();
    if (ec) {
      c_.stream_gone_ = true;
      co_return false;
    }
    co_return !c_.stream_gone_;
  }
  bool stopping() const override { return c_.stream_stopping_ || c_.state_.stopping(); }
  bool closed() const override { return c_.stream_gone_; }

 private:
  Connection& c_;
};

// Writes the head, then runs the body (its own coroutine, cancellable through stream_cancel_) while a
// watcher reads the socket to notice a client that goes away; then closes: shutdown, and the watcher waits
// (up to a short timeout) for the client's end so that nothing unread resets the connection.
net::awaitable<void> HttpServer::State::Connection::run_stream(Response head, StreamBody body,
                                                               std::string_view route, http::verb method,
                                                               SteadyClock::time_point start) {
  struct Release {
    State& state;
    ~Release() { state.release_stream(); }
  } release{state_};
  head.keep_alive(false);
  head.erase(http::field::content_length);
  head.erase(http::field::transfer_encoding);
  head.body().clear();
  const auto now = SteadyClock::now();
  loop_.record(route, method, head.result_int(), std::chrono::duration<double>(now - start).count(), peer_);
  streaming_ = true;
  stream_stopping_ = state_.stopping();
  set_deadline(Phase::kStreaming, now + opts_.stream_write_timeout);
  serialize_head(head);
  auto [ec, n] = co_await on_stream([&](auto& s) { return net::async_write(s, net::buffer(head_), kUse); });
  deadline_ = SteadyClock::time_point::max();
  if (ec) {
    streaming_ = false;
    co_return;
  }
  const auto ex = co_await net::this_coro::executor;
  watcher_end_.emplace(ex, SteadyClock::time_point::max());
  net::co_spawn(ex, watch_stream_client(shared_from_this()), net::detached);
  Writer writer(*this);
  co_await net::co_spawn(ex, stream_entry(std::move(body), &writer),
                         net::bind_cancellation_slot(stream_cancel_.slot(), net::use_awaitable));
  streaming_ = false;
  stream_cancel_.slot().clear();
  set_deadline(Phase::kClosing, SteadyClock::now() + short_timeout());
  error_code ignored;
  if (tls_) {
    // The TLS stream takes one read at a time: the watcher's read ends before close_notify waits for the
    // client's.
    if (!watcher_done_) {
      socket_.cancel(ignored);
      co_await watcher_end_->async_wait(kUse);
    }
    co_await close_output();
  } else {
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    if (!watcher_done_) co_await watcher_end_->async_wait(kUse);
  }
  close_socket();
}

net::awaitable<void> HttpServer::State::Connection::stream_entry(StreamBody body, StreamWriter* writer) {
  co_await net::this_coro::throw_if_cancelled(false);
  try {
    co_await body(*writer);
  } catch (const std::exception& e) {
    spdlog::error("http: a stream's body threw: {}", e.what());
  }
}

// Reads (and discards) whatever the client sends after its request until it closes its side or the
// connection fails; then the stream is told (closed()) and its wait ends.
net::awaitable<void> HttpServer::State::Connection::watch_stream_client(std::shared_ptr<Connection> self) {
  std::array<char, 1024> sink;
  for (;;) {
    auto [ec, n] =
        co_await self->on_stream([&](auto& s) { return s.async_read_some(net::buffer(sink), kUse); });
    if (ec) break;
  }
  self->stream_gone_ = true;
  self->interrupt_stream();
  self->watcher_done_ = true;
  self->watcher_end_->cancel();
}

// A read of the request failed: answer what deserves an answer, then close.
net::awaitable<void> HttpServer::State::Connection::fail(error_code ec) {
  const auto method = parser_ && parser_->is_header_done() ? parser_->get().method() : http::verb::unknown;
  const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
  Response res;
  if (timed_out_) {
    res = error_response(http::status::request_timeout, "request_timeout", "request not received in time",
                         version, false);
  } else if (auto owed = read_error_response(ec, version)) {
    res = std::move(*owed);
  } else {
    co_return;  // the client went away, or we closed the socket
  }
  co_await send_error_and_close(std::move(res), {}, method, request_start_);
}

net::awaitable<void> HttpServer::State::Connection::send_error_and_close(Response res, std::string_view route,
                                                                         http::verb method,
                                                                         SteadyClock::time_point start,
                                                                         size_t linger_bytes) {
  res.keep_alive(false);
  const auto now = SteadyClock::now();
  loop_.record(route, method, res.result_int(), std::chrono::duration<double>(now - start).count(), peer_);
  set_deadline(Phase::kWriting, now + short_timeout());
  auto [ec, n] = co_await on_stream([&](auto& s) { return http::async_write(s, res, kUse); });
  if (ec) co_return;
  co_await linger_close(linger_bytes);
}

// Over TLS the drain reads the socket itself (after close_notify the bytes are only counted).
net::awaitable<void> HttpServer::State::Connection::linger_close(size_t linger_bytes) {
  set_deadline(Phase::kClosing, SteadyClock::now() + short_timeout());
  if (!co_await close_output()) co_return;
  size_t drained = 0;
  while (drained < linger_bytes) {
    buffer_.clear();
    auto [rec, n] = co_await socket_.async_read_some(buffer_.prepare(16384), kUse);
    if (rec) break;
    drained += n;
  }
}

// The TLS handshake, under the first-byte timeout. A client that sends plain HTTP is answered 400 in plain
// text (the common mistake: http:// to an https:// port); any other failure is counted and logged.
net::awaitable<bool> HttpServer::State::Connection::handshake() {
  set_deadline(Phase::kIdle, SteadyClock::now() + opts_.first_byte_timeout);
  auto [ec] = co_await tls_->async_handshake(net::ssl::stream_base::server, kUse);
  if (!ec) co_return true;
  if (state_.stopping()) co_return false;
  if (ec.category() == net::error::get_ssl_category() &&
      ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_SSL &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
    auto res = error_response(http::status::bad_request, "https_required",
                              "this listener speaks HTTPS only: use an https:// URL", 11, false);
    res.prepare_payload();
    loop_.record({}, http::verb::unknown, res.result_int(), 0, peer_);
    serialize_head(res);
    head_.append(res.body());
    tls_.reset();  // what follows is plain: the answer and the drain go to the socket itself
    set_deadline(Phase::kWriting, SteadyClock::now() + short_timeout());
    auto [wec, n] = co_await net::async_write(socket_, net::buffer(head_), kUse);
    if (!wec) co_await linger_close(kEarlyLingerBytes);
    co_return false;
  }
  state_.note_handshake_failure(peer_, ec == net::error::operation_aborted || ec == net::error::bad_descriptor
                                           ? "not finished within the first-byte timeout"
                                           : ec.message());
  co_return false;
}

net::awaitable<void> HttpServer::State::Connection::reject() {
  co_await send_error_and_close(error_response(Error::unavailable("too many connections"), 11, false), {},
                                http::verb::unknown, SteadyClock::now());
}

Result<tcp::endpoint> HttpServer::State::listen(const std::string& host, uint16_t port) {
  error_code ec;
  tcp::endpoint endpoint;
  auto address = net::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(loops_[0]->ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty())
      return Error::bad_request(fmt::format("cannot resolve listen address {}: {}", host, ec.message()));
    endpoint = results.begin()->endpoint();
  }
  acceptor_.emplace(loops_[0]->ioc);
  if (acceptor_->open(endpoint.protocol(), ec); ec)
    return Error::unavailable(fmt::format("cannot open socket: {}", ec.message()));
  acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor_->bind(endpoint, ec); ec)
    return Error::unavailable(fmt::format("cannot bind {}:{}: {}", host, port, ec.message()));
  if (acceptor_->listen(net::socket_base::max_listen_connections, ec); ec)
    return Error::unavailable(fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
  auto bound = acceptor_->local_endpoint(ec);
  if (ec) return Error::unavailable(fmt::format("cannot read the bound address: {}", ec.message()));
  return bound;
}

// Out of descriptors (EMFILE, ENFILE) or kernel memory, accept() fails at once for as long as the condition
// lasts, while the listening socket stays readable: the loop pauses (50 ms, doubling up to 1 s) instead of
// spinning. Failures are logged once per episode (until an accept succeeds), and the recovery once.
net::awaitable<void> HttpServer::State::accept_loop(State* state) {
  size_t next = 0;
  std::chrono::milliseconds pause_for{0};
  size_t failures = 0;
  SteadyClock::time_point episode_start;
  for (;;) {
    Loop& loop = *state->loops_[next % state->loops_.size()];
    auto [ec, socket] = co_await state->acceptor_->async_accept(loop.ioc, kUse);
    if (ec) {
      if (ec == net::error::operation_aborted || state->stopping() || !state->acceptor_->is_open()) co_return;
      state->accept_failures_.inc();
      const bool exhausted = ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
                             ec == net::error::no_memory ||
                             ec == boost::system::errc::too_many_files_open_in_system;
      if (failures++ == 0) {
        episode_start = SteadyClock::now();
        spdlog::warn("http: accept failed: {} ({} connections open, cap {}){}", ec.message(),
                     state->open_connections(), state->options_.max_connections,
                     exhausted ? "; pausing accepts until descriptors are free" : "");
      }
      if (exhausted) {
        pause_for = std::clamp(pause_for * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
        net::steady_timer pause(co_await net::this_coro::executor, pause_for);
        co_await pause.async_wait(kUse);
      }
      continue;
    }
    if (failures > 0) {
      spdlog::info(
          "http: accepting again after {} failed accepts over {} ms", failures,
          std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - episode_start).count());
      failures = 0;
      pause_for = std::chrono::milliseconds{0};
    }
    ++next;
    if (state->stopping()) continue;  // the socket closes here
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(loop.ioc,
                  Connection::run(state, &loop, tcp::socket(std::move(socket)), state->acquire(),
                                  state->options_.tls ? state->options_.tls->current() : nullptr),
                  [](std::exception_ptr e) {
                    if (!e) return;
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      spdlog::error("http: connection ended with an exception: {}", ex.what());
                    } catch (...) {
                      spdlog::error("http: connection ended with an unknown exception");
                    }
                  });
  }
}

void HttpServer::State::start() {
  std::lock_guard lock(stop_mu_);
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& loop : loops_) guards_.push_back(net::make_work_guard(loop->ioc));
  if (acceptor_ && acceptor_->is_open())
    net::co_spawn(loops_[0]->ioc, accept_loop(this), [](std::exception_ptr e) {
      if (e) spdlog::error("http: accept loop ended with an exception");
    });
  for (auto& loop : loops_) {
    threads_.emplace_back([l = loop.get()] {
      pthread_setname_np(pthread_self(), "http-io");  // as ps, top and the benchmarks show it
      for (;;) {
        try {
          l->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: event loop: uncaught exception: {}", e.what());
        }
      }
    });
  }
}

template <class Fn>
void HttpServer::State::on_every_loop(Fn fn) {
  std::vector<std::future<void>> done;
  for (auto& loop : loops_) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    net::post(loop->ioc, [l = loop.get(), p, fn] {
      fn(*l);
      p->set_value();
    });
  }
  for (auto& f : done) f.wait();
}

void HttpServer::State::stop() {
  for ([[maybe_unused]] const auto& t : threads_)
    assert(t.get_id() != std::this_thread::get_id() &&
           "HttpServer::stop() called from one of its own threads");
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true, std::memory_order_release);
  if (!started_) {
    if (acceptor_) acceptor_->close();
    return;
  }
  on_every_loop([this](Loop& loop) {
    if (&loop == loops_[0].get() && acceptor_) {
      error_code ignored;
      acceptor_->close(ignored);
    }
    for (auto* c : loop.connections) c->close_if_idle();
  });
  std::unique_lock count_lock(count_mu_);
  if (!count_cv_.wait_for(count_lock, options_.drain_timeout, [this] { return live_ == 0; })) {
    spdlog::warn("http: {} connection(s) still busy after the drain timeout; closing them", live_);
    count_lock.unlock();
    on_every_loop([](Loop& loop) {
      for (auto* c : loop.connections) c->force_close();
    });
    count_lock.lock();
    count_cv_.wait_for(count_lock,
                       std::min<std::chrono::milliseconds>(options_.drain_timeout, std::chrono::seconds(1)),
                       [this] { return live_ == 0; });
  }
  count_lock.unlock();
  guards_.clear();
  for (auto& loop : loops_) loop->ioc.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

HttpServer::HttpServer(ServerOptions options, const Router& router, metrics::Registry& metrics)
    : state_(std::make_unique<State>(std::move(options), router, metrics)) {}

HttpServer::~HttpServer() {
  if (state_) state_->stop();
}

Result<tcp::endpoint> HttpServer::listen(const std::string& host, uint16_t port) {
  return state_->listen(host, port);
}

void HttpServer::start() { state_->start(); }

void HttpServer::stop() { state_->stop(); }

}  // namespace hookwire::api
