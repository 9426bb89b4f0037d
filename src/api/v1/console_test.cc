// The read routes of the console and the portal (issue #22) over real HTTP on both stores: the server's
// figures over time (an injected clock, no sleeping), an endpoint's health buckets and last failures, the
// message list's status filter, and the application-wide event stream.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "api/testing/http_test_client.h"
#include "api/testing/served_api.h"
#include "api/testing/sse_events.h"
#include "api/v1/routes.h"
#include "core/figures.h"
#include "core/ids.h"
#include "store/store.h"

namespace hookwire::api::v1 {
namespace {

using ::hookwire::api::testing::next_event;

using namespace std::chrono_literals;
using testing::TestClient;
namespace json = boost::json;

class ConsoleTest : public testing::ServedApiTest,
                    public ::testing::WithParamInterface<store::testing::Backend> {
 protected:
  ConsoleTest() : ServedApiTest("hookwire-console", GetParam()) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_store());
    with_feed();
    ctx_.figures = &sampler_;
    ctx_.node_id = "node-1:8080";
    add_application_routes(router_, &ctx_);
    add_endpoint_routes(router_, &ctx_);
    add_message_routes(router_, &ctx_);
    add_delivery_routes(router_, &ctx_);
    add_stream_routes(router_, &ctx_);
    add_server_routes(router_, &ctx_);
    ASSERT_NO_FATAL_FAILURE(serve());
    ASSERT_EQ(post("/api/v1/app", R"({"name":"a","uid":"app-a"})").result_int(), 201);
    auto ep = post("/api/v1/app/app-a/endpoint", R"({"url":"http://127.0.0.1:9/x","uid":"ep-a"})");
    ASSERT_EQ(ep.result_int(), 201);
    auto body = json::parse(ep.body());
    ep_id_ = std::string(body.at("id").as_string());
    auto app = get("/api/v1/app/app-a");
    app_id_ = std::string(json::parse(app.body()).at("id").as_string());
  }
  Response post(std::string_view target, std::string body) {
    return client_->request(http::verb::post, target, std::move(body),
                            {{"authorization", "Bearer t"}, {"content-type", "application/json"}});
  }
  Response get(std::string_view target, std::string token = "t") {
    return client_->request(http::verb::get, target, {}, {{"authorization", "Bearer " + token}});
  }
  std::string publish(std::string type, int n) {
    auto res =
        post("/api/v1/app/app-a/msg", fmt::format(R"({{"eventType":"{}","payload":{{"n":{}}}}})", type, n));
    EXPECT_EQ(res.result_int(), 202) << res.body();
    return std::string(json::parse(res.body()).at("id").as_string());
  }

  metrics::FigureSampler sampler_{metrics_, clock_};
  std::string app_id_;
  std::string ep_id_;
};

// ---- GET /api/v1/server/stats

TEST_P(ConsoleTest, ServerStatsListTheSamplesOfTheWindowOldestFirst) {
  auto& delivered = metrics_.counter("delivery_attempts_total", "", {{"outcome", "delivered"}});
  auto& retry = metrics_.counter("delivery_attempts_total", "", {{"outcome", "retry"}});
  for (int i = 0; i < 4; ++i) {
    delivered.inc(i);
    retry.inc(1);
    sampler_.record({10 + i, i == 0 ? std::optional<int64_t>() : std::optional<int64_t>(i), 0.5 * i});
    clock_.advance(10s);
  }
  auto res = get("/api/v1/server/stats?window=60");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto out = json::parse(res.body()).as_object();
  EXPECT_EQ(out.at("intervalSeconds").as_int64(), 10);
  EXPECT_EQ(out.at("nodeId").as_string(), "node-1:8080");
  const auto& samples = out.at("samples").as_array();
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].at("queueDepth").as_int64(), 10);
  EXPECT_FALSE(samples[0].as_object().contains("dueNow"));  // not known: omitted
  EXPECT_EQ(samples[3].at("queueDepth").as_int64(), 13);
  EXPECT_EQ(samples[3].at("dueNow").as_int64(), 3);
  EXPECT_DOUBLE_EQ(samples[3].at("lagSeconds").to_number<double>(), 1.5);
  EXPECT_EQ(samples[3].at("delivered").as_int64(), 3);
  EXPECT_EQ(samples[3].at("failed").as_int64(), 1);
  for (const char* k : {"messagesCreated", "inboundAccepted", "inboundRejected"})
    EXPECT_EQ(samples[3].at(k).as_int64(), 0) << k;
  EXPECT_EQ(parse_iso8601(samples[3].at("at").as_string()), clock_.now() - 10s);
  EXPECT_LT(parse_iso8601(samples[0].at("at").as_string()), parse_iso8601(samples[1].at("at").as_string()));
  // The window bounds what is listed; the default is an hour.
  clock_.advance(25s);  // the newest sample is now 35 s old, the oldest 65 s
  res = get("/api/v1/server/stats?window=60");
  EXPECT_EQ(json::parse(res.body()).at("samples").as_array().size(), 3u);
  EXPECT_EQ(json::parse(get("/api/v1/server/stats").body()).at("samples").as_array().size(), 4u);
  for (const char* bad : {"?window=59", "?window=86401", "?window=abc", "?window=-60", "?window="})
    EXPECT_EQ(get(std::string("/api/v1/server/stats") + bad).result_int(), 422) << bad;
  EXPECT_EQ(get("/api/v1/server/stats", "nope").result_int(), 401);
}

// ---- GET .../endpoint/{ep}/health

TEST_P(ConsoleTest, EndpointHealthCountsAttemptsIntoBucketsAndListsTheLastFailures) {
  const std::string msg = publish("a.happened", 1);
  const TimePoint now = clock_.now();
  struct A {
    std::chrono::minutes ago;
    int status;
    int code;
  };
  // The current hour holds the first three unless now is within 5 minutes of its start; keep clear of that.
  const auto into_hour = std::chrono::seconds{unix_seconds(now) % 3600};
  clock_.advance(into_hour < 10min ? 10min - into_hour : 0s);
  const TimePoint t = clock_.now();
  // Oldest first, as attempts are written: the ids one process mints only grow (core/ids.h). The first is
  // before the day.
  const std::vector<A> plan{{26 * 60min, 2, 500}, {130min, 0, 200}, {70min, 2, 404},
                            {3min, 2, 503},       {2min, 2, 500},   {1min, 0, 200}};
  std::vector<store::Attempt> written;
  for (size_t i = 0; i < plan.size(); ++i) {
    store::Attempt a;
    a.created_at = t - plan[i].ago;
    a.id = new_id(id_prefix::kAttempt, a.created_at);
    a.app_id = app_id_;
    a.msg_id = msg;
    a.endpoint_id = ep_id_;
    a.url = "http://127.0.0.1:9/x";
    a.status = plan[i].status;
    a.response_status_code = plan[i].code;
    a.response = fmt::format("{}:{}", i, std::string(250, 'r'));
    written.push_back(a);
  }
  ASSERT_TRUE(run_write([&](store::Tx& tx) -> Status {
                for (const auto& a : written)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                store::EndpointHealthRecord h;
                h.first_failure_at = t - 3min;
                h.consecutive_failures = 2;
                return tx.put_endpoint_health(ep_id_, h);
              }).ok());

  auto res = get("/api/v1/app/app-a/endpoint/ep-a/health");  // period=day by default
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto out = json::parse(res.body()).as_object();
  const auto& buckets = out.at("buckets").as_array();
  ASSERT_EQ(buckets.size(), 24u);
  EXPECT_EQ(out.at("bucketSeconds").as_int64(), 3600);
  const int64_t hour = unix_seconds(t) / 3600 * 3600;
  EXPECT_EQ(parse_iso8601(buckets[23].at("start").as_string()), TimePoint{std::chrono::seconds{hour}});
  EXPECT_EQ(parse_iso8601(buckets[0].at("start").as_string()),
            TimePoint{std::chrono::seconds{hour - 23 * 3600}});
  int64_t success = 0, failure = 0;
  for (const auto& b : buckets) {
    success += b.at("success").as_int64();
    failure += b.at("failure").as_int64();
  }
  EXPECT_EQ(success, 2);
  EXPECT_EQ(failure, 3);  // the one 26 h ago is out of the day
  EXPECT_EQ(buckets[23].at("success").as_int64(), 1);
  EXPECT_EQ(buckets[23].at("failure").as_int64(), 2);
  const auto& failures = out.at("lastFailures").as_array();
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0].at("attemptId").as_string(), written[4].id);  // newest first
  EXPECT_EQ(failures[0].at("msgId").as_string(), msg);
  EXPECT_EQ(failures[0].at("responseStatusCode").as_int64(), 500);
  EXPECT_EQ(failures[0].at("response").as_string().size(), 200u);
  EXPECT_EQ(failures[2].at("responseStatusCode").as_int64(), 404);
  EXPECT_EQ(parse_iso8601(failures[1].at("timestamp").as_string()), t - 3min);
  EXPECT_FALSE(out.at("disabled").as_bool());
  EXPECT_TRUE(out.at("disabledReason").is_null());
  EXPECT_TRUE(out.at("disabledAt").is_null());
  EXPECT_EQ(parse_iso8601(out.at("failingSince").as_string()), t - 3min);

  res = get("/api/v1/app/app-a/endpoint/ep-a/health?period=week");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  out = json::parse(res.body()).as_object();
  EXPECT_EQ(out.at("buckets").as_array().size(), 28u);
  EXPECT_EQ(out.at("bucketSeconds").as_int64(), 6 * 3600);
  failure = 0;
  for (const auto& b : out.at("buckets").as_array()) failure += b.at("failure").as_int64();
  EXPECT_EQ(failure, 4);  // the week holds the older one too
  EXPECT_EQ(out.at("lastFailures").as_array().size(), 4u);

  // Disabled through the API: the reason and the time; enabled again: none.
  ASSERT_EQ(client_
                ->request(http::verb::patch, "/api/v1/app/app-a/endpoint/ep-a", R"({"disabled":true})",
                          {{"authorization", "Bearer t"}, {"content-type", "application/json"}})
                .result_int(),
            200);
  out = json::parse(get("/api/v1/app/app-a/endpoint/ep-a/health").body()).as_object();
  EXPECT_TRUE(out.at("disabled").as_bool());
  EXPECT_EQ(out.at("disabledReason").as_string(), "disabled through the API");
  EXPECT_EQ(parse_iso8601(out.at("disabledAt").as_string()), t);
  ASSERT_EQ(client_
                ->request(http::verb::patch, "/api/v1/app/app-a/endpoint/ep-a", R"({"disabled":false})",
                          {{"authorization", "Bearer t"}, {"content-type", "application/json"}})
                .result_int(),
            200);
  out = json::parse(get("/api/v1/app/app-a/endpoint/ep-a/health").body()).as_object();
  EXPECT_FALSE(out.at("disabled").as_bool());
  EXPECT_TRUE(out.at("disabledReason").is_null());

  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/ep-a/health?period=month").result_int(), 422);
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/nope/health").result_int(), 404);
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/ep-a/health", "nope").result_int(), 401);
}

// ---- GET .../msg?status=

TEST_P(ConsoleTest, MessageListFiltersByDeliveryStatus) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(publish(i == 3 ? "b.happened" : "a.happened", i));
  // Fan-out made one pending delivery per message (to ep-a); settle them by hand: 0 delivered, 1 and 3
  // failed, 2 left pending.
  ASSERT_TRUE(run_write([&](store::Tx& tx) -> Status {
                for (int i : {0, 1, 3}) {
                  auto ds = tx.list_deliveries_by_message(app_id_, ids[i]);
                  if (!ds.ok()) return ds.take_error();
                  if (ds->size() != 1) return Error::internal("expected one delivery");
                  store::Delivery d = (*ds)[0];
                  d.id = new_id("dlv");  // a resend-like newer row with the final status
                  d.status = i == 0 ? store::Delivery::kSuccess : store::Delivery::kFailed;
                  d.attempts = 1;
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                }
                return {};
              }).ok());
  auto list = [&](std::string query) {
    auto res = get("/api/v1/app/app-a/msg" + query);
    EXPECT_EQ(res.result_int(), 200) << res.body();
    std::vector<std::string> out;
    const json::value body = json::parse(res.body());  // outlives the loop (a temporary would not)
    for (const auto& m : body.at("data").as_array()) out.emplace_back(m.at("id").as_string());
    return out;
  };
  EXPECT_EQ(list("?status=2"), (std::vector<std::string>{ids[3], ids[1]}));
  EXPECT_EQ(list("?status=0"), (std::vector<std::string>{ids[0]}));
  EXPECT_EQ(list("?status=1"), (std::vector<std::string>{ids[2]}));
  EXPECT_EQ(list("?status=3"), (std::vector<std::string>{}));
  EXPECT_EQ(list("?status=2&event_types=a.happened"), (std::vector<std::string>{ids[1]}));
  EXPECT_EQ(list("?status=2&limit=1").size(), 1u);
  EXPECT_EQ(get("/api/v1/app/app-a/msg?status=9").result_int(), 422);
}

// ---- GET /api/v1/app/{app}/stream

TEST_P(ConsoleTest, AppStreamCarriesEveryMessageOfTheApplicationThroughItsFilters) {
  const auto first = publish("a.happened", 0);
  auto open = [&](std::string target, std::string last_event_id = {}) {
    auto c = std::make_unique<TestClient>(port_, 10s);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    c->send_raw(req + "\r\n");
    const auto head = c->read_until("\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
    return c;
  };
  auto all = open("/api/v1/app/app-a/stream");
  auto only_b = open("/api/v1/app/app-a/stream?event_types=b.happened,c.happened");
  const auto e0 = next_event(*all);
  EXPECT_EQ(e0.type, "message");
  EXPECT_EQ(json::parse(e0.data).at("id").as_string(), first);
  // Published while the streams are open: the hub wakes them.
  publish("a.happened", 1);
  const auto b = publish("b.happened", 2);
  const auto e1 = next_event(*all);
  EXPECT_EQ(json::parse(e1.data).at("payload").at("n").as_int64(), 1);
  EXPECT_EQ(json::parse(next_event(*all).data).at("id").as_string(), b);
  const auto eb = next_event(*only_b);
  EXPECT_EQ(json::parse(eb.data).at("id").as_string(), b);  // a.happened skipped
  // Resume after the first event: the next is the second message.
  auto resumed = open("/api/v1/app/app-a/stream", e0.id);
  EXPECT_EQ(next_event(*resumed).id, e1.id);
  auto channel = open("/api/v1/app/app-a/stream?channel=ch1");
  const auto c = post("/api/v1/app/app-a/msg", R"({"eventType":"x.y","channels":["ch1"],"payload":{}})");
  ASSERT_EQ(c.result_int(), 202);
  EXPECT_EQ(json::parse(next_event(*channel).data).at("eventType").as_string(), "x.y");

  EXPECT_EQ(get("/api/v1/app/app-a/stream?consumer=x").result_int(), 422);
  EXPECT_EQ(get("/api/v1/app/app-a/poller/ep-a/stream?event_types=a.happened").result_int(), 422);
  EXPECT_EQ(get("/api/v1/app/nope/stream").result_int(), 404);
  EXPECT_EQ(get("/api/v1/app/app-a/stream?iterator=nope").result_int(), 400);
  EXPECT_EQ(get("/api/v1/app/app-a/stream", "nope").result_int(), 401);
}

INSTANTIATE_TEST_SUITE_P(Stores, ConsoleTest, store::testing::both_backends(), store::testing::backend_name);

}  // namespace
}  // namespace hookwire::api::v1
