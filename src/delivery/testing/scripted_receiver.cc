#include "delivery/testing/scripted_receiver.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace hookwire::delivery::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kUse = net::as_tuple(net::use_awaitable);

// ---- a throwaway CA and server certificate, made with OpenSSL at start ----

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(fmt::format("scripted_receiver: OpenSSL failed: {}", what));
}

Pkey make_key() {
  Pkey key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Issued by `issuer` (signed with issuer_key), or self-signed when issuer is null.
Cert make_cert(EVP_PKEY* key, const char* cn, long serial, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               const std::vector<std::string>& names) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 7 * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("hookwire tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer ? issuer : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  add_ext(x, signer, NID_subject_key_identifier, "hash");
  if (ca) {
    add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
    add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x, signer, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const auto& n : names) {
      error_code ec;
      net::ip::make_address(n, ec);
      if (!san.empty()) san += ',';
      san += (ec ? "DNS:" : "IP:") + n;
    }
    if (!san.empty()) add_ext(x, signer, NID_subject_alt_name, san);
  }
  check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string write_temp_pem(X509* cert) {
  char path[] = "/tmp/hookwire-test-ca-XXXXXX";
  const int fd = ::mkstemp(path);
  check(fd >= 0, "mkstemp");
  FILE* f = ::fdopen(fd, "w");
  check(f != nullptr, "fdopen");
  const bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  check(ok, "PEM_write_X509");
  return path;
}

std::string head_of(const ScriptedResponse& r, bool close) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
  std::string head =
      fmt::format("HTTP/1.1 {} {}\r\n", r.status, std::string_view(reason.data(), reason.size()));
  for (const auto& [k, v] : r.headers) head += fmt::format("{}: {}\r\n", k, v);
  head += fmt::format("Content-Length: {}\r\n", r.body.size());
  if (close) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return std::nullopt;
}

// ---- State ----

class ScriptedReceiver::State {
 public:
  // One connection's controls, touched only on the I/O thread.
  struct Control {
    tcp::socket* socket = nullptr;  // the lowest layer
    bool idle = true;               // waiting for the next request
    bool close_when_idle = false;
    std::promise<void>* half_close_when_idle = nullptr;  // set by half_close_idle_connections()
    std::optional<net::steady_timer> hold;
    bool released = false;
    void close() {
      error_code ignored;
      if (socket) socket->close(ignored);
    }
    void half_close() {
      error_code ignored;
      if (socket) socket->shutdown(tcp::socket::shutdown_send, ignored);
    }
  };

  explicit State(ReceiverOptions options) : options_(std::move(options)) {
    if (options_.tls) {
      auto ca_key = make_key();
      auto ca = make_cert(ca_key.get(), "hookwire test CA", 1, nullptr, nullptr, true, {});
      auto key = make_key();
      auto cert = make_cert(key.get(), "hookwire test receiver", 2, ca.get(), ca_key.get(), false,
                            options_.cert_names);
      ca_file_ = write_temp_pem(ca.get());
      ssl_ctx_.emplace(ssl::context::tls_server);
      check(SSL_CTX_use_certificate(ssl_ctx_->native_handle(), cert.get()) == 1, "SSL_CTX_use_certificate");
      check(SSL_CTX_use_PrivateKey(ssl_ctx_->native_handle(), key.get()) == 1, "SSL_CTX_use_PrivateKey");
    }
    acceptor_.emplace(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port_ = acceptor_->local_endpoint().port();
    net::co_spawn(ioc_, accept_loop(this), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~State() {
    stop();
    if (!ca_file_.empty()) ::unlink(ca_file_.c_str());
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    std::promise<void> done;
    net::post(ioc_, [this, &done] {
      stopping_ = true;
      error_code ignored;
      acceptor_->close(ignored);
      for (auto* c : controls_) {
        c->close();
        if (c->hold) c->hold->cancel();
      }
      done.set_value();
    });
    done.get_future().wait();
    ioc_.stop();
    thread_.join();
  }

  // Runs fn on the I/O thread and waits for it.
  template <class Fn>
  void on_io_thread(Fn fn) {
    std::promise<void> done;
    net::post(ioc_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  static net::awaitable<void> accept_loop(State* st) {
    for (;;) {
      auto [ec, sock] = co_await st->acceptor_->async_accept(kUse);
      if (ec) {
        if (st->stopping_ || ec == net::error::operation_aborted) co_return;
        continue;
      }
      uint64_t id;
      {
        std::lock_guard lock(st->mu_);
        id = ++st->connections_;
      }
      net::co_spawn(st->ioc_, session(st, std::move(sock), id), net::detached);
    }
  }

  static net::awaitable<void> session(State* st, tcp::socket sock, uint64_t id) {
    Control ctl;
    st->controls_.push_back(&ctl);
    struct Unregister {
      State* st;
      Control* c;
      ~Unregister() {
        st->controls_.remove(c);
        // Closed before it went idle: no less closed for whoever waits for the half-close.
        if (c->half_close_when_idle) std::exchange(c->half_close_when_idle, nullptr)->set_value();
      }
    } unregister{st, &ctl};
    if (st->ssl_ctx_) {
      ssl::stream<tcp::socket> stream(std::move(sock), *st->ssl_ctx_);
      ctl.socket = &stream.next_layer();
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kUse);
      if (!ec) co_await serve(st, &stream, &ctl, id, true);
      ctl.close();
    } else {
      ctl.socket = &sock;
      co_await serve(st, &sock, &ctl, id, false);
      ctl.close();
    }
  }

  template <class Stream>
  static net::awaitable<void> serve(State* st, Stream* stream, Control* ctl, uint64_t id, bool tls) {
    beast::flat_buffer buffer;
    for (;;) {
      ctl->idle = true;
      if (ctl->close_when_idle || st->stopping_) co_return;
      if (ctl->half_close_when_idle) {
        ctl->half_close();
        std::exchange(ctl->half_close_when_idle, nullptr)->set_value();
      }
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      {
        auto [ec, n] = co_await http::async_read_header(*stream, buffer, parser, kUse);
        if (ec) co_return;
      }
      ctl->idle = false;
      if (!parser.is_done()) {
        auto [ec, n] = co_await http::async_read(*stream, buffer, parser, kUse);
        if (ec) co_return;
      }
      auto req = parser.release();
      RecordedRequest rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (const auto& f : req)
        rec.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      rec.body = std::move(req.body());
      rec.connection = id;
      rec.tls = tls;

      ScriptedResponse resp = st->next_response(rec);
      // Registered before the request is recorded, so a test that saw the request can release it.
      if (resp.mode == ScriptedResponse::Mode::kHold)
        ctl->hold.emplace(st->ioc_, net::steady_timer::time_point::max());
      st->record(std::move(rec));

      if (resp.mode == ScriptedResponse::Mode::kHold) {
        co_await ctl->hold->async_wait(kUse);  // released (cancelled) or stopping
        const bool released = ctl->released;
        ctl->hold.reset();
        ctl->released = false;
        if (!released) co_return;
      }
      if (resp.mode == ScriptedResponse::Mode::kClose) co_return;
      if (resp.raw) {
        co_await net::async_write(*stream, net::buffer(*resp.raw), kUse);
        co_return;
      }
      const bool close = resp.close_after || !req.keep_alive();
      const std::string head = head_of(resp, close);
      if (resp.mode == ScriptedResponse::Mode::kTrickle) {
        auto [ec, n] = co_await net::async_write(*stream, net::buffer(head), kUse);
        if (ec) co_return;
        net::steady_timer timer(st->ioc_);
        for (char ch : resp.body) {
          timer.expires_after(resp.trickle_interval);
          co_await timer.async_wait(kUse);
          if (st->stopping_) co_return;
          auto [wec, wn] = co_await net::async_write(*stream, net::buffer(&ch, 1), kUse);
          if (wec) co_return;
        }
      } else {
        const std::string all = head + resp.body;
        auto [ec, n] = co_await net::async_write(*stream, net::buffer(all), kUse);
        if (ec) co_return;
      }
      if (close) co_return;
    }
  }

  ScriptedResponse next_response(const RecordedRequest& rec) {
    std::lock_guard lock(mu_);
    if (handler_) return handler_(rec);
    if (!queue_.empty()) {
      auto r = std::move(queue_.front());
      queue_.pop_front();
      return r;
    }
    return default_;
  }

  void record(RecordedRequest rec) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(std::move(rec));
    }
    cv_.notify_all();
  }

  const ReceiverOptions options_;
  std::string ca_file_;
  uint16_t port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<ScriptedResponse> queue_;
  ScriptedResponse default_;
  std::function<ScriptedResponse(const RecordedRequest&)> handler_;
  std::vector<RecordedRequest> requests_;
  uint64_t connections_ = 0;

  // I/O thread only.
  std::list<Control*> controls_;
  bool stopping_ = false;

  std::atomic<bool> stopped_{false};

  // Destroyed in reverse order: the acceptor, then the io_context (destroying suspended sessions, which
  // still use the members above), then the rest.
  std::optional<ssl::context> ssl_ctx_;
  net::io_context ioc_{1};
  std::optional<tcp::acceptor> acceptor_;
  std::thread thread_;
};

// ---- ScriptedReceiver ----

ScriptedReceiver::ScriptedReceiver(ReceiverOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

ScriptedReceiver::~ScriptedReceiver() { stop(); }

uint16_t ScriptedReceiver::port() const { return state_->port_; }

std::string ScriptedReceiver::url(std::string_view path, std::string_view host) const {
  return fmt::format("{}://{}:{}{}", state_->options_.tls ? "https" : "http", host, state_->port_, path);
}

const std::string& ScriptedReceiver::ca_file() const { return state_->ca_file_; }

void ScriptedReceiver::push(ScriptedResponse response) {
  std::lock_guard lock(state_->mu_);
  state_->queue_.push_back(std::move(response));
}

void ScriptedReceiver::set_default(ScriptedResponse response) {
  std::lock_guard lock(state_->mu_);
  state_->default_ = std::move(response);
}

void ScriptedReceiver::set_handler(std::function<ScriptedResponse(const RecordedRequest&)> handler) {
  std::lock_guard lock(state_->mu_);
  state_->handler_ = std::move(handler);
}

void ScriptedReceiver::release_held() {
  if (state_->stopped_) return;
  State* st = state_.get();
  st->on_io_thread([st] {
    for (auto* c : st->controls_) {
      if (c->hold) {
        c->released = true;
        c->hold->cancel();
      }
    }
  });
}

void ScriptedReceiver::close_idle_connections() {
  if (state_->stopped_) return;
  State* st = state_.get();
  st->on_io_thread([st] {
    for (auto* c : st->controls_) {
      if (c->idle) {
        c->close();
      } else {
        c->close_when_idle = true;
      }
    }
  });
}

void ScriptedReceiver::half_close_idle_connections() {
  if (state_->stopped_) return;
  State* st = state_.get();
  // A connection still finishing its answer (the client may already hold it) is half-closed as soon as it
  // waits for its next request; this returns only once every connection is half-closed.
  std::list<std::promise<void>> busy;
  st->on_io_thread([st, &busy] {
    for (auto* c : st->controls_) {
      if (c->idle) {
        c->half_close();
      } else {
        c->half_close_when_idle = &busy.emplace_back();
      }
    }
  });
  for (auto& p : busy) p.get_future().wait();
}

bool ScriptedReceiver::wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu_);
  return state_->cv_.wait_for(lock, timeout, [&] { return state_->requests_.size() >= n; });
}

std::vector<RecordedRequest> ScriptedReceiver::requests() const {
  std::lock_guard lock(state_->mu_);
  return state_->requests_;
}

size_t ScriptedReceiver::request_count() const {
  std::lock_guard lock(state_->mu_);
  return state_->requests_.size();
}

size_t ScriptedReceiver::connection_count() const {
  std::lock_guard lock(state_->mu_);
  return state_->connections_;
}

void ScriptedReceiver::stop() { state_->stop(); }

}  // namespace hookwire::delivery::testing
