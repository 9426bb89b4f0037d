// publish(): the one way a message enters the log, against a real store, SQLite and PostgreSQL
// (store/testing/backends.h).
#include "delivery/publish.h"

#include <gtest/gtest.h>

#include <future>

#include "core/ids.h"
#include "delivery/operational.h"
#include "store/testing/backends.h"
#include "store/testing/test_dir.h"

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;

class PublishTest : public ::testing::TestWithParam<store::testing::Backend> {
 protected:
  void SetUp() override {
    store_ = backend_.open(dir_.path());
    ASSERT_NE(store_, nullptr);
    now_ = from_unix_millis(unix_millis(std::chrono::system_clock::now()));  // the store keeps ms
    app_.id = new_id(id_prefix::kApplication, now_);
    app_.name = "test";
    app_.created_at = app_.updated_at = now_;
    ASSERT_TRUE(write([&](store::Tx& tx) { return tx.insert_application(app_); }).ok());
  }
  void TearDown() override {
    if (store_) store_->stop();
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
  // Runs publish() in its own write and returns what it did.
  // `msg` gets the id the store gave it.
  Result<Published> run(store::Message& msg, std::chrono::seconds ttl, TimePoint now) {
    std::optional<Result<Published>> out;
    auto st = write([&](store::Tx& tx) -> Status {
      out = publish(tx, msg, ttl, now);
      if (!*out) return out->error();
      return {};
    });
    if (!st) return st.take_error();
    return std::move(*out);
  }

  std::string add_endpoint(std::string url, bool pull_only = false, bool disabled = false,
                           std::optional<std::vector<std::string>> types = std::nullopt) {
    store::Endpoint ep;
    ep.id = new_id(id_prefix::kEndpoint, now_);
    ep.app_id = app_.id;
    ep.url = std::move(url);
    ep.secrets = {{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", std::nullopt}};
    ep.pull_only = pull_only;
    ep.disabled = disabled;
    ep.event_types = std::move(types);
    ep.created_at = ep.updated_at = now_;
    EXPECT_TRUE(write([&](store::Tx& tx) { return tx.insert_endpoint(ep); }).ok());
    return ep.id;
  }
  store::Message message(std::optional<std::string> key = std::nullopt, std::string type = "a.b") {
    store::Message m;
    m.app_id = app_.id;
    m.event_type = std::move(type);
    m.payload = R"({"n":1})";
    m.created_at = now_;
    m.idempotency_key = std::move(key);
    m.request_hash = "h1";
    return m;
  }
  std::vector<store::Delivery> deliveries_of(const std::string& msg_id) {
    return read<std::vector<store::Delivery>>([&](store::Tx& tx) {
      auto d = tx.list_deliveries_by_message(app_.id, msg_id);
      EXPECT_TRUE(d.ok());
      return d.ok() ? *d : std::vector<store::Delivery>{};
    });
  }

  store::testing::TestDir dir_{"hookwire-publish"};
  store::testing::BackendStore backend_{GetParam()};
  std::unique_ptr<store::Store> store_;
  TimePoint now_;
  store::Application app_;
};

TEST_P(PublishTest, InsertsTheMessageAndOneDeliveryPerMatchingPushEndpointNoneForASink) {
  const auto push = add_endpoint("http://127.0.0.1:9/a");
  add_endpoint("http://127.0.0.1:9/sink", /*pull_only=*/true);
  add_endpoint("http://127.0.0.1:9/off", false, /*disabled=*/true);
  add_endpoint("http://127.0.0.1:9/other", false, false, std::vector<std::string>{"x.y"});
  auto msg = message();
  auto out = run(msg, 24h, now_);
  ASSERT_TRUE(out.ok()) << out.error().detail;
  EXPECT_FALSE(out->held);
  EXPECT_EQ(out->deliveries, 1);
  EXPECT_TRUE(is_id(msg.id, id_prefix::kMessage));
  EXPECT_EQ(out->id, msg.id);
  auto ds = deliveries_of(msg.id);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].endpoint_id, push);
  EXPECT_EQ(ds[0].status, store::Delivery::kPending);
  auto stored = read<Result<store::Message>>([&](store::Tx& tx) { return tx.get_message(app_.id, msg.id); });
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->payload, msg.payload);
  EXPECT_GT(stored->position, 0);  // in the feed, where the sink reads it
}

TEST_P(PublishTest, AKeyHeldWithinTheTtlInsertsNothingAndAnExpiredOneIsTakenOver) {
  add_endpoint("http://127.0.0.1:9/a");
  auto first = message("key-1");
  auto out = run(first, 1h, now_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->deliveries, 1);

  auto again = message("key-1");
  out = run(again, 1h, now_ + 59min);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->held);
  EXPECT_EQ(out->held->id, first.id);
  EXPECT_EQ(out->id, "") << "nothing was inserted";
  EXPECT_EQ(out->held->request_hash, "h1");
  EXPECT_EQ(out->deliveries, 0);
  EXPECT_TRUE(deliveries_of(again.id).empty());
  EXPECT_EQ(read<Result<store::Message>>([&](store::Tx& tx) { return tx.get_message(app_.id, again.id); })
                .error()
                .code,
            Errc::kNotFound);

  auto later = message("key-1");
  out = run(later, 1h, now_ + 61min);  // past the TTL: the key is free again
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->held);
  EXPECT_EQ(out->deliveries, 1);
}

TEST_P(PublishTest, ATakenEventIdIsAConflictAndNothingIsKept) {
  add_endpoint("http://127.0.0.1:9/a");
  auto first = message();
  first.event_id = "evt-1";
  ASSERT_TRUE(run(first, 1h, now_).ok());
  auto second = message();
  second.event_id = "evt-1";
  auto out = run(second, 1h, now_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Errc::kConflict);
  EXPECT_TRUE(deliveries_of(second.id).empty());
}

TEST(Published, WakesOnlyWhenDeliveriesWereCreated) {
  int wakes = 0;
  const std::function<void()> wake = [&wakes] { ++wakes; };
  published(Published{std::nullopt, 0, {}}, wake);
  EXPECT_EQ(wakes, 0);
  published(Published{std::nullopt, 2, {}}, wake);
  EXPECT_EQ(wakes, 1);
  published(Published{std::nullopt, 2, {}}, {});  // no dispatcher (an API-only node): nothing to wake
  EXPECT_EQ(wakes, 1);
}

TEST_P(PublishTest, OperationalEventsArePublishedAndSkipAPullOnlyEndpoint) {
  add_endpoint("http://127.0.0.1:9/ops");
  add_endpoint("http://127.0.0.1:9/ops-sink", /*pull_only=*/true);
  OperationalEvent ev{"endpoint.disabled", R"({"type":"endpoint.disabled","data":{}})"};
  std::optional<Result<int>> n;
  ASSERT_TRUE(write([&](store::Tx& tx) -> Status {
                n = emit_operational(tx, app_.id, ev, now_);
                return n->ok() ? Status{} : Status(n->error());
              }).ok());
  EXPECT_EQ(**n, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, PublishTest, store::testing::both_backends(), store::testing::backend_name);

}  // namespace
}  // namespace hookwire::delivery
