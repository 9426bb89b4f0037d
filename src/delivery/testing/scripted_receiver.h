// ScriptedReceiver: a webhook receiver on 127.0.0.1 (port 0) for tests. It records every request and answers
// from a script, so tests of the HTTP client, the dispatcher or the whole service can make a receiver do
// anything a real one does: answer 200/4xx/5xx with headers (Retry-After), hold the answer until the test
// releases it (a timeout), trickle the body, close without answering, speak TLS with a certificate from a CA
// made up at start.
//
//   ScriptedReceiver rx;                                   // or ScriptedReceiver rx({.tls = true});
//   rx.push(ScriptedResponse::with(429, "slow down").with_header("Retry-After", "7"));
//   rx.push(ScriptedResponse::hold());                     // the 2nd request waits for rx.release_held()
//   ... send to rx.url("/hook") (TLS: give the client rx.ca_file() as its extra CA bundle) ...
//   ASSERT_TRUE(rx.wait_for_requests(2));
//   EXPECT_EQ(rx.requests()[0].body, "...");
//
// Script: queued responses (push) answer requests in arrival order; when the queue is empty the default
// (set_default, initially 200 with an empty body) answers; a handler (set_handler) replaces both.
// Keep-alive is honoured unless a response says close_after. Requests are recorded when fully read, before
// they are answered.
//
// Threads: the receiver runs its own I/O thread; every public method is thread-safe. The destructor calls
// stop(), which closes every connection (held requests are closed unanswered) and joins the thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookwire::delivery::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ScriptedResponse {
  enum class Mode {
    kRespond,  // answer at once
    kHold,     // answer only when release_held() is called (closed unanswered when the receiver stops)
    kTrickle,  // send the header, then the body one byte every `trickle_interval`
    kClose,    // close the connection without answering
  };

  unsigned status = 200;
  Headers headers;  // Content-Length is added; add others here
  std::string body;
  Mode mode = Mode::kRespond;
  std::chrono::milliseconds trickle_interval{10};
  bool close_after = false;  // send "Connection: close" and close after the response
  std::optional<std::string>
      raw;  // if set: these bytes are sent verbatim instead, then the connection closes

  static ScriptedResponse status_only(unsigned status) { return with(status, {}); }
  static ScriptedResponse with(unsigned status, std::string body) {
    ScriptedResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static ScriptedResponse hold(unsigned status = 200) {
    auto r = status_only(status);
    r.mode = Mode::kHold;
    return r;
  }
  static ScriptedResponse trickle(std::string body, std::chrono::milliseconds interval) {
    auto r = with(200, std::move(body));
    r.mode = Mode::kTrickle;
    r.trickle_interval = interval;
    return r;
  }
  static ScriptedResponse close_connection() {
    ScriptedResponse r;
    r.mode = Mode::kClose;
    return r;
  }
  static ScriptedResponse raw_bytes(std::string bytes) {
    ScriptedResponse r;
    r.raw = std::move(bytes);
    return r;
  }
  ScriptedResponse& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

struct RecordedRequest {
  std::string method;
  std::string target;
  Headers headers;  // in order, names as sent
  std::string body;
  uint64_t connection = 0;  // which accepted connection (1, 2, ...) carried it
  bool tls = false;

  // The first header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

struct ReceiverOptions {
  bool tls = false;
  // Subject alternative names of the server certificate (TLS only): names become DNS entries, IP literals IP
  // entries. Change them to test host name verification failures.
  std::vector<std::string> cert_names = {"localhost", "127.0.0.1"};
};

class ScriptedReceiver {
 public:
  explicit ScriptedReceiver(ReceiverOptions options = {});
  ~ScriptedReceiver();
  ScriptedReceiver(const ScriptedReceiver&) = delete;
  ScriptedReceiver& operator=(const ScriptedReceiver&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:<port>/hook" (https in TLS mode); `host` replaces 127.0.0.1 (e.g. "localhost").
  std::string url(std::string_view path = "/", std::string_view host = "127.0.0.1") const;
  // TLS mode: a PEM file holding the test CA that signed the server certificate ("" otherwise). Deleted by
  // the destructor.
  const std::string& ca_file() const;

  void push(ScriptedResponse response);
  void set_default(ScriptedResponse response);
  void set_handler(std::function<ScriptedResponse(const RecordedRequest&)> handler);

  // Answers every request currently held (kHold) with its scripted status, headers and body.
  void release_held();
  // Closes every connection that is waiting for its next request (a connection busy with a request closes
  // as soon as it has answered). Makes a client's pooled keep-alive connections stale. Returns once the idle
  // ones are closed.
  void close_idle_connections();
  // Shuts down the sending side of every connection waiting for its next request: the client sees the
  // connection closed, but a request it still sends there is read and recorded (and never answered).
  void half_close_idle_connections();

  // Waits until at least n requests have been recorded; false on timeout.
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;
  size_t connection_count() const;  // accepted so far (TLS: including failed handshakes)

  // Closes everything and joins the I/O thread. Idempotent.
  void stop();

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace hookwire::delivery::testing
