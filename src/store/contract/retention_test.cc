// The Store contract suite: retention, background tasks and the usage statistics.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/ids.h"
#include "store/async.h"
#include "store/contract/helpers.h"
#include "store/store_contract_test.h"

namespace hookwire::store {
using namespace contract;  // NOLINT: the suite's own helpers

// ---- Retention
// -----------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, PruningDeletesOldMessagesWithTheirHistoryButKeepsThoseStillBeingDelivered) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const TimePoint cutoff = kT0 + std::chrono::hours(24);
  auto old_msg = [&](int i) {
    return make_message(app.id, "e", std::nullopt, kT0 + std::chrono::minutes(i));
  };
  auto plain = old_msg(1);  // with a failed attempt
  auto live = old_msg(2);   // a pending delivery: kept
  auto done = old_msg(3);   // a finished delivery and its attempt
  auto keyed = old_msg(4);  // holds an idempotency key
  keyed.idempotency_key = "key-1";
  keyed.request_hash = "h";
  auto young = make_message(app.id, "e", std::nullopt, cutoff + std::chrono::minutes(1));
  auto delivery = [&](const Message& m, int status) {
    Delivery d;
    d.id = new_id("dlv");
    d.app_id = app.id;
    d.msg_id = m.id;
    d.endpoint_id = ep.id;
    d.status = status;
    d.next_attempt_at = cutoff + std::chrono::hours(1);
    d.created_at = d.updated_at = m.created_at;
    return d;
  };
  Delivery live_delivery;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                for (auto* m : {&plain, &live, &done, &keyed, &young})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                live_delivery = delivery(live, Delivery::kPending);
                if (auto st = tx.insert_attempt(make_attempt(app.id, plain.id, ep.id)); !st.ok()) return st;
                if (auto st = tx.insert_delivery(live_delivery); !st.ok()) return st;
                if (auto st = tx.insert_delivery(delivery(done, Delivery::kSuccess)); !st.ok()) return st;
                return tx.insert_attempt(make_attempt(app.id, done.id, ep.id));
              }).ok());
  auto pos = [&](const Message& m) {
    return read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); })->position;
  };
  const int64_t keyed_pos = pos(keyed), young_pos = pos(young), live_pos = pos(live);
  auto prune = [&](int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_messages(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(prune(500), 3);
  EXPECT_EQ(prune(500), 0) << "nothing more to do";
  read_raw([&](Tx& tx) {
    for (const auto* m : {&plain, &done, &keyed})
      EXPECT_EQ(tx.get_message(app.id, m->id).error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.get_message(app.id, live.id).ok());
    EXPECT_TRUE(tx.get_message(app.id, young.id).ok());
    for (const auto* m : {&plain, &done}) {
      auto atts = tx.list_attempts_by_message(app.id, m->id, PageQuery{});
      ASSERT_TRUE(atts.ok());
      EXPECT_TRUE(atts->items.empty());
      auto ds = tx.list_deliveries_by_message(app.id, m->id);
      ASSERT_TRUE(ds.ok());
      EXPECT_TRUE(ds->empty());
    }
    EXPECT_EQ(tx.list_deliveries_by_message(app.id, live.id)->size(), 1u);
    EXPECT_EQ(tx.get_message_by_idempotency_key(app.id, "key-1").error().code, Errc::kNotFound);
    // The log now starts after the last old message; the kept one below it is read by id only.
    EXPECT_EQ(value_of(tx.feed_start()), keyed_pos);
    auto page = tx.read_feed(feed_query(app.id, *tx.feed_start(), store_->feed_head()));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(ids_of(page->items), std::vector<std::string>{young.id});
    // A seek to before the start lands on the start.
    EXPECT_EQ(value_of(tx.feed_position_at(app.id, kT0 - std::chrono::hours(1))), young_pos - 1);
  });
  EXPECT_GT(live_pos, 0);
  // The key is free again.
  auto again = make_message(app.id);
  again.idempotency_key = "key-1";
  again.request_hash = "h2";
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(again); }).ok());

  // Once its delivery is finished, the kept message goes too, and the start stays.
  auto finished = live_delivery;
  finished.status = Delivery::kFailed;
  set_delivery_state(finished);
  EXPECT_EQ(prune(500), 1);
  read_raw([&](Tx& tx) {
    EXPECT_EQ(tx.get_message(app.id, live.id).error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.list_deliveries_by_message(app.id, live.id)->empty());
    EXPECT_EQ(value_of(tx.feed_start()), keyed_pos);
  });
  EXPECT_EQ(prune(500), 0);
}

TEST_P(StoreContractTest, PruningIsBoundedPerCallAndOldestFirst) {
  const auto app = make_app();
  std::vector<Message> msgs;
  for (int i = 0; i < 5; ++i)
    msgs.push_back(make_message(app.id, "e", std::nullopt, kT0 + std::chrono::seconds(i)));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  const TimePoint cutoff = kT0 + std::chrono::seconds(4);  // the last one is not older
  auto prune = [&](int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_messages(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  std::vector<int64_t> pos;
  for (const auto& m : msgs)
    pos.push_back(read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); })->position);
  EXPECT_EQ(prune(3), 3);
  read_raw([&](Tx& tx) {
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(tx.get_message(app.id, msgs[i].id).ok()) << i;
    EXPECT_TRUE(tx.get_message(app.id, msgs[3].id).ok());
    EXPECT_EQ(value_of(tx.feed_start()), pos[2]);
  });
  EXPECT_EQ(prune(3), 1);
  EXPECT_EQ(prune(3), 0);
  read_raw([&](Tx& tx) {
    EXPECT_TRUE(tx.get_message(app.id, msgs[4].id).ok());
    EXPECT_EQ(value_of(tx.feed_start()), pos[3]);
    auto page = tx.read_feed(feed_query(app.id, pos[3], store_->feed_head()));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(ids_of(page->items), std::vector<std::string>{msgs[4].id});
  });
}

TEST_P(StoreContractTest, ExpiredPayloadsAreDeletedInBoundedBatches) {
  const auto app = make_app();
  auto expiring = [&](std::optional<TimePoint> at) {
    auto m = make_message(app.id);
    m.payload_expires_at = at;
    return m;
  };
  auto a = expiring(kT0 + std::chrono::hours(1));
  auto b = expiring(kT0 + std::chrono::hours(1));
  auto c = expiring(kT0 + std::chrono::hours(2));
  auto forever = expiring(std::nullopt);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto* m : {&a, &b, &c, &forever})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                return {};
              }).ok());
  auto expire = [&](TimePoint now, int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.expire_payloads(now, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  auto payload = [&](const Message& m) {
    auto r = read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); });
    EXPECT_TRUE(r.ok());
    return r->payload;
  };
  EXPECT_EQ(expire(kT0 + std::chrono::minutes(59), 10), 0);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 1), 1);  // due at now; the limit holds
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 10), 1);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 10), 0);
  EXPECT_EQ(payload(a), "");
  EXPECT_EQ(payload(b), "");
  EXPECT_EQ(payload(c), c.payload);
  // The message keeps its expiry (the API shows the payload as expired).
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message(app.id, a.id); })->payload_expires_at,
            a.payload_expires_at);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(100), 10), 1);
  EXPECT_EQ(payload(c), "");
  EXPECT_EQ(payload(forever), forever.payload);
}

TEST_P(StoreContractTest, BackgroundTasksAreKeptWithTheirResultListedByFilterAndPrunedByAge) {
  auto make_task = [](std::string task, std::string status, TimePoint at) {
    BackgroundTask t;
    t.id = new_id("qtask", at);
    t.task = std::move(task);
    t.status = std::move(status);
    t.data = R"({"recovered":3})";
    t.created_at = at;
    t.updated_at = at + std::chrono::milliseconds(5);
    return t;
  };
  const auto recover = make_task("endpoint.recover", "finished", kT0);
  const auto stats = make_task("application.stats", "finished", kT0 + std::chrono::hours(1));
  const auto failed = make_task("application.stats", "failed", kT0 + std::chrono::hours(2));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* t : {&recover, &stats, &failed})
                  if (auto st = tx.insert_background_task(*t); !st.ok()) return st;
                return {};
              }).ok());
  auto got = read<BackgroundTask>([&](Tx& tx) { return tx.get_background_task(recover.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->task, "endpoint.recover");
  EXPECT_EQ(got->status, "finished");
  EXPECT_EQ(got->data, R"({"recovered":3})");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0 + std::chrono::milliseconds(5));
  EXPECT_EQ(read<BackgroundTask>([&](Tx& tx) { return tx.get_background_task("qtask_nope"); }).error().code,
            Errc::kNotFound);
  EXPECT_EQ(write([&](Tx& tx) { return tx.insert_background_task(recover); }).error().code, Errc::kConflict);

  auto ids = [&](BackgroundTaskQuery q) {
    std::vector<std::string> out;
    auto page = read<Page<BackgroundTask>>([&](Tx& tx) { return tx.list_background_tasks(q); });
    EXPECT_TRUE(page.ok());
    for (const auto& t : page->items) out.push_back(t.id);
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::string>{recover.id, stats.id, failed.id}));
  BackgroundTaskQuery newest_first;
  newest_first.page.order = Order::kDescending;
  newest_first.page.limit = 2;
  EXPECT_EQ(ids(newest_first), (std::vector<std::string>{failed.id, stats.id}));
  BackgroundTaskQuery by_type;
  by_type.task = "application.stats";
  by_type.status = "finished";
  EXPECT_EQ(ids(by_type), (std::vector<std::string>{stats.id}));

  // Pruned oldest first, bounded, by creation time.
  auto prune = [&](TimePoint cutoff, int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_background_tasks(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(prune(kT0, 10), 0);
  EXPECT_EQ(prune(kT0 + std::chrono::hours(3), 1), 1);
  EXPECT_EQ(ids({}), (std::vector<std::string>{stats.id, failed.id}));
  EXPECT_EQ(prune(kT0 + std::chrono::minutes(90), 10), 1);
  EXPECT_EQ(ids({}), (std::vector<std::string>{failed.id}));
}

TEST_P(StoreContractTest, UsageCountsAnApplicationsMessagesAndDeliveriesInAWindowAndEveryEventTypeInUse) {
  const auto app = make_app();
  const auto other = make_app();
  const auto ep = make_endpoint(app.id);
  auto early = make_message(app.id, "user.created", std::nullopt, kT0);
  auto inside = make_message(app.id, "user.created", std::nullopt, kT0 + std::chrono::hours(1));
  auto late = make_message(app.id, "user.deleted", std::nullopt, kT0 + std::chrono::hours(2));
  auto elsewhere = make_message(other.id, "user.created", std::nullopt, kT0 + std::chrono::hours(1));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                for (auto* m : {&early, &inside, &late, &elsewhere})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                for (const auto* m : {&early, &inside, &late}) {
                  auto d = make_delivery(*m, ep, m->created_at);
                  d.created_at = m->created_at;
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                }
                return {};
              }).ok());
  auto usage = read<AppUsage>([&](Tx& tx) {
    return tx.app_usage(app.id, kT0 + std::chrono::minutes(30), kT0 + std::chrono::hours(2));
  });
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->messages, 1) << "since is included, until is not";
  EXPECT_EQ(usage->message_destinations, 1);
  usage = read<AppUsage>([&](Tx& tx) { return tx.app_usage(app.id, kT0, kT0 + std::chrono::hours(3)); });
  EXPECT_EQ(usage->messages, 3);
  EXPECT_EQ(usage->message_destinations, 3);
  usage = read<AppUsage>([&](Tx& tx) { return tx.app_usage(other.id, kT0, kT0 + std::chrono::hours(3)); });
  EXPECT_EQ(usage->messages, 1);
  EXPECT_EQ(usage->message_destinations, 0);

  auto types = read<std::vector<EventTypeUsage>>([](Tx& tx) { return tx.event_type_usage(); });
  ASSERT_TRUE(types.ok());
  ASSERT_EQ(types->size(), 2u);
  EXPECT_EQ((*types)[0].event_type, "user.created");
  EXPECT_EQ((*types)[0].messages, 3);
  EXPECT_EQ((*types)[0].applications, 2);
  EXPECT_EQ((*types)[0].last_message_at, kT0 + std::chrono::hours(1));
  EXPECT_EQ((*types)[1].event_type, "user.deleted");
  EXPECT_EQ((*types)[1].messages, 1);
  EXPECT_EQ((*types)[1].applications, 1);
}

}  // namespace hookwire::store
