// Message creation through the real router, server and store (SQLite and PostgreSQL:
// store/testing/backends.h), with an injected clock: the `idempotency-key` rules (replay, conflict, expiry,
// scope), which message creation keeps in the message row.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "api/testing/served_api.h"
#include "api/v1/routes.h"
#include "core/clock.h"
#include "store/sqlite/sqlite_tx.h"
#include "store/store.h"
#include "store/testing/test_dir.h"

namespace hookwire::api::v1 {
namespace {

using namespace std::chrono_literals;
using testing::TestClient;

class MessageApiTest : public testing::ServedApiTest {
 protected:
  explicit MessageApiTest(store::testing::Backend backend) : ServedApiTest("hookwire-messages", backend) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_store());
    ctx_.idempotency_ttl = 12h;
    add_routes(router_, &ctx_);
    ASSERT_NO_FATAL_FAILURE(serve());
    for (const char* uid : {"app-a", "app-b"}) {
      auto res = post("/api/v1/app", std::string(R"({"name":"x","uid":")") + uid + "\"}");
      ASSERT_EQ(res.result_int(), 201) << res.body();
    }
  }
  Response post(std::string_view target, std::string body, std::string key = {}) {
    testing::Headers headers{{"authorization", "Bearer t"}, {"content-type", "application/json"}};
    if (!key.empty()) headers.emplace_back("idempotency-key", std::move(key));
    return client_->request(http::verb::post, target, std::move(body), headers);
  }
  static std::string id_of(const Response& res) {
    return std::string(boost::json::parse(res.body()).as_object().at("id").as_string());
  }
  static bool replayed(const Response& res) { return res["idempotent-replayed"] == "true"; }
};

// On both stores.
class MessageCreateTest : public MessageApiTest,
                          public ::testing::WithParamInterface<store::testing::Backend> {
 protected:
  MessageCreateTest() : MessageApiTest(GetParam()) {}
};

// On SQLite only: what it checks is SQLite's (a file that cannot grow).
class SqliteMessageCreateTest : public MessageApiTest {
 protected:
  SqliteMessageCreateTest() : MessageApiTest(store::testing::Backend::kSqlite) {}
};

constexpr const char* kBody1 = R"({"eventType":"a.b","payload":{"n":1}})";
constexpr const char* kBody2 = R"({"eventType":"a.b","payload":{"n":2}})";

TEST_P(MessageCreateTest, AKeyReplaysTheSameAnswerAndRefusesAnotherRequest) {
  auto first = post("/api/v1/app/app-a/msg", kBody1, "key-1");
  ASSERT_EQ(first.result_int(), 202) << first.body();
  EXPECT_FALSE(replayed(first));

  clock_.advance(11h);  // within the TTL
  auto again = post("/api/v1/app/app-a/msg", kBody1, "key-1");
  ASSERT_EQ(again.result_int(), 202) << again.body();
  EXPECT_TRUE(replayed(again));
  EXPECT_EQ(again.body(), first.body());  // byte for byte, timestamp included

  auto other = post("/api/v1/app/app-a/msg", kBody2, "key-1");
  EXPECT_EQ(other.result_int(), 422) << other.body();
  EXPECT_NE(other.body().find("idempotency-key"), std::string::npos) << other.body();

  // The same request without `?with_content=false` is another request.
  auto listed = post("/api/v1/app/app-a/msg?with_content=false", kBody1, "key-1");
  EXPECT_EQ(listed.result_int(), 422) << listed.body();
}

TEST_P(MessageCreateTest, AnExpiredKeyCreatesANewMessageAndIsThenReplayed) {
  auto first = post("/api/v1/app/app-a/msg", kBody1, "key-1");
  ASSERT_EQ(first.result_int(), 202) << first.body();

  clock_.advance(12h + 1s);  // past the TTL: the key is free again, even for another body
  auto second = post("/api/v1/app/app-a/msg", kBody2, "key-1");
  ASSERT_EQ(second.result_int(), 202) << second.body();
  EXPECT_FALSE(replayed(second));
  EXPECT_NE(id_of(second), id_of(first));

  auto replay = post("/api/v1/app/app-a/msg", kBody2, "key-1");
  ASSERT_EQ(replay.result_int(), 202) << replay.body();
  EXPECT_TRUE(replayed(replay));
  EXPECT_EQ(id_of(replay), id_of(second));

  // Both messages exist; the first kept everything but its key.
  auto old = client_->request(http::verb::get, "/api/v1/app/app-a/msg/" + id_of(first), {},
                              {{"authorization", "Bearer t"}});
  EXPECT_EQ(old.result_int(), 200) << old.body();
}

TEST_P(MessageCreateTest, AReplayWinsOverTheEventIdConflictAndANewKeyDoesNot) {
  constexpr const char* kWithEventId = R"({"eventType":"a.b","eventId":"evt-1","payload":{}})";
  auto first = post("/api/v1/app/app-a/msg", kWithEventId, "key-1");
  ASSERT_EQ(first.result_int(), 202) << first.body();
  auto replay = post("/api/v1/app/app-a/msg", kWithEventId, "key-1");
  EXPECT_EQ(replay.result_int(), 202) << replay.body();
  EXPECT_TRUE(replayed(replay));
  auto fresh_key = post("/api/v1/app/app-a/msg", kWithEventId, "key-2");
  EXPECT_EQ(fresh_key.result_int(), 409) << fresh_key.body();
  auto no_key = post("/api/v1/app/app-a/msg", kWithEventId);
  EXPECT_EQ(no_key.result_int(), 409) << no_key.body();

  clock_.advance(12h + 1s);  // key-1 expired, but the eventId is still taken: 409, and nothing changes
  auto expired = post("/api/v1/app/app-a/msg", kWithEventId, "key-1");
  EXPECT_EQ(expired.result_int(), 409) << expired.body();
}

TEST_P(MessageCreateTest, KeysAreScopedByApplicationAndOptional) {
  auto a = post("/api/v1/app/app-a/msg", kBody1, "shared");
  auto b = post("/api/v1/app/app-b/msg", kBody1, "shared");
  ASSERT_EQ(a.result_int(), 202) << a.body();
  ASSERT_EQ(b.result_int(), 202) << b.body();
  EXPECT_FALSE(replayed(b));
  EXPECT_NE(id_of(a), id_of(b));

  auto plain1 = post("/api/v1/app/app-a/msg", kBody1);
  auto plain2 = post("/api/v1/app/app-a/msg", kBody1);
  EXPECT_NE(id_of(plain1), id_of(plain2));

  auto too_long = post("/api/v1/app/app-a/msg", kBody1, std::string(257, 'k'));
  EXPECT_EQ(too_long.result_int(), 422) << too_long.body();
}

// Issue #18: `before`/`after` past what the time type holds overflowed and listed the wrong messages.
TEST_P(MessageCreateTest, ListingWithADateOutsideTheTimeRangeIs422) {
  ASSERT_EQ(post("/api/v1/app/app-a/msg", kBody1).result_int(), 202);
  for (const char* bound : {"before", "after"}) {
    auto res = client_->request(http::verb::get,
                                std::string("/api/v1/app/app-a/msg?") + bound + "=9999-12-31T23:59:59Z", {},
                                {{"authorization", "Bearer t"}});
    EXPECT_EQ(res.result_int(), 422) << bound << ": " << res.body();
    EXPECT_NE(res.body().find(bound), std::string::npos) << res.body();
  }
}

// Issue #18: a full disk answered 500 with SQLite's text while health said 204. Now: 503 "storage full" with
// Retry-After and nothing of SQLite's text; health 503 with the reason; both back once there is room.
TEST_F(SqliteMessageCreateTest, AFullDiskIs503WithRetryAfterAndHealthSaysSo) {
  auto set_max_pages = [this](const char* pages) {
    std::promise<Status> done;
    store_->submit_write(
        [pages](store::Tx& tx) -> Status {
          auto& conn = dynamic_cast<store::SqliteTx&>(tx).connection();
          return conn.exec((std::string("PRAGMA max_page_count = ") + pages).c_str());
        },
        [&done](Status st) { done.set_value(std::move(st)); });
    return done.get_future().get();
  };
  auto health = [this] { return client_->request(http::verb::get, "/api/v1/health", {}, {}); };
  EXPECT_EQ(health().result_int(), 204);
  const std::string big = R"({"eventType":"a.b","payload":{"s":")" + std::string(64 * 1024, 'x') + "\"}}";
  ASSERT_EQ(post("/api/v1/app/app-a/msg", big).result_int(), 202);
  ASSERT_TRUE(set_max_pages("1").ok());

  auto full = post("/api/v1/app/app-a/msg", big);
  EXPECT_EQ(full.result_int(), 503) << full.body();
  EXPECT_NE(full.body().find("storage full"), std::string::npos) << full.body();
  EXPECT_EQ(full.body().find("disk is full"), std::string::npos) << "SQLite's text: " << full.body();
  EXPECT_EQ(full.body().find("sqlite"), std::string::npos) << full.body();
  EXPECT_FALSE(full["retry-after"].empty());
  auto sick = health();
  EXPECT_EQ(sick.result_int(), 503) << sick.body();
  EXPECT_NE(sick.body().find("storage full"), std::string::npos) << sick.body();

  ASSERT_TRUE(set_max_pages("1073741823").ok());
  EXPECT_EQ(post("/api/v1/app/app-a/msg", big).result_int(), 202);
  EXPECT_EQ(health().result_int(), 204);
}

// Issue #18: a payload under an escaped key was validated by the parser but not found in the raw text (an
// empty optional dereferenced; a 202 for a message stored empty); a duplicate stored a non-object.
TEST_P(MessageCreateTest, APayloadUnderAnEscapedKeyIsStoredAsValidated) {
  auto res = post("/api/v1/app/app-a/msg", R"({"eventType":"a.b","pay\u006coad":{"x":1}})");
  ASSERT_EQ(res.result_int(), 202) << res.body();
  auto got = client_->request(http::verb::get, "/api/v1/app/app-a/msg/" + id_of(res), {},
                              {{"authorization", "Bearer t"}});
  ASSERT_EQ(got.result_int(), 200) << got.body();
  EXPECT_EQ(boost::json::parse(got.body()).at("payload"), boost::json::parse(R"({"x":1})")) << got.body();

  // Duplicates: the last wins, as in the parser, whichever spelling each has; the stored payload is the
  // object that was validated.
  auto dup = post("/api/v1/app/app-a/msg", R"({"eventType":"a.b","payload":"str","pay\u006coad":{"y":2}})");
  ASSERT_EQ(dup.result_int(), 202) << dup.body();
  got = client_->request(http::verb::get, "/api/v1/app/app-a/msg/" + id_of(dup), {},
                         {{"authorization", "Bearer t"}});
  ASSERT_EQ(got.result_int(), 200) << got.body();
  EXPECT_EQ(boost::json::parse(got.body()).at("payload"), boost::json::parse(R"({"y":2})")) << got.body();

  auto not_object = post("/api/v1/app/app-a/msg", R"({"eventType":"a.b","pay\u006coad":{},"payload":"s"})");
  EXPECT_EQ(not_object.result_int(), 422) << not_object.body();
}

// payloadRetentionHours: once the janitor's expire_payloads has run past that time, the message is still
// listed and fetched, its payload shown as Svix shows a gone one; a message without it keeps its payload.
// Expunged payloads read the same (one rule, serialize.h payload_json).
TEST_P(MessageCreateTest, APayloadPastItsRetentionReadsExpiredLikeAnExpungedOne) {
  auto kept = post("/api/v1/app/app-a/msg", kBody1);
  auto brief =
      post("/api/v1/app/app-a/msg", R"({"eventType":"a.b","payload":{"n":3},"payloadRetentionHours":1})");
  auto expunged = post("/api/v1/app/app-a/msg", kBody2);
  ASSERT_EQ(kept.result_int(), 202) << kept.body();
  ASSERT_EQ(brief.result_int(), 202) << brief.body();
  ASSERT_EQ(expunged.result_int(), 202) << expunged.body();
  EXPECT_EQ(boost::json::parse(brief.body()).at("payload"), boost::json::parse(R"({"n":3})"));
  EXPECT_EQ(post("/api/v1/app/app-a/msg", R"({"eventType":"a.b","payload":{},"payloadRetentionPeriod":91})")
                .result_int(),
            422);

  auto expire = [this](TimePoint now) {
    std::promise<Result<int>> done;
    store_->submit_write(
        [&done, now](store::Tx& tx) -> Status {
          auto n = tx.expire_payloads(now, 500);
          done.set_value(n);
          return n.ok() ? Status{} : Status(n.error());
        },
        [](Status) {});
    return done.get_future().get();
  };
  auto n = expire(clock_.now() + 59min);
  ASSERT_TRUE(n.ok()) << n.error().detail;
  EXPECT_EQ(*n, 0);  // not yet
  n = expire(clock_.now() + 1h);
  ASSERT_TRUE(n.ok()) << n.error().detail;
  EXPECT_EQ(*n, 1);
  auto del = client_->request(http::verb::delete_, "/api/v1/app/app-a/msg/" + id_of(expunged) + "/content",
                              {}, {{"authorization", "Bearer t"}});
  ASSERT_EQ(del.result_int(), 204) << del.body();

  const auto expired = boost::json::parse(R"({"expired":true})");
  auto get = [this](const std::string& id) {
    auto res =
        client_->request(http::verb::get, "/api/v1/app/app-a/msg/" + id, {}, {{"authorization", "Bearer t"}});
    EXPECT_EQ(res.result_int(), 200) << res.body();
    return boost::json::parse(res.body()).at("payload");
  };
  EXPECT_EQ(get(id_of(kept)), boost::json::parse(R"({"n":1})"));
  EXPECT_EQ(get(id_of(brief)), expired);
  EXPECT_EQ(get(id_of(expunged)), expired);
  auto list = client_->request(http::verb::get, "/api/v1/app/app-a/msg", {}, {{"authorization", "Bearer t"}});
  ASSERT_EQ(list.result_int(), 200) << list.body();
  int gone = 0;
  const auto listed =
      boost::json::parse(list.body());  // named: a range-for over a temporary's member dangles
  for (const auto& item : listed.at("data").as_array())
    if (item.at("payload") == expired) ++gone;
  EXPECT_EQ(gone, 2) << list.body();
}

// Endpoints as sinks: pullOnly and thin are read, shown, patched and validated; fan-out skips a pull-only
// endpoint (and the dispatcher is woken only when a delivery was created); nothing pushes to one.
TEST_P(MessageCreateTest, APullOnlyEndpointGetsNoDeliveriesAndIsNeverSentTo) {
  std::atomic<int> wakes{0};
  ctx_.on_deliveries_created = [&wakes] { ++wakes; };
  auto sink = post("/api/v1/app/app-a/endpoint",
                   R"({"url":"https://example.com/sink","uid":"sink","pullOnly":true})");
  ASSERT_EQ(sink.result_int(), 201) << sink.body();
  auto out = boost::json::parse(sink.body()).as_object();
  EXPECT_EQ(out.at("pullOnly"), true);
  EXPECT_EQ(out.at("thin"), false);
  EXPECT_EQ(out.at("url"), "https://example.com/sink");

  auto only_sink = post("/api/v1/app/app-a/msg", kBody1);
  ASSERT_EQ(only_sink.result_int(), 202) << only_sink.body();
  EXPECT_EQ(wakes.load(), 0);

  auto push = post("/api/v1/app/app-a/endpoint", R"({"url":"https://example.com/push","thin":true})");
  ASSERT_EQ(push.result_int(), 201) << push.body();
  const std::string push_id(boost::json::parse(push.body()).at("id").as_string());
  EXPECT_EQ(boost::json::parse(push.body()).at("thin"), true);
  auto both = post("/api/v1/app/app-a/msg", kBody2);
  ASSERT_EQ(both.result_int(), 202) << both.body();
  EXPECT_EQ(wakes.load(), 1);

  auto deliveries = [this](const std::string& msg_id) {
    std::promise<std::vector<store::Delivery>> p;
    store_->submit_read(
        [&](store::Tx& tx) {
          auto app = tx.get_application("app-a");
          p.set_value(*tx.list_deliveries_by_message(app->id, msg_id));
        },
        [] {});
    return p.get_future().get();
  };
  EXPECT_TRUE(deliveries(id_of(only_sink)).empty());
  auto ds = deliveries(id_of(both));
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].endpoint_id, push_id);

  auto request = [this](http::verb verb, const std::string& target, std::string body) {
    return client_->request(verb, target, std::move(body),
                            {{"authorization", "Bearer t"}, {"content-type", "application/json"}});
  };
  // Never pushed to: resend, recover and send-example are refused (409).
  EXPECT_EQ(request(http::verb::post, "/api/v1/app/app-a/msg/" + id_of(both) + "/endpoint/sink/resend", "")
                .result_int(),
            409);
  EXPECT_EQ(request(http::verb::post, "/api/v1/app/app-a/endpoint/sink/recover",
                    R"({"since":"2020-01-01T00:00:00Z"})")
                .result_int(),
            409);
  EXPECT_EQ(request(http::verb::post, "/api/v1/app/app-a/endpoint/sink/send-example",
                    R"({"eventType":"svix.ping"})")
                .result_int(),
            409);

  // PATCH changes only what it names; a non-boolean is a 422 that changes nothing.
  auto patched = request(http::verb::patch, "/api/v1/app/app-a/endpoint/sink", R"({"thin":true})");
  ASSERT_EQ(patched.result_int(), 200) << patched.body();
  EXPECT_EQ(boost::json::parse(patched.body()).at("pullOnly"), true);
  EXPECT_EQ(boost::json::parse(patched.body()).at("thin"), true);
  auto bad = request(http::verb::patch, "/api/v1/app/app-a/endpoint/sink", R"({"pullOnly":"false"})");
  EXPECT_EQ(bad.result_int(), 422) << bad.body();
  EXPECT_NE(bad.body().find("pullOnly"), std::string::npos) << bad.body();
  auto got = request(http::verb::get, "/api/v1/app/app-a/endpoint/sink", "");
  ASSERT_EQ(got.result_int(), 200) << got.body();
  EXPECT_EQ(boost::json::parse(got.body()).at("pullOnly"), true);
  // PUT replaces: omitted, the extensions are off again, and the endpoint pushes.
  auto put =
      request(http::verb::put, "/api/v1/app/app-a/endpoint/sink", R"({"url":"https://example.com/sink"})");
  ASSERT_EQ(put.result_int(), 200) << put.body();
  EXPECT_EQ(boost::json::parse(put.body()).at("pullOnly"), false);
  EXPECT_EQ(boost::json::parse(put.body()).at("thin"), false);
  auto third = post("/api/v1/app/app-a/msg", kBody1);
  ASSERT_EQ(third.result_int(), 202) << third.body();
  EXPECT_EQ(deliveries(id_of(third)).size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Stores, MessageCreateTest, store::testing::both_backends(),
                         store::testing::backend_name);

}  // namespace
}  // namespace hookwire::api::v1
