// The pull door's poller routes (api/v1/poller.cc) over the real router, server and store (SQLite and
// PostgreSQL: store/testing/backends.h), with the FeedHub wired as the app wires it and an injected clock for
// leases: shapes, sink filters, paging under concurrent writers, invalid iterators, consumers and seek,
// leases and commits, long-poll `wait`, and a prompt shutdown with many requests held.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "api/testing/served_api.h"
#include "api/v1/routes.h"
#include "core/clock.h"
#include "core/ids.h"
#include "delivery/url_guard.h"
#include "feed/cursor.h"
#include "feed/hub.h"
#include "store/async.h"
#include "store/store.h"
#include "store/testing/test_dir.h"

namespace hookwire::api::v1 {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using testing::Headers;
using testing::TestClient;

const Headers kAuth{{"authorization", "Bearer t"}};
const Headers kJson{{"authorization", "Bearer t"}, {"content-type", "application/json"}};

class PollerTest : public testing::ServedApiTest,
                   public ::testing::WithParamInterface<store::testing::Backend> {
 protected:
  PollerTest() : ServedApiTest("hookwire-poller", GetParam()) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_store());
    with_feed();
    add_routes(router_, &ctx_);
    ServerOptions options;
    options.threads = 2;
    ASSERT_NO_FATAL_FAILURE(serve(options));
    ASSERT_EQ(post("/api/v1/app", R"({"name":"a","uid":"app-a"})").result_int(), 201);
  }

  Response post(std::string_view target, std::string body, TestClient* c = nullptr) {
    return (c ? c : client_.get())->request(http::verb::post, target, std::move(body), kJson);
  }
  Response get(std::string_view target, TestClient* c = nullptr) {
    return (c ? c : client_.get())->request(http::verb::get, target, {}, kAuth);
  }
  json::object get_ok(std::string_view target) {
    auto res = get(target);
    EXPECT_EQ(res.result_int(), 200) << target << ": " << res.body();
    return res.result_int() == 200 ? json::parse(res.body()).as_object() : json::object{};
  }
  // A sink of app-a: an endpoint (disabled endpoints read too, and get no deliveries: retention may prune).
  void make_sink(std::string uid, std::string extra = {}) {
    auto res = post("/api/v1/app/app-a/endpoint",
                    R"({"url":"http://127.0.0.1:9/hook","uid":")" + uid + "\"" + extra + "}");
    ASSERT_EQ(res.result_int(), 201) << res.body();
  }
  std::string publish(std::string type = "a.b", std::string channels = {}, TestClient* c = nullptr) {
    std::string body = R"({"eventType":")" + type + R"(","payload":{"k":1})" +
                       (channels.empty() ? "" : R"(,"channels":)" + channels) + "}";
    auto res = post("/api/v1/app/app-a/msg", body, c);
    EXPECT_EQ(res.result_int(), 202) << res.body();
    return res.result_int() == 202 ? std::string(json::parse(res.body()).as_object().at("id").as_string())
                                   : std::string{};
  }
  static std::vector<std::string> ids(const json::object& page) {
    std::vector<std::string> out;
    for (const auto& m : page.at("data").as_array()) out.emplace_back(m.as_object().at("id").as_string());
    return out;
  }
  static std::string str(const json::value& v) { return std::string(v.as_string()); }
  bool wait_for_held(size_t n) {  // until n requests are held on the hub (observed, with a bound)
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (hub_.waiting() < n)
      if (std::chrono::steady_clock::now() > until)
        return false;
      else
        std::this_thread::yield();
    return true;
  }
};

TEST_P(PollerTest, ShapesOfBothPollers) {
  make_sink("sink");
  const std::string m1 = publish("a.b", R"(["c1"])");
  const std::string m2 = publish();
  // A message keeping its provider's headers (as the inbound gateway stores them).
  auto fn = [now = clock_.now()](store::Tx& tx) -> Result<bool> {
    auto app = tx.get_application("app-a");
    if (!app) return app.take_error();
    store::Message m;
    m.id = new_id(id_prefix::kMessage, now);
    m.app_id = app->id;
    m.event_type = "a.b";
    m.payload = R"({"x":2})";
    m.created_at = now;
    m.headers = R"({"x-github-event":"push"})";
    if (auto st = tx.insert_message(m); !st) return st.take_error();
    return true;
  };
  auto stored = std::make_shared<Status>();
  std::promise<Status> done;
  store_->submit_write(
      [&fn, stored](store::Tx& tx) -> Status {
        auto r = fn(tx);
        *stored = r ? Status{} : Status{r.error()};
        return *stored;
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  ASSERT_TRUE(done.get_future().get().ok());  // durable: readable from now on
  auto page = get_ok("/api/v1/app/app-a/poller/sink");
  ASSERT_EQ(page.at("data").as_array().size(), 3u) << json::serialize(page);
  EXPECT_TRUE(page.at("done").as_bool());
  EXPECT_TRUE(feed::decode_cursor(str(page.at("iterator"))).has_value());
  const auto& first = page.at("data").as_array()[0].as_object();
  EXPECT_EQ(str(first.at("id")), m1);
  EXPECT_EQ(str(first.at("eventType")), "a.b");
  EXPECT_EQ(first.at("payload").as_object().at("k").as_int64(), 1);
  EXPECT_EQ(first.at("channels").as_array().size(), 1u);
  EXPECT_TRUE(first.at("headers").is_null());
  EXPECT_TRUE(first.contains("timestamp"));
  EXPECT_FALSE(first.contains("offset"));
  EXPECT_EQ(str(page.at("data").as_array()[1].as_object().at("id")), m2);
  const auto& third = page.at("data").as_array()[2].as_object();
  EXPECT_EQ(str(third.at("headers").as_object().at("x-github-event")), "push");

  auto v2 = get_ok("/api/v1/app/app-a/polling-endpoint/sink/consumer/c1");
  ASSERT_EQ(v2.at("data").as_array().size(), 3u);
  EXPECT_FALSE(v2.contains("iterator"));
  EXPECT_TRUE(v2.at("done").as_bool());
  int64_t last = 0;
  for (const auto& m : v2.at("data").as_array()) {
    const int64_t offset = m.as_object().at("offset").as_int64();
    EXPECT_GT(offset, last);
    last = offset;
  }
  // The sink by id and by uid, the app by id: the same log.
  auto ep = json::parse(get("/api/v1/app/app-a/endpoint/sink").body()).as_object();
  auto app = json::parse(get("/api/v1/app/app-a").body()).as_object();
  auto by_id = get_ok("/api/v1/app/" + str(app.at("id")) + "/poller/" + str(ep.at("id")));
  EXPECT_EQ(ids(by_id), ids(page));
}

TEST_P(PollerTest, TheSinksFiltersAndTheRequestsApply) {
  make_sink("typed", R"(,"filterTypes":["a.b"])");
  make_sink("chan", R"(,"channels":["c1"])");
  make_sink("all");
  const std::string ab = publish("a.b");
  const std::string cd = publish("c.d", R"(["c1"])");
  const std::string ab_c2 = publish("a.b", R"(["c2"])");
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/typed")), (std::vector{ab, ab_c2}));
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/chan")), (std::vector{cd}));
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/all?event_type=c.d")), (std::vector{cd}));
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/all?channel=c2")), (std::vector{ab_c2}));
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/polling-endpoint/typed/consumer/x")), (std::vector{ab, ab_c2}));
  // A filtered read hands back where it looked to, so the next read does not look again.
  auto page = get_ok("/api/v1/app/app-a/poller/chan");
  auto again = get_ok("/api/v1/app/app-a/poller/chan?iterator=" + str(page.at("iterator")));
  EXPECT_TRUE(again.at("data").as_array().empty());
  EXPECT_EQ(*feed::decode_cursor(str(page.at("iterator"))), store_->feed_head());
}

TEST_P(PollerTest, BadRequestsAreRefusedWithTheirField) {
  make_sink("sink");
  EXPECT_EQ(get("/api/v1/app/app-a/poller/nope").result_int(), 404);
  EXPECT_EQ(get("/api/v1/app/nope/poller/sink").result_int(), 404);
  for (const char* q :
       {"limit=0", "limit=251", "wait=61", "wait=-1", "wait=x", "event_type=a%20b", "after=x"}) {
    auto res = get(std::string("/api/v1/app/app-a/poller/sink?") + q);
    EXPECT_EQ(res.result_int(), 422) << q << ": " << res.body();
  }
  EXPECT_EQ(get("/api/v1/app/app-a/poller/sink/consumer/a%20b").result_int(), 422);
  EXPECT_EQ(get("/api/v1/app/app-a/poller/sink/consumer/" + std::string(257, 'c')).result_int(), 422);
  for (const char* q : {"lease_duration_ms=0", "lease_duration_ms=3600001", "starting_position=middle"}) {
    auto res = get(std::string("/api/v1/app/app-a/polling-endpoint/sink/consumer/c?") + q);
    EXPECT_EQ(res.result_int(), 422) << q << ": " << res.body();
  }
  EXPECT_EQ(post("/api/v1/app/app-a/poller/sink/consumer/c/seek", R"({"after":"yesterday"})").result_int(),
            422);
  EXPECT_EQ(post("/api/v1/app/app-a/polling-endpoint/sink/consumer/c/commit", R"({})").result_int(), 422);
  EXPECT_EQ(
      post("/api/v1/app/app-a/polling-endpoint/sink/consumer/c/commit", R"({"offset":-1})").result_int(),
      422);
  EXPECT_EQ(get("/api/v1/app/app-a/poller/sink").result_int(), 200);
  // No token, no read.
  EXPECT_EQ(client_->request(http::verb::get, "/api/v1/app/app-a/poller/sink").result_int(), 401);
}

TEST_P(PollerTest, InvalidIteratorsNameWhereTheLogStarts) {
  make_sink("sink", R"(,"disabled":true)");  // no deliveries: retention may prune its messages
  publish();
  publish();
  auto page = get_ok("/api/v1/app/app-a/poller/sink");
  ASSERT_EQ(page.at("data").as_array().size(), 2u);
  const int64_t head = store_->feed_head();
  auto check = [&](const std::string& iterator, int64_t start) {
    auto res = get("/api/v1/app/app-a/poller/sink?iterator=" + iterator);
    EXPECT_EQ(res.result_int(), 400) << iterator << ": " << res.body();
    auto body = json::parse(res.body()).as_object();
    EXPECT_EQ(str(body.at("code")), "invalid_iterator");
    EXPECT_NE(str(body.at("detail")).find(feed::encode_cursor(start)), std::string::npos) << res.body();
    auto consumer = get("/api/v1/app/app-a/poller/sink/consumer/c?iterator=" + iterator);
    EXPECT_EQ(consumer.result_int(), 400) << consumer.body();
  };
  check("garbage", 0);
  check("itr_zzzzzzzzzzzzzzzz", 0);
  check(feed::encode_cursor(head) + "0", 0);
  check(feed::encode_cursor(head + 1), 0);  // never handed out

  // Retention prunes both: a cursor from before is stale and names where the log now starts.
  int pruned = -1;
  std::promise<Status> done;
  store_->submit_write(
      [&pruned, cutoff = clock_.now() + 1s](store::Tx& tx) -> Status {
        auto n = tx.prune_messages(cutoff, 100);
        if (!n) return n.take_error();
        pruned = *n;
        return {};
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  ASSERT_TRUE(done.get_future().get().ok());
  ASSERT_EQ(pruned, 2);
  std::promise<int64_t> feed_start;
  store_->submit_read([&](store::Tx& tx) { feed_start.set_value(tx.feed_start().value()); }, [] {});
  const int64_t log_start = feed_start.get_future().get();
  EXPECT_GT(log_start, 0);
  check(feed::encode_cursor(0), log_start);
  // Without an iterator: from where the log starts; a consumer behind it continues there.
  auto fresh = get_ok("/api/v1/app/app-a/poller/sink");
  EXPECT_TRUE(fresh.at("data").as_array().empty());
  EXPECT_GE(*feed::decode_cursor(str(fresh.at("iterator"))), log_start);
  const std::string m3 = publish();
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/sink?iterator=" + str(fresh.at("iterator")))),
            (std::vector{m3}));
}

TEST_P(PollerTest, ConsumersKeepTheirPlaceAndSeek) {
  make_sink("sink");
  const std::string m1 = publish();
  const std::string m2 = publish();
  clock_.advance(10s);
  const TimePoint between = clock_.now() - 5s;
  const std::string m3 = publish();
  const std::string base = "/api/v1/app/app-a/poller/sink/consumer/c1";
  auto p1 = get_ok(base + "?limit=2");
  EXPECT_EQ(ids(p1), (std::vector{m1, m2}));
  EXPECT_EQ(ids(get_ok(base)), (std::vector{m3}));
  auto empty = get_ok(base);
  EXPECT_TRUE(empty.at("data").as_array().empty());
  EXPECT_TRUE(empty.at("done").as_bool());
  // Another consumer has its own place; an explicit iterator restarts this one from there.
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/sink/consumer/c2")), (std::vector{m1, m2, m3}));
  auto first = get_ok("/api/v1/app/app-a/poller/sink?limit=1");
  EXPECT_EQ(ids(get_ok(base + "?iterator=" + str(first.at("iterator")))), (std::vector{m2, m3}));
  EXPECT_TRUE(get_ok(base).at("data").as_array().empty());

  // Seek: the next poll starts with the first message created after `after`.
  auto seek = post(base + "/seek", R"({"after":")" + format_iso8601(between) + "\"}");
  ASSERT_EQ(seek.result_int(), 200) << seek.body();
  const auto it = str(json::parse(seek.body()).as_object().at("iterator"));
  EXPECT_TRUE(feed::decode_cursor(it).has_value());
  EXPECT_EQ(ids(get_ok(base)), (std::vector{m3}));
  seek = post(base + "/seek", R"({"after":")" + format_iso8601(between - 1h) + "\"}");
  ASSERT_EQ(seek.result_int(), 200) << seek.body();
  EXPECT_EQ(ids(get_ok(base)), (std::vector{m1, m2, m3}));
  // The iterator a seek hands back reads the same as the consumer.
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/sink?iterator=" + it)), (std::vector{m3}));
  // `after` without an iterator on the plain poller.
  EXPECT_EQ(ids(get_ok("/api/v1/app/app-a/poller/sink?after=" + format_iso8601(between))), (std::vector{m3}));
}

TEST_P(PollerTest, ConcurrentPollsOfOneConsumerNeverShareAPage) {
  make_sink("sink");
  std::set<std::string> published;
  for (int i = 0; i < 40; ++i) published.insert(publish());
  std::vector<std::future<std::vector<std::string>>> readers;
  for (int r = 0; r < 4; ++r)
    readers.push_back(std::async(std::launch::async, [this] {
      TestClient c(port_);
      std::vector<std::string> got;
      for (;;) {
        auto res = get("/api/v1/app/app-a/poller/sink/consumer/shared?limit=3", &c);
        if (res.result_int() != 200) {
          ADD_FAILURE() << res.body();
          break;
        }
        auto page = ids(json::parse(res.body()).as_object());
        if (page.empty()) break;
        got.insert(got.end(), page.begin(), page.end());
      }
      return got;
    }));
  std::multiset<std::string> seen;
  for (auto& r : readers)
    for (auto& id : r.get()) seen.insert(id);
  EXPECT_EQ(seen.size(), published.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), published);
}

// Four writers publish while a reader pages with limit=7: every message exactly once, each writer's in the
// order it published them, and positions (the polling endpoint's offsets) increasing in the order read.
TEST_P(PollerTest, PagingWhileFourWritersPublishSeesEveryMessageOnceInCommitOrder) {
  make_sink("sink");
  constexpr int kWriters = 4;
  constexpr int kEach = 60;
  std::atomic<int> running{kWriters};
  std::vector<std::future<std::vector<std::string>>> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.push_back(std::async(std::launch::async, [this, &running] {
      TestClient c(port_);
      std::vector<std::string> mine;
      for (int i = 0; i < kEach; ++i) mine.push_back(publish("a.b", {}, &c));
      running.fetch_sub(1);
      return mine;
    }));
  std::vector<std::string> read;
  std::string iterator;
  TestClient reader(port_);
  for (;;) {
    const bool last = running.load() == 0;  // writers done before this read: it sees everything
    auto res = get(
        "/api/v1/app/app-a/poller/sink?limit=7" + (iterator.empty() ? "" : "&iterator=" + iterator), &reader);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    auto page = json::parse(res.body()).as_object();
    EXPECT_LE(page.at("data").as_array().size(), 7u);
    for (auto& id : ids(page)) read.push_back(id);
    iterator = str(page.at("iterator"));
    if (last && page.at("done").as_bool()) break;
  }
  std::map<std::string, std::pair<int, int>> origin;  // id -> (writer, index)
  for (int w = 0; w < kWriters; ++w) {
    auto mine = writers[w].get();
    for (int i = 0; i < kEach; ++i) origin[mine[i]] = {w, i};
  }
  ASSERT_EQ(read.size(), static_cast<size_t>(kWriters * kEach));
  std::vector<int> next(kWriters, 0);
  for (const auto& id : read) {
    auto it = origin.find(id);
    ASSERT_NE(it, origin.end()) << id;
    EXPECT_EQ(it->second.second, next[it->second.first]++) << "writer " << it->second.first;
  }
  // The same log through the polling endpoint: offsets increase, in the same order.
  std::vector<std::string> leased;
  int64_t last = 0;
  for (;;) {
    auto page = get_ok("/api/v1/app/app-a/polling-endpoint/sink/consumer/all?limit=7");
    if (page.at("data").as_array().empty()) break;
    for (const auto& m : page.at("data").as_array()) {
      const int64_t offset = m.as_object().at("offset").as_int64();
      EXPECT_GT(offset, last);
      last = offset;
      leased.emplace_back(m.as_object().at("id").as_string());
    }
  }
  EXPECT_EQ(leased, read);
}

TEST_P(PollerTest, LeasesReturnWhatIsNotCommitted) {
  make_sink("sink");
  const std::string m1 = publish();
  const std::string m2 = publish();
  const std::string m3 = publish();
  const std::string base = "/api/v1/app/app-a/polling-endpoint/sink/consumer/c";
  auto p1 = get_ok(base + "?limit=2&lease_duration_ms=1000");
  EXPECT_EQ(ids(p1), (std::vector{m1, m2}));
  EXPECT_FALSE(p1.at("done").as_bool());
  const int64_t off1 = p1.at("data").as_array()[0].as_object().at("offset").as_int64();
  const int64_t off2 = p1.at("data").as_array()[1].as_object().at("offset").as_int64();
  // While the lease is live the next poll hands out what follows.
  auto p2 = get_ok(base + "?limit=2&lease_duration_ms=1000");
  EXPECT_EQ(ids(p2), (std::vector{m3}));
  const int64_t off3 = p2.at("data").as_array()[0].as_object().at("offset").as_int64();
  EXPECT_TRUE(get_ok(base).at("data").as_array().empty());
  // The lease passes uncommitted: everything comes back.
  clock_.advance(1001ms);
  EXPECT_EQ(ids(get_ok(base + "?limit=2&lease_duration_ms=1000")), (std::vector{m1, m2}));
  // Commit m1 only: after the lease, m2 and m3 come back.
  auto commit = [&](int64_t offset) {
    return post(base + "/commit", R"({"offset":)" + std::to_string(offset) + "}").result_int();
  };
  EXPECT_EQ(commit(off1), 204);
  clock_.advance(1001ms);
  EXPECT_EQ(ids(get_ok(base + "?lease_duration_ms=1000")), (std::vector{m2, m3}));
  EXPECT_EQ(commit(off3), 204);
  EXPECT_EQ(commit(off2), 204);         // below what is committed: changes nothing
  EXPECT_EQ(commit(off3 + 1000), 400);  // never handed out
  clock_.advance(1001ms);
  EXPECT_TRUE(get_ok(base).at("data").as_array().empty());
  EXPECT_EQ(
      post("/api/v1/app/app-a/polling-endpoint/sink/consumer/unknown/commit", R"({"offset":1})").result_int(),
      404);
  // A new consumer starting at the latest position sees only what comes after.
  EXPECT_TRUE(get_ok(base + "-late?starting_position=latest").at("data").as_array().empty());
  const std::string m4 = publish();
  EXPECT_EQ(ids(get_ok(base + "-late?starting_position=latest")), (std::vector{m4}));
  EXPECT_EQ(ids(get_ok(base + "-early?starting_position=earliest")), (std::vector{m1, m2, m3, m4}));
}

TEST_P(PollerTest, AHeldWaitIsAnsweredWhenAMessageCommits) {
  make_sink("sink", R"(,"filterTypes":["wanted"])");
  publish("wanted");
  for (const std::string query : {"poller/sink?wait=30&iterator=", "poller/sink/consumer/w?wait=30&iterator=",
                                  "polling-endpoint/sink/consumer/w2?wait=30&starting_position=latest&x="}) {
    // Each round reads after everything published so far.
    const std::string target = "/api/v1/app/app-a/" + query + feed::encode_cursor(store_->feed_head());
    auto held = std::async(std::launch::async, [this, target] {
      TestClient c(port_, 40s);
      return get(target, &c);
    });
    ASSERT_TRUE(wait_for_held(1)) << target;
    publish("other");  // not the sink's: the request reads again and is held again (no empty answer)
    const std::string m = publish("wanted");
    auto res = held.get();
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_EQ(ids(json::parse(res.body()).as_object()), (std::vector{m})) << target;
  }
}

TEST_P(PollerTest, AWaitWithNothingNewIsAnsweredEmptyWhenItsTimeIsUp) {
  make_sink("sink");
  const auto before = std::chrono::steady_clock::now();
  auto page = get_ok("/api/v1/app/app-a/poller/sink?wait=1");
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_TRUE(page.at("data").as_array().empty());
  EXPECT_TRUE(page.at("done").as_bool());
  EXPECT_GE(took, 1s);
  EXPECT_EQ(hub_.waiting(), 0u);
}

TEST_P(PollerTest, StopAnswersAThousandHeldRequestsPromptly) {
  make_sink("sink");
  constexpr size_t kHeld = 1000;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (size_t i = 0; i < kHeld; ++i) {
    clients.push_back(std::make_unique<TestClient>(port_, 20s));
    Request req{http::verb::get,
                i % 2 ? "/api/v1/app/app-a/poller/sink?wait=60"
                      : "/api/v1/app/app-a/polling-endpoint/sink/consumer/c" + std::to_string(i) + "?wait=60",
                11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer t");
    clients.back()->send(req);
  }
  ASSERT_TRUE(wait_for_held(kHeld)) << hub_.waiting();
  const auto before = std::chrono::steady_clock::now();
  hub_.stop();  // as App::stop: the hub first, then the server
  server_->stop();
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 5s);  // an upper bound, not a speed target: held requests would keep it 15 s (drain)
  for (auto& c : clients) {
    auto res = c->read_response();
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_TRUE(json::parse(res.body()).as_object().at("data").as_array().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, PollerTest, store::testing::both_backends(), store::testing::backend_name);

}  // namespace
}  // namespace hookwire::api::v1
