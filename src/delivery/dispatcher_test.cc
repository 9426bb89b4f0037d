// The dispatcher against real receivers on loopback, a real SQLite store and an injected clock.
#include "delivery/dispatcher.h"

#include <gtest/gtest.h>
#include <hookwire/signing.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>

#include "core/ids.h"
#include "core/testing/log_capture.h"
#include "delivery/fan_out.h"
#include "delivery/operational.h"
#include "delivery/rate_shares.h"
#include "delivery/testing/scripted_receiver.h"
#include "store/testing/pg_database.h"
#include "store/testing/test_dir.h"

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedReceiver;
using testing::ScriptedResponse;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// Every dispatcher test runs on SQLite with leases in memory (the embedded default) and with leases in the
// rows, and on PostgreSQL (the binary's store database in its throwaway cluster, emptied for each test).
enum class Backend { kSqliteMemoryLeases, kSqliteRowLeases, kPostgres };

class DispatcherTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      store::PostgresOptions options;
      options.url = store::testing::store_database_url();  // emptied for this test
      ASSERT_FALSE(options.url.empty());
      auto opened = store::open_postgres_store(options);
      ASSERT_TRUE(opened.ok()) << opened.error().detail;
      store_ = std::move(*opened);
    } else {
      store::SqliteOptions options;
      options.row_leases = GetParam() == Backend::kSqliteRowLeases;
      store_ = store::testing::open_test_store(dir_.path(), options);
    }
    ASSERT_NE(store_, nullptr);
    clock_.set(from_unix_millis(unix_millis(std::chrono::system_clock::now())));  // the store keeps ms
  }
  void TearDown() override {
    if (dispatcher_) dispatcher_->stop();
    log_.reset();  // only once the dispatcher thread, which logs, has stopped (log_capture.h)
    if (store_) store_->stop();
    store_.reset();
  }

  // Captures the log until the test's end, past the dispatcher's stop in TearDown.
  hookwire::testing::LogCapture& capture_log(spdlog::level::level_enum level = spdlog::level::debug) {
    log_.emplace(level);
    return *log_;
  }

  Status write(std::function<Status(store::Tx&)> fn) {
    std::promise<Status> p;
    store_->submit_write(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
    return p.get_future().get();
  }
  template <class T>
  T read(std::function<T(store::Tx&)> fn) {
    std::promise<T> p;
    store_->submit_read([&](store::Tx& tx) { p.set_value(fn(tx)); }, [] {});
    return p.get_future().get();
  }

  // An application with one endpoint at `url`, and one message fanned out to it.
  void publish(const std::string& url) {
    app_.id = new_id(id_prefix::kApplication);
    app_.name = "test";
    app_.created_at = app_.updated_at = clock_.now();
    ep_.id = new_id(id_prefix::kEndpoint);
    ep_.app_id = app_.id;
    ep_.url = url;
    ep_.secrets = {{kSecret, std::nullopt}};
    ep_.headers = {{"X-Tenant", "t1"}};
    ep_.created_at = ep_.updated_at = clock_.now();
    msg_.id = new_id(id_prefix::kMessage);
    msg_.app_id = app_.id;
    msg_.event_type = event_type_;
    msg_.payload = R"({"amount": 1250, "currency": "EUR"})";
    msg_.created_at = clock_.now();
    ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                  if (auto st = tx.insert_application(app_); !st.ok()) return st;
                  if (auto st = tx.insert_endpoint(ep_); !st.ok()) return st;
                  if (auto st = tx.insert_message(msg_); !st.ok()) return st;
                  auto n = fan_out(tx, msg_, clock_.now());
                  if (!n.ok()) return n.take_error();
                  return *n == 1 ? Status() : Status(Error::internal("expected one delivery"));
                }).ok());
  }

  void start(RetryOptions retry = {}, RateLimiterOptions limits = {}) {
    DispatcherOptions o;
    o.operational_app_id = operational_app_id_;
    o.public_url = "https://hooks.example.test/base";
    o.limits = limits;
    o.http.guard = *UrlGuard::from_config({"127.0.0.0/8"}, false);
    o.http.total_timeout = http_timeout_;
    o.retry = std::move(retry);
    o.random = [] { return 0.5; };  // no jitter: the schedule is exact
    o.poll_interval = 20ms;         // the real-time poll only finds work; due-ness follows the manual clock
    o.on_recorded = [this](const store::Delivery& d, const store::Attempt& a) {
      std::lock_guard lock(mu_);
      recorded_.emplace_back(d, a);
      cv_.notify_all();
    };
    if (configure_) configure_(o);
    auto d = Dispatcher::create(*store_, clock_, o, nullptr);
    ASSERT_TRUE(d.ok()) << d.error().detail;
    dispatcher_ = std::move(*d);
    dispatcher_->start();
  }

  // Waits (on an event, bounded) until `n` attempts have been recorded in all.
  std::pair<store::Delivery, store::Attempt> wait_recorded(size_t n) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 20s, [&] { return recorded_.size() >= n; })) << "no attempt recorded";
    return recorded_.at(n - 1);
  }

  // Publishes to `receiver`, which fails the first attempt with a 500 and answers 204 after that; starts the
  // dispatcher and returns the first attempt's record.
  std::pair<store::Delivery, store::Attempt> publish_and_fail_once(ScriptedReceiver& receiver) {
    receiver.push(ScriptedResponse::with(500, "boom"));
    receiver.set_default(ScriptedResponse::with(204, ""));
    publish(receiver.url("/hook"));
    start();
    return wait_recorded(1);
  }

  // Another endpoint of the same application, and `n` messages fanned out to every endpoint.
  store::Endpoint add_endpoint(const std::string& url, std::optional<int64_t> rate = std::nullopt) {
    store::Endpoint ep = ep_;
    ep.id = new_id(id_prefix::kEndpoint);
    ep.url = url;
    ep.rate_limit = rate;
    EXPECT_TRUE(write([&](store::Tx& tx) { return tx.insert_endpoint(ep); }).ok());
    return ep;
  }
  void add_messages(int n) {
    for (int i = 0; i < n; ++i) {
      store::Message m = msg_;
      m.id = new_id(id_prefix::kMessage);
      EXPECT_TRUE(write([&](store::Tx& tx) -> Status {
                    if (auto st = tx.insert_message(m); !st.ok()) return st;
                    auto created = fan_out(tx, m, clock_.now());
                    return created.ok() ? Status() : Status(created.error());
                  }).ok());
    }
  }

  // The attempts recorded for `endpoint_id`, in order; waits (on an event, bounded) until there are `n`.
  std::vector<store::Attempt> sent_to(const std::string& endpoint_id, size_t n = 0) {
    std::vector<store::Attempt> out;
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 20s, [&] {
      out.clear();
      for (const auto& [d, a] : recorded_)
        if (a.endpoint_id == endpoint_id) out.push_back(a);
      return out.size() >= n;
    })) << "no attempt recorded";
    return out;
  }

  // Returns once the dispatcher has looked at its work since this call, with the clock as it is now: a
  // message to a probe endpoint of another application is published, and its attempt is recorded after the
  // claim pass that found it (which starts every waiting delivery its limits admit by then).
  void barrier() {
    if (!probe_) {
      probe_.emplace();
      probe_->set_default(ScriptedResponse::with(200, ""));
      probe_app_.id = new_id(id_prefix::kApplication);
      probe_app_.name = "probe";
      probe_app_.created_at = probe_app_.updated_at = clock_.now();
      store::Endpoint ep;
      ep.id = new_id(id_prefix::kEndpoint);
      ep.app_id = probe_app_.id;
      ep.url = probe_->url("/probe");
      ep.secrets = {{kSecret, std::nullopt}};
      ep.created_at = ep.updated_at = clock_.now();
      ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                    if (auto st = tx.insert_application(probe_app_); !st.ok()) return st;
                    return tx.insert_endpoint(ep);
                  }).ok());
    }
    store::Message m;
    m.id = new_id(id_prefix::kMessage);
    m.app_id = probe_app_.id;
    m.event_type = "probe";
    m.payload = "{}";
    m.created_at = clock_.now();
    ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                  auto n = fan_out(tx, m, clock_.now());
                  return n.ok() ? Status() : Status(n.error());
                }).ok());
    dispatcher_->wake();
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 20s, [&] {
      return std::any_of(recorded_.begin(), recorded_.end(),
                         [&](const auto& r) { return r.second.msg_id == m.id; });
    })) << "the probe was not delivered";
  }

  store::DeliveryQueueStats queue_stats() {
    std::promise<Result<store::DeliveryQueueStats>> p;
    store_->delivery_queue().stats(clock_.now(),
                                   [&p](Result<store::DeliveryQueueStats> r) { p.set_value(std::move(r)); });
    auto s = p.get_future().get();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : store::DeliveryQueueStats{};
  }

  std::vector<store::Delivery> deliveries() {
    return read<std::vector<store::Delivery>>(
        [&](store::Tx& tx) { return *tx.list_deliveries_by_message(app_.id, msg_.id); });
  }

  // Every delivery of every message of the application.
  std::vector<store::Delivery> app_deliveries() {
    return read<std::vector<store::Delivery>>([&](store::Tx& tx) {
      std::vector<store::Delivery> all;
      auto page = tx.list_messages(app_.id, store::MessageQuery{});
      for (const auto& m : page->items) {
        auto ds = tx.list_deliveries_by_message(app_.id, m.id);
        all.insert(all.end(), ds->begin(), ds->end());
      }
      return all;
    });
  }

  // Sets up the operational application (before start()) with its endpoint at `url`.
  void configure_operational(const std::string& url) {
    ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                  auto id = ensure_operational_app(tx, {url, std::string(kOpsSecret)}, clock_.now());
                  if (!id.ok()) return id.take_error();
                  operational_app_id_ = *id;
                  return {};
                }).ok());
  }

  static constexpr const char* kOpsSecret = "whsec_b3BlcmF0aW9uYWwtd2ViaG9va3Mtc2VjcmV0";

  std::function<void(DispatcherOptions&)> configure_;  // applied by start()
  std::optional<ScriptedReceiver> probe_;              // barrier()'s
  store::Application probe_app_;
  std::string event_type_ = "invoice.paid";
  store::testing::TestDir dir_{"hookwire-dispatcher"};
  std::optional<std::string> operational_app_id_;
  std::chrono::milliseconds http_timeout_ = 2000ms;  // real time
  std::unique_ptr<store::Store> store_;
  ManualClock clock_;
  std::optional<hookwire::testing::LogCapture> log_;  // declared first: outlives the dispatcher
  std::unique_ptr<Dispatcher> dispatcher_;
  store::Application app_;
  store::Endpoint ep_;
  store::Message msg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<store::Delivery, store::Attempt>> recorded_;
  std::vector<std::string> announced_;  // DispatcherOptions::announce's, when a test sets it
};

TEST_P(DispatcherTest, DeliversSignedWithCustomHeadersAndLogsTheAttempt) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "thanks"));
  publish(receiver.url("/hook"));
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kSuccess);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(a.response_status_code, 200);
  EXPECT_EQ(a.response, "thanks");
  EXPECT_EQ(a.status, 0);

  ASSERT_EQ(receiver.request_count(), 1u);
  const auto req = receiver.requests().front();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/hook");
  EXPECT_EQ(req.body, msg_.payload);
  EXPECT_EQ(req.header("x-tenant").value_or(""), "t1");
  EXPECT_EQ(req.header("webhook-id").value_or(""), msg_.id);
  EXPECT_EQ(req.header("content-type").value_or(""), "application/json");
  // The signature verifies with the endpoint's secret, at the dispatcher's (injected) time.
  signing::Options vo;
  vo.secrets = {kSecret};
  auto verifier = signing::Verifier::create(vo);
  ASSERT_TRUE(verifier.ok());
  std::vector<signing::Header> headers;
  for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"})
    headers.push_back({h, std::string(req.header(h).value_or(""))});
  auto result = verifier->verify(signing::lookup_in(headers), req.body, unix_seconds(clock_.now()));
  EXPECT_TRUE(result.ok()) << result.message;

  auto listed = read<store::Page<store::Attempt>>(
      [&](store::Tx& tx) { return *tx.list_attempts_by_message(app_.id, msg_.id, store::PageQuery{}); });
  ASSERT_EQ(listed.items.size(), 1u);
  EXPECT_EQ(listed.items[0].endpoint_id, ep_.id);
}

// The attempt records the header fields its request was sent with, in the order the receiver got them
// (every one but Host and Content-Length), a sensitive header's value redacted; the store gives them back.
TEST_P(DispatcherTest, AnAttemptRecordsTheRequestHeadersAsSentWithSecretsRedacted) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  publish(receiver.url("/hook"));
  ep_.headers = {{"X-Tenant", "t1"}, {"Authorization", "Bearer endpoint-secret-token"}};
  ASSERT_TRUE(write([&](store::Tx& tx) { return tx.update_endpoint(ep_); }).ok());
  start();
  auto [d, a] = wait_recorded(1);
  ASSERT_EQ(d.status, store::Delivery::kSuccess);
  ASSERT_EQ(receiver.request_count(), 1u);
  const auto req = receiver.requests().front();

  std::string expected;
  for (const auto& [name, value] : req.headers) {
    if (name == "Host" || name == "Content-Length") continue;
    if (!expected.empty()) expected += '\n';
    expected += name + ": " + (name == "Authorization" ? std::string("[redacted]") : value);
  }
  EXPECT_EQ(a.request_headers, expected);
  EXPECT_EQ(a.request_headers.find("endpoint-secret-token"), std::string::npos);
  // What each line holds: the client's User-Agent, the custom headers, the event type, the signature.
  EXPECT_EQ(req.header("authorization").value_or(""), "Bearer endpoint-secret-token");  // sent unredacted
  for (const std::string& line : std::vector<std::string>{
           "User-Agent: hookwire/0.1", "X-Tenant: t1", "Authorization: [redacted]",
           "x-hookwire-event-type: invoice.paid", "Content-Type: application/json", "webhook-id: " + msg_.id,
           "webhook-timestamp: " + req.header("webhook-timestamp").value_or("?"),
           "webhook-signature: " + req.header("webhook-signature").value_or("?")})
    EXPECT_NE(("\n" + a.request_headers + "\n").find("\n" + line + "\n"), std::string::npos) << line;
  EXPECT_NE(req.header("webhook-signature").value_or("").find("v1,"), std::string::npos);

  auto stored =
      read<Result<store::Attempt>>([&](store::Tx& tx) { return tx.get_attempt(app_.id, msg_.id, a.id); });
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->request_headers, expected);
}

// A response that is not text is logged as text (its other bytes U+FFFD), on every store: PostgreSQL refuses
// invalid UTF-8 and NUL, which left such an attempt unrecorded and its delivery sent again and again.
TEST_P(DispatcherTest, AResponseThatIsNotUtf8IsLoggedWithItsOtherBytesReplaced) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, std::string("\xff\xfe"
                                                               "A\0\xc3",
                                                               5)));
  publish(receiver.url("/hook"));
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kSuccess);
  const std::string expected =
      "\xEF\xBF\xBD\xEF\xBF\xBD"
      "A\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_EQ(a.response, expected);
  auto stored =
      read<Result<store::Attempt>>([&](store::Tx& tx) { return tx.get_attempt(app_.id, msg_.id, a.id); });
  ASSERT_TRUE(stored.ok()) << stored.error().detail;
  EXPECT_EQ(stored->response, expected);
  EXPECT_EQ(receiver.request_count(), 1u);
}

// Nothing sent, nothing recorded: a request the HTTP client refuses before connecting has no headers.
TEST_P(DispatcherTest, AnAttemptRefusedBeforeSendingRecordsNoRequestHeaders) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  event_type_ = "bad\r\nX-Injected: yes";
  publish(receiver.url("/hook"));
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(receiver.request_count(), 0u);
  EXPECT_EQ(a.request_headers, "");
}

TEST(RecordedRequestHeaders, AreTheFieldsTheClientSendsWithSecretsRedacted) {
  // The client's User-Agent and Content-Type unless given; framing fields are the client's and left out.
  EXPECT_EQ(recorded_request_headers({{"X-A", " one\t"}, {"cookie", "c=1"}, {"Content-Length", "9"}}, "ua/1"),
            "User-Agent: ua/1\nX-A: one\ncookie: [redacted]\nContent-Type: application/json");
  EXPECT_EQ(
      recorded_request_headers({{"user-agent", "mine"},
                                {"content-type", "text/plain"},
                                {"X-Api-Key", "k"},
                                {"PROXY-AUTHORIZATION", "p"}},
                               "ua/1"),
      "user-agent: mine\ncontent-type: text/plain\nX-Api-Key: [redacted]\nPROXY-AUTHORIZATION: [redacted]");
  // Bytes that are not UTF-8 (a configured User-Agent is not checked) never reach the record.
  EXPECT_EQ(recorded_request_headers({}, "ua\xff"), "User-Agent: ua?\nContent-Type: application/json");
}

TEST_P(DispatcherTest, FailureIsRetriedOnTheDurableScheduleAcrossARestart) {
  ScriptedReceiver receiver;
  auto [d1, a1] = publish_and_fail_once(receiver);
  EXPECT_EQ(d1.status, store::Delivery::kPending);
  EXPECT_EQ(d1.attempts, 1);
  EXPECT_EQ(d1.next_attempt_at, clock_.now() + 5s);  // first entry of the default schedule, no jitter
  EXPECT_EQ(a1.response_status_code, 500);
  EXPECT_EQ(a1.status, 2);

  // Restart: a new dispatcher reads the schedule from the store. Not due yet, so nothing is sent...
  dispatcher_->stop();
  dispatcher_.reset();
  EXPECT_EQ(deliveries().at(0).next_attempt_at, clock_.now() + 5s);
  start();
  // ...until the clock reaches the retry time.
  clock_.advance(5s);
  dispatcher_->wake();
  auto [d2, a2] = wait_recorded(2);
  EXPECT_EQ(d2.status, store::Delivery::kSuccess);
  EXPECT_EQ(d2.attempts, 2);
  EXPECT_EQ(a2.response_status_code, 204);
  EXPECT_EQ(receiver.request_count(), 2u);
}

// A message whose payload is expunged while its retry waits is never sent again: the delivery fails.
TEST_P(DispatcherTest, AnExpungedMessageIsNotRetried) {
  ScriptedReceiver receiver;
  auto [d1, a1] = publish_and_fail_once(receiver);
  ASSERT_EQ(d1.status, store::Delivery::kPending);
  ASSERT_TRUE(write([&](store::Tx& tx) { return tx.expunge_message_payload(app_.id, msg_.id); }).ok());
  clock_.advance(10s);  // the retry is due
  add_messages(1);      // and a new message after it, which is sent
  auto [d2, a2] = wait_recorded(2);
  EXPECT_NE(d2.msg_id, msg_.id);
  EXPECT_EQ(d2.status, store::Delivery::kSuccess);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[1].header("webhook-id").value_or(""), msg_.id);
  // The expunged message's delivery was marked failed by the claim that found it (store leases), or by the
  // write that claim submitted before it started any attempt (in-memory leases): either way before the new
  // message's record, which the store commits in order.
  EXPECT_EQ(deliveries().at(0).status, store::Delivery::kFailed);
}

TEST_P(DispatcherTest, ExhaustedScheduleLeavesAFailedDeliveryAsADeadLetter) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(503, "down"));
  publish(receiver.url("/hook"));
  RetryOptions retry;
  retry.schedule = {std::chrono::milliseconds(1000)};
  retry.min_wait_after_throttle = std::chrono::milliseconds(1000);
  start(retry);
  auto [d1, a1] = wait_recorded(1);
  EXPECT_EQ(d1.status, store::Delivery::kPending);
  clock_.advance(1s);
  dispatcher_->wake();
  auto [d2, a2] = wait_recorded(2);
  EXPECT_EQ(d2.status, store::Delivery::kFailed);
  EXPECT_EQ(d2.attempts, 2);
  EXPECT_EQ(deliveries().at(0).status, store::Delivery::kFailed);
}

TEST_P(DispatcherTest, GoneDisablesTheEndpoint) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(410, "gone"));
  publish(receiver.url("/hook"));
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kFailed);
  auto ep = read<store::Endpoint>([&](store::Tx& tx) { return *tx.get_endpoint(app_.id, ep_.id); });
  EXPECT_TRUE(ep.disabled);
  // Why and when, for the endpoint health route.
  auto h = read<store::EndpointHealthRecord>([&](store::Tx& tx) { return *tx.get_endpoint_health(ep_.id); });
  ASSERT_TRUE(h.disabled_reason);
  EXPECT_NE(h.disabled_reason->find("410 Gone"), std::string::npos) << *h.disabled_reason;
  EXPECT_EQ(h.disabled_at, a.created_at);
}

// A message stored with CR/LF in its event type (by a build that did not validate inbound event types) is
// never written into the x-hookwire-event-type header: the attempt fails before anything is sent.
TEST_P(DispatcherTest, AnEventTypeWithCrLfIsNeverSentAsAHeader) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  event_type_ = "evil\r\nX-Injected: yes\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal";
  publish(receiver.url("/hook"));
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kPending);
  EXPECT_EQ(a.response_status_code, 0);
  EXPECT_NE(a.response.find("x-hookwire-event-type"), std::string::npos) << a.response;
  EXPECT_EQ(receiver.request_count(), 0u);
  EXPECT_EQ(receiver.connection_count(), 0u);
}

// An operator sees a bad day from the log alone: failed attempts, refusals by the SSRF guard, dead letters
// and disabled endpoints are warned with their ids; every attempt at debug level; never a secret, a
// signature, the payload or the receiver's answer.
TEST_P(DispatcherTest, FailuresDeadLettersAndDisabledEndpointsAreLoggedWithTheirIds) {
  auto& log = capture_log();
  ScriptedReceiver receiver;
  receiver.push(ScriptedResponse::with(500, "receiver-secret-answer"));
  receiver.push(ScriptedResponse::with(410, "gone"));
  publish(receiver.url("/hook"));
  RetryOptions retry;
  retry.schedule = {std::chrono::milliseconds(1000)};
  retry.min_wait_after_throttle = std::chrono::milliseconds(1000);
  start(retry);
  auto [d1, a1] = wait_recorded(1);
  EXPECT_EQ(log.count({"[warning] delivery attempt failed", "app=" + app_.id, "endpoint=" + ep_.id,
                       "msg=" + msg_.id, "attempt=" + a1.id, "HTTP 500"}),
            1u)
      << log.text();
  EXPECT_EQ(log.count({"[debug] delivery attempt:", "attempt=" + a1.id}), 1u) << log.text();
  clock_.advance(1s);
  dispatcher_->wake();
  auto [d2, a2] = wait_recorded(2);  // 410: failed for good, endpoint disabled
  EXPECT_EQ(log.count({"[warning] endpoint disabled", "app=" + app_.id, "endpoint=" + ep_.id, "410"}), 1u)
      << log.text();

  // A second endpoint that never answers well: its last attempt is a dead letter.
  auto other = add_endpoint(receiver.url("/other"));
  receiver.set_default(ScriptedResponse::with(503, "down"));
  add_messages(1);
  wait_recorded(3);
  clock_.advance(1s);
  dispatcher_->wake();
  wait_recorded(4);
  EXPECT_EQ(log.count({"[warning] delivery failed for good (dead letter)", "endpoint=" + other.id}), 1u)
      << log.text();

  const auto text = log.text();
  for (const char* never :
       {"receiver-secret-answer", "1250", "EUR", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,"})
    EXPECT_EQ(text.find(never), std::string::npos) << never << " in\n" << text;
}

TEST_P(DispatcherTest, AnAddressTheGuardRefusesIsLogged) {
  auto& log = capture_log();
  publish("http://10.255.255.1:9/hook");  // refused by the guard (only 127.0.0.0/8 allowed): never connected
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(a.response_status_code, 0);
  EXPECT_EQ(log.count({"[warning] delivery refused by the SSRF guard", "endpoint=" + ep_.id, "msg=" + msg_.id,
                       "10.255.255.1", "not allowed"}),
            1u)
      << log.text();
}

// A failing endpoint cannot flood the log: five warnings per endpoint per minute, then the count of those
// held back.
TEST_P(DispatcherTest, FailureWarningsAreRateLimitedPerEndpoint) {
  auto& log = capture_log(spdlog::level::warn);
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(500, "boom"));
  publish(receiver.url("/hook"));
  add_messages(19);
  start();
  wait_recorded(20);
  EXPECT_EQ(log.count({"delivery attempt failed", "endpoint=" + ep_.id}), 5u) << log.text();
  EXPECT_EQ(log.count({"[debug]"}), 0u);
  clock_.advance(61s);  // a new window; every retry is due
  dispatcher_->wake();
  wait_recorded(21);
  EXPECT_EQ(log.count({"15 more failed lines for endpoint " + ep_.id}), 1u) << log.text();
}

TEST_P(DispatcherTest, ConnectionRefusedIsAFailedAttemptToRetry) {
  // A port that was bound and released: nothing listens there.
  uint16_t port;
  {
    ScriptedReceiver gone;
    port = gone.port();
  }
  publish("http://127.0.0.1:" + std::to_string(port) + "/hook");
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kPending);
  EXPECT_EQ(a.response_status_code, 0);
  EXPECT_FALSE(a.response.empty());
}

TEST_P(DispatcherTest, ASlowEndpointHoldsOnlyItsOwnSlotsAndNeverDelaysTheOthers) {
  ScriptedReceiver slow;
  slow.set_default(ScriptedResponse::hold());  // never answers until released
  ScriptedReceiver fast;
  fast.set_default(ScriptedResponse::with(200, "ok"));
  publish(slow.url("/slow"));  // one message to the slow endpoint
  add_endpoint(fast.url("/fast"));
  add_messages(3);  // each to both endpoints: the slow one now owes 4, the fast one 3
  RateLimiterOptions limits;
  limits.max_in_flight_per_endpoint = 1;
  start({}, limits);
  // The fast endpoint gets all three while the slow one sits on its single in-flight slot.
  ASSERT_TRUE(fast.wait_for_requests(3, 20s));
  ASSERT_TRUE(slow.wait_for_requests(1, 20s));
  EXPECT_EQ(slow.request_count(), 1u);
  auto [d, a] = wait_recorded(3);
  EXPECT_EQ(a.url, fast.url("/fast"));
  EXPECT_EQ(d.status, store::Delivery::kSuccess);
  slow.release_held();
  auto [d4, a4] = wait_recorded(4);
  EXPECT_EQ(a4.url, slow.url("/slow"));
}

// A delivery in flight is never sent again while its attempt runs, however long that takes: its lease is
// renewed (before each claim) for as long as the attempt lasts, even past the lease's own length.
TEST_P(DispatcherTest, AnAttemptLongerThanItsLeaseIsRenewedAndNotSentAgainWhileItRuns) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::hold());
  publish(receiver.url("/hook"));
  http_timeout_ = 60s;  // no request times out (in real time) during the test
  start();
  ASSERT_TRUE(receiver.wait_for_requests(1, 20s));
  clock_.advance(10s);
  for (int i = 0; i < 3; ++i) {
    add_messages(1);  // a wake, and another delivery to the same endpoint that is sent meanwhile
    ASSERT_TRUE(receiver.wait_for_requests(static_cast<size_t>(i) + 2, 20s));
  }
  // Far past the lease (the timeout + 30 s): renewed, so still not sent again.
  clock_.advance(std::chrono::hours(1));
  add_messages(1);
  ASSERT_TRUE(receiver.wait_for_requests(5, 20s));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[0].header("webhook-id").value_or(""), msg_.id);
  for (size_t i = 1; i < requests.size(); ++i)
    EXPECT_NE(requests[i].header("webhook-id").value_or(""), msg_.id) << "sent again while in flight";
  std::promise<Result<store::DeliveryQueueStats>> stats;
  store_->delivery_queue().stats(
      clock_.now(), [&stats](Result<store::DeliveryQueueStats> r) { stats.set_value(std::move(r)); });
  auto s = stats.get_future().get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->sending, 5);
  EXPECT_EQ(s->due, 0);
  receiver.release_held();
  wait_recorded(5);
}

TEST_P(DispatcherTest, TheEndpointRateLimitSpacesDeliveriesWithoutCountingAttempts) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  publish(receiver.url("/hook"));
  // One per second: the bucket holds one token, so of three messages due at once one goes now.
  ASSERT_TRUE(write([&](store::Tx& tx) {
                ep_.rate_limit = 1;
                return tx.update_endpoint(ep_);
              }).ok());
  add_messages(2);
  start();
  wait_recorded(1);
  EXPECT_EQ(receiver.request_count(), 1u);
  // The clock stands still: nothing else may go, and the others wait in the store, unattempted.
  size_t waiting = 0;
  for (const auto& d : app_deliveries()) {
    if (d.status != store::Delivery::kSuccess) {
      ++waiting;
      EXPECT_EQ(d.attempts, 0);
    }
  }
  EXPECT_EQ(waiting, 2u);
  // A second later the next one goes, then the last.
  clock_.advance(1s);
  dispatcher_->wake();
  wait_recorded(2);
  clock_.advance(1s);
  dispatcher_->wake();
  wait_recorded(3);
  EXPECT_EQ(receiver.request_count(), 3u);
}

// A delivery its endpoint's rate limit refuses waits in memory, still leased (so no other claim takes it and
// no poll has to find it again), and goes the moment its bucket has a token.
TEST_P(DispatcherTest, ARateLimitedDeliveryWaitsLeasedInMemoryUntilItsBucketHasAToken) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  ep_.rate_limit = 1;  // one a second, a burst of one
  publish(receiver.url("/hook"));
  add_messages(2);
  start();
  auto sent = sent_to(ep_.id, 1);
  EXPECT_EQ(sent[0].created_at, clock_.now());
  barrier();
  const auto stats = queue_stats();
  EXPECT_EQ(stats.sending, 2) << "the two others wait leased";
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.due, 0);
  EXPECT_EQ(receiver.request_count(), 1u);
  clock_.advance(999ms);
  barrier();
  EXPECT_EQ(receiver.request_count(), 1u) << "a token a second, not a moment before";
  clock_.advance(1ms);
  sent = sent_to(ep_.id, 2);
  EXPECT_EQ(sent[1].created_at, clock_.now());
  clock_.advance(1s);
  sent = sent_to(ep_.id, 3);
  EXPECT_EQ(sent[2].created_at, clock_.now());
  barrier();
  EXPECT_EQ(receiver.request_count(), 3u);
  EXPECT_EQ(queue_stats().sending, 0);
}

// Past its line (here two: 40 ms of 1/s plus a burst of one), a backlog goes back to the store, due one after
// another at the limit: a single node still sends exactly one a second, each delivery attempted once.
TEST_P(DispatcherTest, PastItsLineARateLimitedBacklogWaitsInTheStoreOnTheLimitsSchedule) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  ep_.rate_limit = 1;
  publish(receiver.url("/hook"));
  add_messages(5);
  start();
  sent_to(ep_.id, 1);
  barrier();
  const auto stats = queue_stats();
  EXPECT_EQ(stats.sending, 2) << "in the endpoint's line";
  EXPECT_EQ(stats.pending, 3) << "back in the store";
  EXPECT_EQ(stats.due, 0) << "not due before the limit lets them go";
  for (size_t k = 2; k <= 6; ++k) {
    clock_.advance(1s);
    auto sent = sent_to(ep_.id, k);
    EXPECT_EQ(sent[k - 1].created_at, clock_.now()) << k;
  }
  barrier();
  EXPECT_EQ(receiver.request_count(), 6u);
  for (const auto& d : app_deliveries()) {
    EXPECT_EQ(d.status, store::Delivery::kSuccess);
    EXPECT_EQ(d.attempts, 1) << "waiting was never an attempt";
  }
}

// Without announcements (a single node, or nodes that cannot hear each other), each live node has an equal
// share of the limit, whether the others have work for the endpoint or not.
TEST_P(DispatcherTest, WithoutAnnouncementsEachLiveNodeHasAnEqualShareOfTheLimit) {
  configure_ = [](DispatcherOptions& o) { o.nodes = [] { return 3; }; };
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  ep_.rate_limit = 3;  // a third: one a second, a burst of one
  publish(receiver.url("/hook"));
  add_messages(1);
  start();
  sent_to(ep_.id, 1);
  for (int i = 0; i < 2; ++i) {
    clock_.advance(333'333'334ns);
    barrier();
    EXPECT_EQ(receiver.request_count(), 1u);
  }
  clock_.advance(333'333'332ns);
  auto sent = sent_to(ep_.id, 2);
  EXPECT_EQ(sent[1].created_at - sent[0].created_at, 1s);
}

// With announcements, the limit is divided between the nodes that have work for the endpoint: alone, this
// node sends at the whole limit; another node announcing work halves it; that node stopping gives it back.
// This node announces its own work when it starts, and that it stopped once it has nothing left and its
// bucket has earned back the token it started with.
TEST_P(DispatcherTest, WithAnnouncementsTheLimitIsDividedBetweenTheNodesThatHaveWork) {
  configure_ = [this](DispatcherOptions& o) {
    o.nodes = [] { return 3; };
    o.announce = [this](std::string topic) {  // until the dispatcher stops, in TearDown
      std::lock_guard lock(mu_);
      announced_.push_back(std::move(topic));
      cv_.notify_all();
    };
  };
  auto wait_announced = [&](std::string_view suffix) {
    std::unique_lock lock(mu_);
    std::string found;
    EXPECT_TRUE(cv_.wait_for(lock, 20s,
                             [&] {
                               for (const auto& t : announced_)
                                 if (t.ends_with(suffix)) found = t;
                               return !found.empty();
                             }))
        << "nothing announced ending in " << suffix;
    return found;
  };
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  start();
  clock_.advance(3s);  // until then it may have missed the others' announcements: every live node counts
  ep_.rate_limit = 3;
  publish(receiver.url("/hook"));
  add_messages(3);
  auto sent = sent_to(ep_.id, 1);
  const std::string working = wait_announced("_1_" + ep_.id);
  EXPECT_TRUE(RateShares::is_topic(working)) << working;
  const auto third = 333'333'334ns;
  // One step of a third of a second: `expect` deliveries sent by then, the last one now if there is a new
  // one.
  auto step = [&](size_t expect) {
    clock_.advance(third);
    if (expect > sent.size()) {
      sent = sent_to(ep_.id, expect);
      EXPECT_EQ(sent.back().created_at, clock_.now()) << expect;
    } else {
      barrier();
      EXPECT_EQ(receiver.request_count(), expect);
    }
  };
  // Alone with work: the whole limit, one every third of a second.
  for (size_t k = 2; k <= 4; ++k) step(k);
  // Another node has work for it: two share the limit, one every two thirds of a second. (Announced while
  // this node owes nothing: the first of the next three goes at once, on the token it starts with.)
  dispatcher_->heard(RateShares::topic("b2", ep_.id, true));
  step(4);
  add_messages(3);
  sent = sent_to(ep_.id, 5);
  EXPECT_EQ(sent.back().created_at, clock_.now());
  step(5);
  step(6);
  step(6);
  step(7);
  // It stopped: the whole limit again.
  dispatcher_->heard(RateShares::topic("b2", ep_.id, false));
  step(7);
  step(7);  // two thirds since the last: owes nothing
  add_messages(3);
  sent = sent_to(ep_.id, 8);
  EXPECT_EQ(sent.back().created_at, clock_.now());
  step(9);
  step(10);
  EXPECT_EQ(receiver.request_count(), 10u);
  // Nothing left, and a token earned back: it says it stopped.
  clock_.advance(1s);
  const std::string stopped = wait_announced("_0_" + ep_.id);
  EXPECT_EQ(stopped.substr(0, stopped.size() - ep_.id.size() - 3),
            working.substr(0, working.size() - ep_.id.size() - 3))
      << "the same node";
}

TEST_P(DispatcherTest, AnEndpointFailingForFiveDaysIsDisabled) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(500, "down"));
  publish(receiver.url("/hook"));
  RetryOptions retry;
  retry.schedule = {std::chrono::hours(120), std::chrono::hours(120)};  // the retry lands exactly on day 5
  start(retry);
  auto [d1, a1] = wait_recorded(1);
  auto endpoint = [&] {
    return read<store::Endpoint>([&](store::Tx& tx) { return *tx.get_endpoint(app_.id, ep_.id); });
  };
  EXPECT_FALSE(endpoint().disabled) << "one failure is not a pattern";
  clock_.advance(std::chrono::hours(120));
  dispatcher_->wake();
  auto [d2, a2] = wait_recorded(2);
  EXPECT_TRUE(endpoint().disabled) << "failing continuously for 5 days";
  auto h = read<store::EndpointHealthRecord>([&](store::Tx& tx) { return *tx.get_endpoint_health(ep_.id); });
  ASSERT_TRUE(h.disabled_reason);
  EXPECT_NE(h.disabled_reason->find("failing since " + format_iso8601(a1.created_at)), std::string::npos)
      << *h.disabled_reason;
}

TEST_P(DispatcherTest, ASuccessResetsTheFailingClock) {
  ScriptedReceiver receiver;
  receiver.push(ScriptedResponse::with(500, "down"));
  receiver.push(ScriptedResponse::with(200, "up"));
  receiver.set_default(ScriptedResponse::with(500, "down again"));
  publish(receiver.url("/hook"));
  RetryOptions retry;
  retry.schedule = {std::chrono::hours(96), std::chrono::hours(96)};
  start(retry);
  wait_recorded(1);  // day 0: fails
  clock_.advance(std::chrono::hours(96));
  dispatcher_->wake();
  EXPECT_EQ(wait_recorded(2).first.status, store::Delivery::kSuccess);  // day 4: succeeds
  clock_.advance(std::chrono::hours(48));
  add_messages(1);  // day 6: a new message fails; the streak began today, not on day 0
  dispatcher_->wake();
  wait_recorded(3);
  auto ep = read<store::Endpoint>([&](store::Tx& tx) { return *tx.get_endpoint(app_.id, ep_.id); });
  EXPECT_FALSE(ep.disabled);
  auto health =
      read<store::EndpointHealthRecord>([&](store::Tx& tx) { return *tx.get_endpoint_health(ep_.id); });
  EXPECT_EQ(health.first_failure_at, clock_.now());
  EXPECT_EQ(health.consecutive_failures, 1);
}

}  // namespace
}  // namespace hookwire::delivery

namespace hookwire::delivery {
namespace {

// Parses an operational webhook the receiver got and checks its signature with the operational key.
boost::json::object operational_event(const testing::RecordedRequest& req, TimePoint now) {
  signing::Options vo;
  vo.secrets = {"whsec_b3BlcmF0aW9uYWwtd2ViaG9va3Mtc2VjcmV0"};
  auto verifier = signing::Verifier::create(vo);
  EXPECT_TRUE(verifier.ok());
  std::vector<signing::Header> headers;
  for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"})
    headers.push_back({h, std::string(req.header(h).value_or(""))});
  auto result = verifier->verify(signing::lookup_in(headers), req.body, unix_seconds(now));
  EXPECT_TRUE(result.ok()) << result.message;
  return boost::json::parse(req.body).as_object();
}

TEST_P(DispatcherTest, ExhaustionRaisesASignedOperationalWebhook) {
  ScriptedReceiver receiver, ops;
  receiver.set_default(ScriptedResponse::with(500, "down"));
  ops.set_default(ScriptedResponse::with(204, ""));
  publish(receiver.url("/hook"));
  configure_operational(ops.url("/ops"));
  RetryOptions retry;
  retry.schedule = {std::chrono::seconds{1}};  // two attempts in all
  start(retry);
  wait_recorded(1);
  EXPECT_EQ(ops.request_count(), 0u);  // one failure raises nothing
  clock_.advance(1s);
  auto [d2, a2] = wait_recorded(2);
  EXPECT_EQ(d2.status, store::Delivery::kFailed);
  ASSERT_TRUE(ops.wait_for_requests(1));
  auto [d3, a3] = wait_recorded(3);  // the operational delivery itself
  EXPECT_EQ(a3.endpoint_id, read<store::Endpoint>([&](store::Tx& tx) {
                              return *tx.get_endpoint(*operational_app_id_, kOperationalEndpointUid);
                            }).id);
  auto ev = operational_event(ops.requests().front(), clock_.now());
  EXPECT_EQ(ev.at("type").as_string(), "message.attempt.exhausted");
  const auto& data = ev.at("data").as_object();
  EXPECT_EQ(data.at("appId").as_string(), app_.id);
  EXPECT_EQ(data.at("endpointId").as_string(), ep_.id);
  EXPECT_EQ(data.at("msgId").as_string(), msg_.id);
  EXPECT_EQ(data.at("lastAttempt").at("id").as_string(), a2.id);
  EXPECT_EQ(data.at("lastAttempt").at("responseStatusCode").as_int64(), 500);
  EXPECT_EQ(ops.request_count(), 1u);
}

TEST_P(DispatcherTest, GoneDisablesTheEndpointAndSaysSoOnce) {
  ScriptedReceiver receiver, ops;
  receiver.set_default(ScriptedResponse::with(410, "gone"));
  ops.set_default(ScriptedResponse::with(200, ""));
  publish(receiver.url("/hook"));
  ASSERT_TRUE(write([&](store::Tx& tx) {
                app_.uid = "tenant-1";
                return tx.update_application(app_);
              }).ok());
  configure_operational(ops.url("/ops"));
  start();
  wait_recorded(2);  // the 410, then the operational webhook
  ASSERT_EQ(ops.request_count(), 1u);
  auto ev = operational_event(ops.requests().front(), clock_.now());
  EXPECT_EQ(ev.at("type").as_string(), "endpoint.disabled");
  const auto& data = ev.at("data").as_object();
  EXPECT_EQ(data.at("appId").as_string(), app_.id);
  EXPECT_EQ(data.at("appUid").as_string(), "tenant-1");
  EXPECT_EQ(data.at("endpointId").as_string(), ep_.id);
  EXPECT_EQ(data.at("failSince").as_string(), format_iso8601(clock_.now()));
}

TEST_P(DispatcherTest, FailingOnTheFourthAttemptThenRecovered) {
  ScriptedReceiver receiver, ops;
  for (int i = 0; i < 4; ++i) receiver.push(ScriptedResponse::with(503, "busy"));
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  ops.set_default(ScriptedResponse::with(200, ""));
  publish(receiver.url("/hook"));
  configure_operational(ops.url("/ops"));
  RetryOptions retry;
  retry.schedule = {1s, 1s, 1s, 1s, 1s};
  retry.min_wait_after_throttle = 1s;
  start(retry);
  for (size_t n = 1; n <= 3; ++n) {
    wait_recorded(n);
    clock_.advance(1s);
  }
  EXPECT_EQ(ops.request_count(), 0u);  // three failures raise nothing
  wait_recorded(5);                    // the 4th failure and its message.attempt.failing
  ASSERT_EQ(ops.request_count(), 1u);
  EXPECT_EQ(operational_event(ops.requests()[0], clock_.now()).at("type").as_string(),
            "message.attempt.failing");
  clock_.advance(1s);
  wait_recorded(7);  // the success and its message.attempt.recovered
  ASSERT_EQ(ops.request_count(), 2u);
  auto ev = operational_event(ops.requests()[1], clock_.now());
  EXPECT_EQ(ev.at("type").as_string(), "message.attempt.recovered");
  EXPECT_EQ(ev.at("data").at("lastAttempt").at("responseStatusCode").as_int64(), 200);
}

TEST_P(DispatcherTest, TheOperationalEndpointsOwnFailuresRaiseNothing) {
  ScriptedReceiver ops;
  ops.set_default(ScriptedResponse::with(410, "gone"));
  configure_operational(ops.url("/ops"));
  // A message of the operational application itself, failing with 410: its endpoint is disabled, and no
  // endpoint.disabled event is raised about it (it would go to the endpoint that just refused it).
  ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                store::Application app;
                app.id = "x";
                auto ev = endpoint_disabled_event(app, ep_, clock_.now());
                auto n = emit_operational(tx, *operational_app_id_, ev, clock_.now());
                return n.ok() ? Status() : Status(n.error());
              }).ok());
  start();
  wait_recorded(1);
  auto ep = read<store::Endpoint>(
      [&](store::Tx& tx) { return *tx.get_endpoint(*operational_app_id_, kOperationalEndpointUid); });
  EXPECT_TRUE(ep.disabled);
  auto pending = read<int64_t>([&](store::Tx& tx) {
    auto page = tx.list_messages(*operational_app_id_, store::MessageQuery{});
    return static_cast<int64_t>(page->items.size());
  });
  EXPECT_EQ(pending, 1);  // no second operational message
}

TEST(OperationalApp, ConfiguringAgainUpdatesTheUrlKeepsTheKeyAndReEnables) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hookwire-operational-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  store::SqliteOptions so;
  so.path = (dir / "db").string();
  auto store = std::move(store::open_sqlite_store(so)).value();
  auto run = [&](std::function<Status(store::Tx&)> fn) {
    std::promise<Status> p;
    store->submit_write(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
    return p.get_future().get();
  };
  const TimePoint now = from_unix_millis(1'700'000'000'000);
  std::string first_key;
  ASSERT_TRUE(run([&](store::Tx& tx) -> Status {
                auto id = ensure_operational_app(tx, {"http://127.0.0.1:1/a", std::nullopt}, now);
                if (!id.ok()) return id.take_error();
                auto ep = tx.get_endpoint(*id, kOperationalEndpointUid);
                first_key = ep->secrets.front().key;
                ep->disabled = true;
                return tx.update_endpoint(*ep);
              }).ok());
  EXPECT_EQ(first_key.rfind("whsec_", 0), 0u);
  ASSERT_TRUE(run([&](store::Tx& tx) -> Status {
                auto id = ensure_operational_app(tx, {"http://127.0.0.1:1/b", std::nullopt}, now);
                if (!id.ok()) return id.take_error();
                auto app = tx.get_application(kOperationalAppUid);
                EXPECT_EQ(app->id, *id);
                auto ep = tx.get_endpoint(*id, kOperationalEndpointUid);
                EXPECT_EQ(ep->url, "http://127.0.0.1:1/b");
                EXPECT_EQ(ep->secrets.front().key, first_key);
                EXPECT_FALSE(ep->disabled);
                return {};
              }).ok());
  store->stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hookwire::delivery

namespace hookwire::delivery {
namespace {

// Verifies a received request's Standard Webhooks signature with `secret` alone, at `now`.
bool verifies_with(const testing::RecordedRequest& req, const std::string& secret, TimePoint now) {
  signing::Options vo;
  vo.secrets = {secret};
  auto verifier = signing::Verifier::create(vo);
  if (!verifier.ok()) return false;
  std::vector<signing::Header> headers;
  for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"})
    headers.push_back({h, std::string(req.header(h).value_or(""))});
  return verifier->verify(signing::lookup_in(headers), req.body, unix_seconds(now)).ok();
}

TEST_P(DispatcherTest, DuringARotationBothSecretsSignAndTheOldOneStopsAtTheEndOfTheGrace) {
  constexpr const char* kNewSecret = "whsec_bmV3LXNlY3JldC1hZnRlci10aGUtcm90YXRpb24=";
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(200, "ok"));
  publish(receiver.url("/hook"));
  // Rotated a moment ago: the new key first, the old one valid for the 24 h grace window.
  ASSERT_TRUE(write([&](store::Tx& tx) {
                ep_.secrets = {{kNewSecret, std::nullopt}, {kSecret, clock_.now() + 24h}};
                return tx.update_endpoint(ep_);
              }).ok());
  start();
  wait_recorded(1);
  auto first = receiver.requests().at(0);
  const std::string signatures(first.header("webhook-signature").value_or(""));
  EXPECT_EQ(std::count(signatures.begin(), signatures.end(), ' '), 1) << "two signatures, space-separated";
  EXPECT_TRUE(verifies_with(first, kNewSecret, clock_.now()));
  EXPECT_TRUE(verifies_with(first, kSecret, clock_.now()));

  clock_.advance(24h + 1s);  // the grace window is over
  add_messages(1);
  dispatcher_->wake();
  wait_recorded(2);
  auto second = receiver.requests().at(1);
  EXPECT_TRUE(verifies_with(second, kNewSecret, clock_.now()));
  EXPECT_FALSE(verifies_with(second, kSecret, clock_.now()));
}

}  // namespace
}  // namespace hookwire::delivery

namespace hookwire::delivery {
namespace {

TEST_P(DispatcherTest, AnAttemptWhoseApplicationWasDeletedMeanwhileDoesNotSpoilTheOthersRecords) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::hold());  // both requests wait until released together
  publish(receiver.url("/hook"));
  const store::Application doomed = app_;
  // A second application with its own endpoint and message.
  publish(receiver.url("/hook"));
  start();
  ASSERT_TRUE(receiver.wait_for_requests(2));
  ASSERT_TRUE(write([&](store::Tx& tx) { return tx.delete_application(doomed.id); }).ok());
  receiver.release_held();  // both answers arrive together: their records share one write
  wait_recorded(2);
  auto survivors = deliveries();  // the second application's message
  ASSERT_EQ(survivors.size(), 1u);
  EXPECT_EQ(survivors[0].status, store::Delivery::kSuccess);
  EXPECT_EQ(survivors[0].attempts, 1);
  auto attempts = read<store::Page<store::Attempt>>(
      [&](store::Tx& tx) { return *tx.list_attempts_by_message(app_.id, msg_.id, store::PageQuery{}); });
  EXPECT_EQ(attempts.items.size(), 1u);
}

TEST_P(DispatcherTest, AThinEndpointIsSentWhereToFetchTheMessageSignedLikeAnyDelivery) {
  ScriptedReceiver receiver;
  receiver.set_default(ScriptedResponse::with(204, ""));
  publish(receiver.url("/thin"));
  ep_.thin = true;
  ASSERT_TRUE(write([&](store::Tx& tx) { return tx.update_endpoint(ep_); }).ok());
  start();
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(d.status, store::Delivery::kSuccess);
  ASSERT_EQ(receiver.request_count(), 1u);
  const auto req = receiver.requests().front();
  EXPECT_EQ(req.body, R"({"id":")" + msg_.id + R"(","type":"invoice.paid","timestamp":")" +
                          format_iso8601(msg_.created_at) +
                          R"(","url":"https://hooks.example.test/base/api/v1/app/)" + app_.id + "/msg/" +
                          msg_.id + R"("})");
  EXPECT_EQ(req.header("webhook-id").value_or(""), msg_.id);
  signing::Options vo;
  vo.secrets = {kSecret};
  auto verifier = signing::Verifier::create(vo);
  ASSERT_TRUE(verifier.ok());
  std::vector<signing::Header> headers;
  for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"})
    headers.push_back({h, std::string(req.header(h).value_or(""))});
  auto result = verifier->verify(signing::lookup_in(headers), req.body, unix_seconds(clock_.now()));
  EXPECT_TRUE(result.ok()) << result.message;
  // The message itself is untouched: its payload is what the fetch returns.
  auto stored = read<store::Message>([&](store::Tx& tx) { return *tx.get_message(app_.id, msg_.id); });
  EXPECT_EQ(stored.payload, msg_.payload);
}

TEST_P(DispatcherTest, ADeliveryOwedToAnEndpointMadePullOnlySinceIsFailedUnsent) {
  ScriptedReceiver sink, push;
  sink.set_default(ScriptedResponse::with(200, ""));
  push.set_default(ScriptedResponse::with(200, ""));
  publish(sink.url("/sink"));  // fanned out while it pushed
  const store::Endpoint other = add_endpoint(push.url("/push"));
  ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                return tx.insert_delivery(due_delivery(app_.id, msg_.id, other.id, clock_.now()));
              }).ok());
  ep_.pull_only = true;
  ASSERT_TRUE(write([&](store::Tx& tx) { return tx.update_endpoint(ep_); }).ok());
  start();
  // Both were claimed in one pass; the pull-only one was put right in a write submitted before the other's
  // attempt was sent, so it is committed once that attempt's record is.
  auto [d, a] = wait_recorded(1);
  EXPECT_EQ(a.endpoint_id, other.id);
  EXPECT_EQ(push.request_count(), 1u);
  EXPECT_EQ(sink.request_count(), 0u);
  for (const auto& dl : deliveries()) {
    if (dl.endpoint_id == ep_.id) {
      EXPECT_EQ(dl.status, store::Delivery::kFailed);
      EXPECT_EQ(dl.attempts, 0);
    }
  }
  std::lock_guard lock(mu_);
  EXPECT_EQ(recorded_.size(), 1u);  // no attempt logged for the sink
}

TEST(ThinPayload, NamesTheMessageAndWhereToFetchIt) {
  store::Message m;
  m.id = "msg_2";
  m.app_id = "app_1";
  m.event_type = "push/\"quoted\"";
  m.payload = R"({"secret":1})";
  m.created_at = from_unix_millis(1'700'000'000'123);
  EXPECT_EQ(thin_payload(m, "http://127.0.0.1:8071"),
            R"({"id":"msg_2","type":"push/\"quoted\"","timestamp":")" + format_iso8601(m.created_at) +
                R"(","url":"http://127.0.0.1:8071/api/v1/app/app_1/msg/msg_2"})");
}

INSTANTIATE_TEST_SUITE_P(Leases, DispatcherTest,
                         ::testing::Values(Backend::kSqliteMemoryLeases, Backend::kSqliteRowLeases,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           switch (info.param) {
                             case Backend::kSqliteMemoryLeases:
                               return "InMemory";
                             case Backend::kSqliteRowLeases:
                               return "InRows";
                             case Backend::kPostgres:
                               return "Postgres";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace hookwire::delivery
