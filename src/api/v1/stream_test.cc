// GET .../poller/{sink}/stream over real HTTP, the real server, the store (SQLite and PostgreSQL:
// store/testing/backends.h) and a FeedHub woken by the store: events in commit order with their cursor as
// `id:`, Last-Event-ID resume (every message exactly once), heartbeats (injected short interval),
// `event: close` on shutdown, invalid_iterator, filters and consumers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "api/testing/served_api.h"
#include "api/testing/sse_events.h"
#include "api/v1/routes.h"
#include "core/clock.h"
#include "feed/cursor.h"
#include "feed/hub.h"
#include "store/async.h"
#include "store/store.h"
#include "store/testing/test_dir.h"

namespace hookwire::api::v1 {
namespace {

using ::hookwire::api::testing::next_event;

using namespace std::chrono_literals;
using testing::TestClient;
namespace json = boost::json;

// Blocking store access for the test thread.
template <class T, class Fn>
Result<T> run_read(store::Store& st, Fn fn) {
  std::promise<Result<T>> done;
  auto result = std::make_shared<std::optional<Result<T>>>();
  st.submit_read([&, fn](store::Tx& tx) { result->emplace(fn(tx)); },
                 [&done, result] { done.set_value(std::move(**result)); });
  return done.get_future().get();
}

class StreamTest : public testing::ServedApiTest,
                   public ::testing::WithParamInterface<store::testing::Backend> {
 protected:
  StreamTest() : ServedApiTest("hookwire-stream", GetParam()) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_store());
    with_feed();
  }
  void start(std::chrono::milliseconds heartbeat = 15s) {
    add_application_routes(router_, &ctx_);
    add_endpoint_routes(router_, &ctx_);
    add_message_routes(router_, &ctx_);
    add_stream_routes(router_, &ctx_, StreamOptions{heartbeat});
    ServerOptions so;
    so.drain_timeout = 20s;
    ASSERT_NO_FATAL_FAILURE(serve(so));
    ASSERT_EQ(post("/api/v1/app", R"({"name":"a","uid":"app-a"})").result_int(), 201);
    ASSERT_EQ(
        post("/api/v1/app/app-a/endpoint", R"({"url":"http://127.0.0.1:9/x","uid":"pull"})").result_int(),
        201);
    ASSERT_EQ(post("/api/v1/app/app-a/endpoint",
                   R"({"url":"http://127.0.0.1:9/y","uid":"only-b","filterTypes":["b.happened"]})")
                  .result_int(),
              201);
  }
  Response post(std::string_view target, std::string body) {
    return client_->request(http::verb::post, target, std::move(body),
                            {{"authorization", "Bearer t"}, {"content-type", "application/json"}});
  }
  // Publishes a message; returns its id.
  std::string publish(std::string type, int n) {
    auto res =
        post("/api/v1/app/app-a/msg", fmt::format(R"({{"eventType":"{}","payload":{{"n":{}}}}})", type, n));
    EXPECT_EQ(res.result_int(), 202) << res.body();
    return std::string(json::parse(res.body()).at("id").as_string());
  }
  // Opens a stream; returns the client after reading the head, which it checks.
  std::unique_ptr<TestClient> open(std::string target, std::string last_event_id = {}) {
    auto c = std::make_unique<TestClient>(port_, 10s);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    c->send_raw(req + "\r\n");
    const auto head = c->read_until("\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
    return c;
  }
};

constexpr const char* kStream = "/api/v1/app/app-a/poller/pull/stream";

TEST_P(StreamTest, EventsArriveInCommitOrderWithTheirCursorAndLiveOnesFollow) {
  start();
  std::vector<std::string> sent;
  for (int i = 0; i < 3; ++i) sent.push_back(publish("a.happened", i));
  auto c = open(kStream);
  int64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    if (i == 3) sent.push_back(publish("a.happened", 3));  // while the stream waits: the hub wakes it
    const auto e = next_event(*c);
    EXPECT_EQ(e.type, "message");
    auto data = json::parse(e.data).as_object();
    EXPECT_EQ(data.at("id").as_string(), sent[i]);
    EXPECT_EQ(data.at("eventType").as_string(), "a.happened");
    EXPECT_EQ(data.at("payload").at("n").as_int64(), i);
    const int64_t offset = data.at("offset").as_int64();
    EXPECT_EQ(e.id, feed::encode_cursor(offset));
    EXPECT_GT(offset, last);
    last = offset;
  }
}

TEST_P(StreamTest, LastEventIdResumeAfterADisconnectGivesEveryMessageExactlyOnce) {
  start();
  std::set<std::string> sent;
  for (int i = 0; i < 5; ++i) sent.insert(publish("a.happened", i));
  std::vector<std::string> seen;
  std::string last_id;
  {
    auto c = open(kStream);
    for (int i = 0; i < 2; ++i) {
      const auto e = next_event(*c);
      seen.emplace_back(json::parse(e.data).at("id").as_string());
      last_id = e.id;
    }
    c->close();  // mid-stream
  }
  for (int i = 5; i < 8; ++i) sent.insert(publish("a.happened", i));
  auto c = open(kStream, last_id);
  for (int i = 0; i < 6; ++i) seen.emplace_back(json::parse(next_event(*c).data).at("id").as_string());
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), sent);
  // The same cursor as `iterator` starts at the same place.
  auto again = open(std::string(kStream) + "?iterator=" + last_id);
  EXPECT_EQ(json::parse(next_event(*again).data).at("id").as_string(), seen[2]);
}

TEST_P(StreamTest, HeartbeatsWhileNothingHappens) {
  start(30ms);
  auto c = open(kStream);
  int heartbeats = 0;
  EXPECT_EQ(c->read_until("\n\n"), ": heartbeat\n\n");
  EXPECT_EQ(c->read_until("\n\n"), ": heartbeat\n\n");
  const auto id = publish("a.happened", 1);
  EXPECT_EQ(json::parse(next_event(*c, &heartbeats).data).at("id").as_string(), id);
}

TEST_P(StreamTest, ShutdownWritesCloseEventThenCloses) {
  start();
  publish("a.happened", 1);
  auto hub_first = open(kStream);
  auto server_only = open(kStream);
  next_event(*hub_first);
  next_event(*server_only);
  hub_.stop();  // as App::stop does, before the server
  EXPECT_EQ(next_event(*hub_first).type, "close");
  EXPECT_EQ(next_event(*server_only).type, "close");
  EXPECT_TRUE(hub_first->wait_closed());
  auto stopped = std::async(std::launch::async, [this] { server_->stop(); });
  EXPECT_EQ(stopped.wait_for(10s), std::future_status::ready);
}

TEST_P(StreamTest, ServerStopAloneEndsAWaitingStreamWithClose) {
  start();
  auto c = open(kStream);
  auto stopped = std::async(std::launch::async, [this] { server_->stop(); });
  EXPECT_EQ(next_event(*c).type, "close");  // the server interrupts the hub wait
  EXPECT_TRUE(c->wait_closed());
  EXPECT_EQ(stopped.wait_for(10s), std::future_status::ready);
}

TEST_P(StreamTest, InvalidOrStaleIteratorIs400BeforeTheStream) {
  start();
  for (const char* target : {"/api/v1/app/app-a/poller/pull/stream?iterator=nope",
                             "/api/v1/app/app-a/poller/pull/stream?iterator=itr_00000000000000ff"}) {
    auto res = client_->request(http::verb::get, target, {}, {{"authorization", "Bearer t"}});
    EXPECT_EQ(res.result_int(), 400) << target;
    EXPECT_EQ(json::parse(res.body()).at("code").as_string(), "invalid_iterator") << res.body();
    EXPECT_NE(res.body().find(feed::encode_cursor(0)), std::string::npos) << res.body();  // where it starts
  }
  auto res = client_->request(http::verb::get, kStream, {},
                              {{"authorization", "Bearer t"}, {"last-event-id", "itr_zz"}});
  EXPECT_EQ(res.result_int(), 400);
  res = client_->request(http::verb::get, "/api/v1/app/app-a/poller/nope/stream", {},
                         {{"authorization", "Bearer t"}});
  EXPECT_EQ(res.result_int(), 404);
  res = client_->request(http::verb::get, kStream, {}, {});
  EXPECT_EQ(res.result_int(), 401);
}

TEST_P(StreamTest, SinkFiltersAndQueryFiltersApply) {
  start();
  publish("a.happened", 1);
  const auto b = publish("b.happened", 2);
  publish("c.happened", 3);
  auto sink = open("/api/v1/app/app-a/poller/only-b/stream");
  EXPECT_EQ(json::parse(next_event(*sink).data).at("id").as_string(), b);
  auto query = open(std::string(kStream) + "?event_type=c.happened");
  EXPECT_EQ(json::parse(next_event(*query).data).at("eventType").as_string(), "c.happened");
}

// With consumer=<id>: what the stream hands out is recorded (so it may be committed), and a new stream of the
// consumer starts after its committed position.
TEST_P(StreamTest, ConsumerStreamsStartAfterTheCommittedPosition) {
  start();
  for (int i = 0; i < 3; ++i) publish("a.happened", i);
  int64_t second = 0;
  {
    auto c = open(std::string(kStream) + "?consumer=laptop");
    next_event(*c);
    second = json::parse(next_event(*c).data).at("offset").as_int64();
    const int64_t third = json::parse(next_event(*c).data).at("offset").as_int64();
    auto fn = [](store::Tx& tx) {
      auto ep = tx.get_endpoint(tx.get_application("app-a")->id, "pull");
      return tx.get_feed_consumer(ep->app_id, ep->id, "laptop");
    };
    auto consumer = run_read<store::FeedConsumer>(*store_, fn);
    ASSERT_TRUE(consumer.ok());
    EXPECT_EQ(consumer->leased_through, third);  // recorded before it was sent
    // The client commits the second (as POST .../commit does).
    auto commit = [second](store::Tx& tx) -> Status {
      auto ep = tx.get_endpoint(tx.get_application("app-a")->id, "pull");
      auto c = tx.get_feed_consumer(ep->app_id, ep->id, "laptop");
      c->position = second;
      return tx.put_feed_consumer(*c);
    };
    ASSERT_TRUE(run_write(commit).ok());
  }
  auto c = open(std::string(kStream) + "?consumer=laptop");
  const auto next = json::parse(next_event(*c).data);
  EXPECT_GT(next.at("offset").as_int64(), second);
  EXPECT_EQ(next.at("payload").at("n").as_int64(), 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, StreamTest, store::testing::both_backends(), store::testing::backend_name);

}  // namespace
}  // namespace hookwire::api::v1
