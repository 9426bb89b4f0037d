// HttpClient against real receivers on 127.0.0.1 (ScriptedReceiver). No sleeps: every test waits on a future
// or on the receiver's record of requests; the short timeouts (200-300 ms) are the client's own timers under
// test.
#include "delivery/http_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "delivery/testing/scripted_receiver.h"

namespace hookwire::delivery {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using testing::ReceiverOptions;
using testing::ScriptedReceiver;
using testing::ScriptedResponse;
using namespace std::chrono_literals;

using PostResult = ClientResult<HttpResponse>;

net::awaitable<void> run_post(HttpClient* client, HttpRequest req,
                              std::shared_ptr<std::promise<PostResult>> out) {
  auto r = co_await client->post(std::move(req));
  out->set_value(std::move(r));
}

UrlGuard loopback_allowed() {
  auto g = UrlGuard::from_config({"127.0.0.0/8"}, false);
  EXPECT_TRUE(g.ok());
  return *g;
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    client_.reset();
    guard_.reset();
    ioc_.stop();
    thread_.join();
  }

  HttpClient& make_client(HttpClientOptions options = {}) {
    if (options.guard.options().allow.empty() && !no_default_allow_) options.guard = loopback_allowed();
    auto c = HttpClient::create(ioc_.get_executor(), std::move(options));
    EXPECT_TRUE(c.ok()) << c.error().detail;
    client_ = std::move(*c);
    return *client_;
  }

  std::future<PostResult> start_post(HttpRequest req) {
    auto p = std::make_shared<std::promise<PostResult>>();
    auto fut = p->get_future();
    net::co_spawn(ioc_, run_post(client_.get(), std::move(req), p), net::detached);
    return fut;
  }
  static PostResult wait(std::future<PostResult>& fut) {
    if (fut.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "post did not finish";
      return ClientError{FailureKind::kCancelled, "test gave up"};
    }
    return fut.get();
  }
  PostResult post(HttpRequest req) {
    auto fut = start_post(std::move(req));
    return wait(fut);
  }
  PostResult post(std::string url, std::string body = R"({"a":1})") {
    HttpRequest req;
    req.url = std::move(url);
    req.body = std::move(body);
    return post(std::move(req));
  }
  size_t idle_connections() {
    std::promise<size_t> p;
    net::post(ioc_, [&] { p.set_value(client_->idle_connections()); });
    return p.get_future().get();
  }
  // With the pool on a clock of the test's: posts /first, has the receiver half-close the pooled connection
  // (a request still sent there is then recorded there), moves the clock on by `idle`, posts /second (which
  // must succeed on a fresh connection) and returns every request the receiver saw.
  std::vector<testing::RecordedRequest> post_again_after_a_half_close(ScriptedReceiver& rx,
                                                                      std::chrono::milliseconds idle) {
    auto now = std::make_shared<std::atomic<std::chrono::steady_clock::time_point>>(
        std::chrono::steady_clock::now());
    HttpClientOptions options;
    options.pool_clock = [now] { return now->load(); };
    make_client(std::move(options));
    EXPECT_TRUE(post(rx.url("/first")).ok());
    rx.half_close_idle_connections();
    now->store(now->load() + idle);
    auto second = post(rx.url("/second"));
    EXPECT_TRUE(second.ok());
    if (second.ok()) {
      EXPECT_FALSE(second->reused_connection);
    }
    return rx.requests();
  }

  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(ioc_);
  std::thread thread_;
  std::unique_ptr<HttpClient> client_;
  bool no_default_allow_ = false;
};

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << to_string((r).error().kind) << ": " << (r).error().message
#define ASSERT_FAILS_WITH(r, k)                       \
  ASSERT_FALSE((r).ok()) << "status " << (r)->status; \
  EXPECT_EQ(to_string((r).error().kind), to_string(k)) << (r).error().message

TEST_F(HttpClientTest, Ok200CapturesBodyAndSendsHeaders) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::with(200, "thanks").with_header("X-Seen", "yes"));
  make_client();
  HttpRequest req;
  req.url = rx.url("/hook?x=1");
  req.headers = {{"webhook-id", "msg_1"}, {"webhook-signature", "v1,abc"}};
  req.body = R"({"type":"user.created"})";
  auto r = post(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "thanks");
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->header("x-seen").value_or(""), "yes");
  EXPECT_FALSE(r->retry_after);
  EXPECT_FALSE(r->reused_connection);

  ASSERT_TRUE(rx.wait_for_requests(1));
  const auto got = rx.requests().at(0);
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/hook?x=1");
  EXPECT_EQ(got.body, req.body);
  EXPECT_EQ(got.header("content-type").value_or(""), "application/json");
  EXPECT_EQ(got.header("user-agent").value_or(""), "hookwire/0.1");
  EXPECT_EQ(got.header("host").value_or(""), fmt::format("127.0.0.1:{}", rx.port()));
  EXPECT_EQ(got.header("content-length").value_or(""), std::to_string(req.body.size()));
  EXPECT_EQ(got.header("webhook-id").value_or(""), "msg_1");
  EXPECT_EQ(got.header("webhook-signature").value_or(""), "v1,abc");
}

TEST_F(HttpClientTest, CallerContentTypeAndUserAgentWin) {
  ScriptedReceiver rx;
  HttpClientOptions o;
  o.user_agent = "hookwire-test/9";
  make_client(o);
  HttpRequest req;
  req.url = rx.url("/");
  req.headers = {{"Content-Type", "text/plain"}, {"Content-Length", "999"}, {"Host", "evil.example"}};
  req.body = "plain";
  ASSERT_OK(post(req));
  const auto got = rx.requests().at(0);
  EXPECT_EQ(got.header("content-type").value_or(""), "text/plain");
  EXPECT_EQ(got.header("user-agent").value_or(""), "hookwire-test/9");
  EXPECT_EQ(got.header("content-length").value_or(""), "5");
  EXPECT_EQ(got.header("host").value_or(""), fmt::format("127.0.0.1:{}", rx.port()));
  EXPECT_EQ(got.body, "plain");
}

TEST_F(HttpClientTest, ErrorStatusesAreResponsesNotFailures) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::with(500, "boom"));
  rx.push(ScriptedResponse::with(429, "slow down").with_header("Retry-After", "7"));
  rx.push(ScriptedResponse::with(410, "gone"));
  make_client();
  auto r500 = post(rx.url("/"));
  ASSERT_OK(r500);
  EXPECT_EQ(r500->status, 500u);
  EXPECT_EQ(r500->body, "boom");
  auto r429 = post(rx.url("/"));
  ASSERT_OK(r429);
  EXPECT_EQ(r429->status, 429u);
  ASSERT_TRUE(r429->retry_after);
  EXPECT_EQ(*r429->retry_after, "7");
  auto r410 = post(rx.url("/"));
  ASSERT_OK(r410);
  EXPECT_EQ(r410->status, 410u);
  EXPECT_EQ(r410->body, "gone");
}

TEST_F(HttpClientTest, RedirectIsReturnedNotFollowed) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::with(302, "").with_header("Location", rx.url("/elsewhere")));
  make_client();
  auto r = post(rx.url("/hook"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 302u);
  EXPECT_EQ(r->header("location").value_or(""), rx.url("/elsewhere"));
  EXPECT_EQ(rx.request_count(), 1u);
}

TEST_F(HttpClientTest, TotalTimeoutWhenTheReceiverNeverAnswers) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::hold());
  make_client();
  HttpRequest req;
  req.url = rx.url("/");
  req.total_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = post(req);
  ASSERT_FAILS_WITH(r, FailureKind::kTimeout);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(rx.request_count(), 1u);
  EXPECT_EQ(idle_connections(), 0u);  // the timed-out connection was discarded
  rx.release_held();
}

TEST_F(HttpClientTest, ConnectionRefused) {
  uint16_t port;
  {
    net::io_context tmp;
    tcp::acceptor a(tmp, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  make_client();
  auto r = post(fmt::format("http://127.0.0.1:{}/", port));
  ASSERT_FAILS_WITH(r, FailureKind::kConnectFailed);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos);
}

TEST_F(HttpClientTest, ConnectTimeoutWhenTheListenQueueIsFull) {
  // A listener that never accepts, with its accept queue filled: the kernel drops further SYNs, so a connect
  // hangs until the client's connect timeout.
  net::io_context tmp;
  tcp::acceptor a(tmp);
  a.open(tcp::v4());
  a.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  a.listen(0);
  const auto ep = a.local_endpoint();
  std::vector<std::unique_ptr<tcp::socket>> fillers;
  for (int i = 0; i < 4; ++i) {
    auto s = std::make_unique<tcp::socket>(tmp);
    s->open(tcp::v4());
    s->non_blocking(true);
    // Raw connect(2): in progress or done, either way it takes a place in the queue (Asio's connect would
    // wait for it).
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(ep.data());
    (void)::connect(s->native_handle(), sa, static_cast<socklen_t>(ep.size()));
    fillers.push_back(std::move(s));
  }
  make_client();
  HttpRequest req;
  req.url = fmt::format("http://127.0.0.1:{}/", ep.port());
  req.connect_timeout = 200ms;
  req.total_timeout = 5s;
  auto r = post(req);
  ASSERT_FAILS_WITH(r, FailureKind::kConnectTimeout);
}

TEST_F(HttpClientTest, TricklingBodyCompletesWithinTheDeadline) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::trickle("0123456789abcdefghij", 5ms));
  make_client();
  HttpRequest req;
  req.url = rx.url("/");
  req.total_timeout = 10s;
  auto r = post(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->body, "0123456789abcdefghij");
}

TEST_F(HttpClientTest, TricklingBodyTooSlowTimesOut) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::trickle(std::string(200, 'x'), 20ms));  // 4 s in all
  make_client();
  HttpRequest req;
  req.url = rx.url("/");
  req.total_timeout = 300ms;
  auto r = post(req);
  ASSERT_FAILS_WITH(r, FailureKind::kTimeout);
  EXPECT_NE(r.error().message.find("reading the response body"), std::string::npos) << r.error().message;
}

TEST_F(HttpClientTest, BodyIsTruncatedAtTheBound) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::with(200, std::string(100'000, 'b')));
  rx.push(ScriptedResponse::with(200, std::string(1000, 'c')));
  HttpClientOptions o;
  o.max_response_body = 1000;
  make_client(o);
  auto big = post(rx.url("/"));
  ASSERT_OK(big);
  EXPECT_EQ(big->body, std::string(1000, 'b'));
  EXPECT_TRUE(big->truncated);
  EXPECT_EQ(idle_connections(), 0u);  // not read to the end: closed, not pooled
  auto exact = post(rx.url("/"));
  ASSERT_OK(exact);
  EXPECT_EQ(exact->body.size(), 1000u);
  EXPECT_FALSE(exact->truncated);
  EXPECT_EQ(idle_connections(), 1u);
}

TEST_F(HttpClientTest, ChunkedAndCloseDelimitedBodies) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::raw_bytes(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  rx.push(ScriptedResponse::raw_bytes("HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nuntil eof"));
  make_client();
  auto chunked = post(rx.url("/"));
  ASSERT_OK(chunked);
  EXPECT_EQ(chunked->body, "hello world");
  auto eof = post(rx.url("/"));
  ASSERT_OK(eof);
  EXPECT_EQ(eof->status, 201u);
  EXPECT_EQ(eof->body, "until eof");
}

TEST_F(HttpClientTest, GarbageResponseIsAProtocolError) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::raw_bytes("SMTP ready\r\n\r\n"));
  make_client();
  auto r = post(rx.url("/"));
  ASSERT_FAILS_WITH(r, FailureKind::kProtocolError);
}

TEST_F(HttpClientTest, KeepAliveReusesTheConnection) {
  ScriptedReceiver rx;
  make_client();
  auto a = post(rx.url("/a"));
  ASSERT_OK(a);
  EXPECT_EQ(idle_connections(), 1u);
  auto b = post(rx.url("/b"));
  ASSERT_OK(b);
  EXPECT_TRUE(b->reused_connection);
  ASSERT_EQ(rx.request_count(), 2u);
  const auto reqs = rx.requests();
  EXPECT_EQ(reqs[0].connection, reqs[1].connection);
  EXPECT_EQ(rx.connection_count(), 1u);
}

TEST_F(HttpClientTest, ConnectionCloseResponseIsNotPooled) {
  ScriptedReceiver rx;
  auto r = ScriptedResponse::with(200, "bye");
  r.close_after = true;
  rx.push(r);
  make_client();
  ASSERT_OK(post(rx.url("/")));
  EXPECT_EQ(idle_connections(), 0u);
  ASSERT_OK(post(rx.url("/")));
  EXPECT_EQ(rx.connection_count(), 2u);
}

TEST_F(HttpClientTest, StaleIdleConnectionIsReplacedTransparently) {
  ScriptedReceiver rx;
  make_client();
  ASSERT_OK(post(rx.url("/")));
  rx.close_idle_connections();  // the receiver drops the keep-alive connection the client has pooled
  auto r = post(rx.url("/"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(rx.connection_count(), 2u);
}

TEST_F(HttpClientTest, PooledConnectionClosedWithoutAnswerIsRetriedOnceOnAFreshOne) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::with(200, "first"));
  rx.push(ScriptedResponse::close_connection());  // as if it had timed the idle connection out just then
  rx.push(ScriptedResponse::with(200, "second"));
  make_client();
  ASSERT_OK(post(rx.url("/")));
  auto r = post(rx.url("/"));
  ASSERT_OK(r);
  EXPECT_EQ(r->body, "second");
  EXPECT_FALSE(r->reused_connection);
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].connection, reqs[1].connection);
  EXPECT_NE(reqs[1].connection, reqs[2].connection);
}

// A pooled connection idle for a second or more is peeked at before it is used; one the peer has closed
// meanwhile is dropped, and the request goes out on a fresh connection.
TEST_F(HttpClientTest, ConnectionIdleForASecondIsCheckedBeforeReuse) {
  ScriptedReceiver rx;
  const auto reqs = post_again_after_a_half_close(rx, 1500ms);
  ASSERT_EQ(reqs.size(), 2u) << "the request was never sent on the closed connection";
  EXPECT_NE(reqs[0].connection, reqs[1].connection);
}

// The same closed connection, idle for less than a second: reused without a peek (one system call saved per
// request under load). The request is sent there, gets no answer, and is retried once on a fresh connection.
TEST_F(HttpClientTest, ConnectionIdleForLessThanASecondIsReusedWithoutACheck) {
  ScriptedReceiver rx;
  const auto reqs = post_again_after_a_half_close(rx, 900ms);
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].connection, reqs[0].connection) << "sent on the pooled connection first";
  EXPECT_NE(reqs[2].connection, reqs[0].connection) << "then retried on a fresh one";
  EXPECT_EQ(reqs[2].target, "/second");
}

TEST_F(HttpClientTest, FreshConnectionClosedWithoutAnswerIsNotRetried) {
  ScriptedReceiver rx;
  rx.set_default(ScriptedResponse::close_connection());
  make_client();
  auto r = post(rx.url("/"));
  ASSERT_FAILS_WITH(r, FailureKind::kConnectionLost);
  EXPECT_EQ(rx.request_count(), 1u);
}

TEST_F(HttpClientTest, TlsWithTheTestCa) {
  ScriptedReceiver rx({.tls = true});
  HttpClientOptions o;
  o.extra_ca_file = rx.ca_file();
  make_client(o);
  auto by_ip = post(rx.url("/tls"));
  ASSERT_OK(by_ip);
  EXPECT_EQ(by_ip->status, 200u);
  auto by_name = post(rx.url("/tls", "localhost"));
  ASSERT_OK(by_name);
  auto again = post(rx.url("/tls", "localhost"));
  ASSERT_OK(again);
  EXPECT_TRUE(again->reused_connection);
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(reqs[0].tls);
  EXPECT_EQ(reqs[1].connection, reqs[2].connection);
  EXPECT_EQ(reqs[1].header("host").value_or(""), fmt::format("localhost:{}", rx.port()));
}

TEST_F(HttpClientTest, TlsWithoutTheCaFails) {
  ScriptedReceiver rx({.tls = true});
  make_client();
  auto r = post(rx.url("/", "localhost"));
  ASSERT_FAILS_WITH(r, FailureKind::kTlsFailed);
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
  EXPECT_EQ(rx.request_count(), 0u);
}

TEST_F(HttpClientTest, TlsHostNameMismatchFails) {
  ScriptedReceiver rx({.tls = true, .cert_names = {"receiver.example"}});
  HttpClientOptions o;
  o.extra_ca_file = rx.ca_file();
  make_client(o);
  auto by_name = post(rx.url("/", "localhost"));
  ASSERT_FAILS_WITH(by_name, FailureKind::kTlsFailed);
  EXPECT_NE(by_name.error().message.find("mismatch"), std::string::npos) << by_name.error().message;
  auto by_ip = post(rx.url("/", "127.0.0.1"));
  ASSERT_FAILS_WITH(by_ip, FailureKind::kTlsFailed);
  EXPECT_EQ(rx.request_count(), 0u);
}

TEST_F(HttpClientTest, BadExtraCaFileIsAStartupError) {
  HttpClientOptions o;
  o.extra_ca_file = "/nonexistent/ca.pem";
  auto c = HttpClient::create(ioc_.get_executor(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().field, "extra_ca_file");
  EXPECT_NE(c.error().detail.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST_F(HttpClientTest, GuardChecksTheResolvedAddress) {
  ScriptedReceiver rx;
  no_default_allow_ = true;
  make_client();  // default guard: loopback refused
  // A host name passes URL validation; the check happens on what it resolves to.
  auto by_name = post(rx.url("/", "localhost"));
  ASSERT_FAILS_WITH(by_name, FailureKind::kBlockedAddress);
  EXPECT_NE(by_name.error().message.find("is not allowed (loopback"), std::string::npos)
      << by_name.error().message;
  // An IP literal is refused before anything is resolved.
  auto by_ip = post(rx.url("/"));
  ASSERT_FAILS_WITH(by_ip, FailureKind::kInvalidUrl);
  EXPECT_EQ(rx.connection_count(), 0u);
}

TEST_F(HttpClientTest, AllowListLetsLoopbackThroughAfterDns) {
  ScriptedReceiver rx;
  make_client();  // allow 127.0.0.0/8 (::1, if localhost has it, stays refused and is skipped)
  auto r = post(rx.url("/", "localhost"));
  ASSERT_OK(r);
  EXPECT_EQ(rx.request_count(), 1u);
}

TEST_F(HttpClientTest, HttpsOnlyRefusesHttp) {
  ScriptedReceiver rx;
  auto guard = UrlGuard::from_config({"127.0.0.0/8"}, true);
  ASSERT_TRUE(guard.ok());
  HttpClientOptions o;
  o.guard = *guard;
  make_client(o);
  auto r = post(rx.url("/"));
  ASSERT_FAILS_WITH(r, FailureKind::kInvalidUrl);
  EXPECT_NE(r.error().message.find("https is required"), std::string::npos);
  EXPECT_EQ(rx.connection_count(), 0u);
}

TEST_F(HttpClientTest, InvalidUrl) {
  make_client();
  auto r = post("ftp://127.0.0.1/");
  ASSERT_FAILS_WITH(r, FailureKind::kInvalidUrl);
}

TEST_F(HttpClientTest, StopCancelsInFlightAndLaterRequests) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::hold());
  make_client();
  HttpRequest req;
  req.url = rx.url("/");
  auto fut = start_post(req);
  ASSERT_TRUE(rx.wait_for_requests(1));
  client_->stop();
  auto r = wait(fut);
  ASSERT_FAILS_WITH(r, FailureKind::kCancelled);
  auto later = post(req);
  ASSERT_FAILS_WITH(later, FailureKind::kCancelled);
}

TEST_F(HttpClientTest, DestroyingTheClientWithARequestInFlightIsSafe) {
  ScriptedReceiver rx;
  rx.push(ScriptedResponse::hold());
  make_client();
  HttpRequest req;
  req.url = rx.url("/");
  auto fut = start_post(req);
  ASSERT_TRUE(rx.wait_for_requests(1));
  // The coroutine still holds the client pointer it was started with, but only for the call into post();
  // the request itself runs on the client's shared state.
  client_.reset();
  auto r = wait(fut);
  ASSERT_FAILS_WITH(r, FailureKind::kCancelled);
}

}  // namespace
}  // namespace hookwire::delivery
