// The Store contract suite: deliveries (the queue and the status listings).
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

// ---- Deliveries
// ----------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, DeliveriesAreClaimedWhenDueUnderALeaseThatExpires) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto now_due = make_delivery(msg, ep, kT0);
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&now_due, &later}); }).ok());

  const TimePoint lease = kT0 + std::chrono::seconds(60);
  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, lease, 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].delivery.id, now_due.id);
  EXPECT_EQ(claimed[0].delivery.status, Delivery::kSending);
  EXPECT_EQ(claimed[0].delivery.next_attempt_at, lease);
  EXPECT_EQ(claimed[0].message.payload, msg.payload);
  EXPECT_EQ(claimed[0].endpoint->url, ep.url);

  // Leased: not claimed again before the lease ends, even when the other one is due; claimed again after.
  auto claim_at = [&](TimePoint t) {
    std::vector<std::string> ids;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.claim_due_deliveries(t, t + std::chrono::seconds(60), 10, 10);
                  if (!r.ok()) return r.take_error();
                  for (auto& d : *r) ids.push_back(d.delivery.id);
                  return {};
                }).ok());
    return ids;
  };
  EXPECT_EQ(claim_at(kT0 + std::chrono::seconds(5)), std::vector<std::string>{later.id});
  EXPECT_EQ(claim_at(lease), std::vector<std::string>{now_due.id});

  // Finished deliveries are never claimed again.
  Delivery done = claimed[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(done); }).ok());
  EXPECT_TRUE(claim_at(kT0 + std::chrono::hours(1000)).size() == 1u);  // only `later` (its lease ran out)

  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
}

// An expunged message keeps its row (empty payload) and is never offered for sending again: a claim marks its
// due deliveries failed (SingleProcessStoreContractTest: find_due_deliveries reports them orphaned).
TEST_P(StoreContractTest, AnExpungedMessageKeepsItsRowButIsNeverSentAgain) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, msg.id); }).ok());
  auto got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, msg.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, "");
  EXPECT_EQ(got->event_type, msg.event_type);
  EXPECT_EQ(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, "msg_missing"); }).error().code,
            Errc::kNotFound);

  expect_claim_fails_the_only_delivery(app.id, msg.id, kT0);
}

// An endpoint disabled (by its operator, by a 410, by failing too long) is sent nothing more: once its lease
// runs out, a claim marks its due delivery failed, where `recover` finds it once the endpoint is enabled
// again (SingleProcessStoreContractTest: find_due_deliveries reports it orphaned). Svix: "If an endpoint is
// removed or disabled delivery attempts to the endpoint will be disabled as well."
TEST_P(StoreContractTest, ADisabledEndpointsDueDeliveriesAreNeverSent) {
  const auto app = make_app();
  auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  const TimePoint lease = kT0 + std::chrono::seconds(60);
  size_t claimed = 0;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, lease, 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = r->size();
                return {};
              }).ok());
  EXPECT_EQ(claimed, 1u);  // enabled: sent

  ep.disabled = true;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  expect_claim_fails_the_only_delivery(app.id, msg.id, lease);
}

// A claimed delivery carries its row handle, and update_delivery uses it; a handle that names another row (or
// none) never changes the wrong delivery: the id decides.
TEST_P(StoreContractTest, AnUpdateWithAWrongRowHandleChangesOnlyTheDeliveryNamedById) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto first = make_delivery(msg, ep, kT0);
  const auto second = make_delivery(msg, ep, kT0 + std::chrono::seconds(1));
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&first, &second}); }).ok());
  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0 + std::chrono::seconds(1),
                                                 kT0 + std::chrono::seconds(60), 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_NE(claimed[0].delivery.row, claimed[1].delivery.row);

  // The first delivery's new state, carrying the second one's handle; then the second's, with an unknown one.
  Delivery done = claimed[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  done.row = claimed[1].delivery.row;
  Delivery retry = claimed[1].delivery;
  retry.status = Delivery::kPending;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::hours(1);
  retry.row = 987654321;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.update_delivery(done); !st.ok()) return st;
                return tx.update_delivery(retry);
              }).ok());
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& d : *listed) {
    const Delivery& want = d.id == first.id ? done : retry;
    EXPECT_EQ(d.status, want.status) << d.id;
    EXPECT_EQ(d.attempts, 1) << d.id;
    EXPECT_EQ(d.next_attempt_at, want.next_attempt_at) << d.id;
  }
  // A handle does not make a deleted delivery's update succeed.
  Delivery gone = done;
  gone.id = "dlv_does_not_exist";
  auto st = write([&](Tx& tx) { return tx.update_delivery(gone); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

TEST_P(StoreContractTest, AClaimTakesAShareOfEachEndpointAndMovesTheRestBehind) {
  const auto app = make_app();
  auto busy = make_endpoint(app.id);
  auto other = make_endpoint(app.id);
  other.uid = "other";
  const auto msg = put(make_message(app.id));
  std::vector<Delivery> backlog;  // the busy endpoint's: the oldest due work
  for (int i = 0; i < 12; ++i)
    backlog.push_back(make_delivery(msg, busy, kT0 - std::chrono::seconds(100 - i)));
  const auto others = make_delivery(msg, other, kT0 - std::chrono::seconds(10));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(busy); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(other); !st.ok()) return st;
                for (const auto& d : backlog)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                return tx.insert_delivery(others);
              }).ok());
  auto claim = [&](TimePoint t, int limit, int per_endpoint) {
    std::vector<std::string> ids;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.claim_due_deliveries(t, t + std::chrono::seconds(60), limit, per_endpoint);
                  if (!r.ok()) return r.take_error();
                  for (auto& d : *r) ids.push_back(d.delivery.id);
                  return {};
                }).ok());
    return ids;
  };
  // limit 2, share 1: the window (4 x 2 + 1 rows) sees only the busy endpoint: one of its deliveries is
  // taken, the other eight it read are moved behind (due at kT0).
  EXPECT_EQ(claim(kT0, 2, 1), std::vector<std::string>{backlog[0].id});
  // Next claim: the three unread ones of the backlog are now the oldest, then the other endpoint's.
  EXPECT_EQ(claim(kT0, 2, 1), (std::vector<std::string>{backlog[9].id, others.id}));
  auto stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, {}); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sending, 3);
  EXPECT_EQ(stats->pending, 10);
  EXPECT_EQ(stats->due, 10);  // everything passed over is still due, none is lost
}

TEST_P(StoreContractTest, QueueStatsCountLiveDeliveriesAndFindTheOldestDue) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  auto stats_at = [&](TimePoint t) {
    auto r = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(t, {}); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : DeliveryQueueStats{};
  };
  EXPECT_EQ(stats_at(kT0).pending, 0);
  EXPECT_FALSE(stats_at(kT0).oldest_due.has_value());

  auto old_due = make_delivery(msg, ep, kT0 - std::chrono::seconds(30));
  auto due = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  auto future = make_delivery(msg, ep, kT0 + std::chrono::seconds(60));
  auto leased = make_delivery(msg, ep, kT0 + std::chrono::seconds(45));
  leased.status = Delivery::kSending;
  auto done = make_delivery(msg, ep, kT0 - std::chrono::hours(1));
  done.status = Delivery::kSuccess;
  auto dead = make_delivery(msg, ep, kT0 - std::chrono::hours(1));
  dead.status = Delivery::kFailed;
  ASSERT_TRUE(write([&](Tx& tx) {
                return insert_deliveries(tx, app, ep, msg, {&old_due, &due, &future, &leased, &done, &dead});
              }).ok());
  auto now = stats_at(kT0);
  EXPECT_EQ(now.pending, 3);
  EXPECT_EQ(now.sending, 1);
  EXPECT_EQ(now.due, 2);
  EXPECT_EQ(now.oldest_due, kT0 - std::chrono::seconds(30));
  // An expired lease is due too (its dispatcher is gone).
  auto later = stats_at(kT0 + std::chrono::seconds(50));
  EXPECT_EQ(later.due, 3);
}

// The queue figures stay exact through a delivery's whole life, whatever the path: fan-out, a store lease, a
// retry, success, a dead letter, a requeue, a rolled-back write, a reopen, and the deletion of the
// application (issue #18: the figures are no longer counted per scrape). The release of leases at start-up:
// SingleProcessStoreContractTest.
TEST_P(StoreContractTest, QueueStatsStayExactThroughTheDeliveryLifecycle) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  auto stats = [&](TimePoint t = kT0) {
    auto r = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(t, {}); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : DeliveryQueueStats{};
  };
  auto expect = [&](int64_t pending, int64_t sending, int64_t due, const char* when) {
    const auto s = stats();
    EXPECT_EQ(s.pending, pending) << when;
    EXPECT_EQ(s.sending, sending) << when;
    EXPECT_EQ(s.due, due) << when;
  };
  expect(0, 0, 0, "empty");
  // One message each: a requeue takes only a message's latest delivery to the endpoint.
  const auto msg2 = put(make_message(app.id));
  const auto msg3 = put(make_message(app.id));
  auto a = make_delivery(msg, ep, kT0 - std::chrono::seconds(3));
  auto b = make_delivery(msg2, ep, kT0 - std::chrono::seconds(2));
  auto c = make_delivery(msg3, ep, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = insert_deliveries(tx, app, ep, msg, {&a}); !st.ok()) return st;
                if (auto st = tx.insert_delivery(b); !st.ok()) return st;
                return tx.insert_delivery(c);
              }).ok());
  expect(3, 0, 2, "fan-out");

  // A write that fails after inserting changes nothing.
  auto d = make_delivery(msg, ep, kT0);
  EXPECT_FALSE(write([&](Tx& tx) -> Status {
                 if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                 return Error::internal("rolled back");
               }).ok());
  expect(3, 0, 2, "rolled back");

  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, kT0 + std::chrono::seconds(30), 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 2u);
  expect(1, 2, 0, "leased in the store");
  EXPECT_EQ(stats(kT0 + std::chrono::seconds(31)).due, 2) << "expired leases are due";

  Delivery ok = claimed[0].delivery;
  ok.status = Delivery::kSuccess;
  ok.attempts = 1;
  Delivery retry = claimed[1].delivery;
  retry.status = Delivery::kPending;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::seconds(5);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.update_delivery(ok); !st.ok()) return st;
                return tx.update_delivery(retry);
              }).ok());
  expect(2, 0, 0, "one delivered, one to retry");

  retry.status = Delivery::kFailed;
  retry.attempts = 2;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(retry); }).ok());
  expect(1, 0, 0, "a dead letter");

  int requeued = -1;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.requeue_failed_deliveries(app.id, ep.id, kT0 - std::chrono::hours(1),
                                                      kT0 + std::chrono::hours(1), kT0);
                if (!r.ok()) return r.take_error();
                requeued = *r;
                return {};
              }).ok());
  ASSERT_EQ(requeued, 1);
  expect(2, 0, 1, "requeued");

  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, kT0 + std::chrono::seconds(30), 10, 10);
                return r.ok() ? Status{} : Status(r.take_error());
              }).ok());
  expect(1, 1, 0, "leased again");
  reopen();
  expect(1, 1, 0, "reopened");

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  expect(0, 0, 0, "application deleted");
}

TEST_P(StoreContractTest, ADeliveryWhoseEndpointIsGoneFailsInsteadOfBeingClaimed) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = insert_deliveries(tx, app, ep, msg, {&d}); !st.ok()) return st;
                return tx.delete_endpoint(app.id, ep.id);
              }).ok());
  expect_claim_fails_the_only_delivery(app.id, msg.id, kT0);
}

// The API's delivery views: only the latest delivery of each (message, endpoint) counts, statuses are
// reported as Svix does (pending before the first attempt, sending while retrying).
TEST_P(StoreContractTest, DeliveryStatusListingsCountTheLatestDeliveryPerMessageAndEndpoint) {
  const auto app = make_app();
  const auto other_app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto gone = make_endpoint(app.id);
  const auto m1 = put(make_message(app.id, "a.one", std::nullopt, kT0, std::vector<std::string>{"c1"}));
  const auto m2 = put(make_message(app.id, "b.two", std::nullopt, kT0 + std::chrono::seconds(1)));
  const auto m3 = put(make_message(app.id, "a.one", std::nullopt, kT0 + std::chrono::seconds(2)));
  const auto other_msg = put(make_message(other_app.id));
  std::vector<Delivery> ds{
      make_delivery(m1, ep1, Delivery::kSuccess, 1),  // 0: success
      make_delivery(m1, ep2, Delivery::kPending, 0),  // 1: pending (never tried)
      make_delivery(m2, ep1, Delivery::kPending, 2),  // 2: retrying -> reported "sending"
      make_delivery(m2, ep2, Delivery::kSending, 0),  // 3: leased, first try -> reported "pending"
      make_delivery(m3, ep1, Delivery::kFailed, 3),   // 4: failed, then resent (5)
      make_delivery(m3, ep1, Delivery::kPending, 0),  // 5: the resend: latest of (m3, ep1)
      make_delivery(m3, ep2, Delivery::kFailed, 3),   // 6: dead letter
      make_delivery(m1, gone, Delivery::kFailed, 1),  // 7: its endpoint is deleted below
  };
  ds[5].manual = true;
  ds[6].created_at = kT0 + std::chrono::hours(1);
  Delivery other = make_delivery(other_msg, ep1, Delivery::kFailed, 1);
  other.app_id = other_app.id;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other_app})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (const auto* e : {&ep1, &ep2, &gone})
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                for (const auto& d : ds)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                if (auto st = tx.insert_delivery(other); !st.ok()) return st;
                return tx.delete_endpoint(app.id, gone.id);
              }).ok());

  EXPECT_EQ(reported_status(ds[0]), Delivery::kSuccess);
  EXPECT_EQ(reported_status(ds[2]), Delivery::kSending);
  EXPECT_EQ(reported_status(ds[3]), Delivery::kPending);

  auto endpoint_messages = [&](const Endpoint& ep, DeliveryQuery q) {
    auto r = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep.id, q); });
    EXPECT_TRUE(r.ok());
    std::vector<std::string> out;
    for (const auto& md : r->items) out.push_back(md.message.id + "/" + md.delivery.id);
    return out;
  };
  auto pair = [](const Message& m, const Delivery& d) { return m.id + "/" + d.id; };
  DeliveryQuery q;
  q.page.order = Order::kDescending;
  EXPECT_EQ(endpoint_messages(ep1, q),
            (std::vector<std::string>{pair(m3, ds[5]), pair(m2, ds[2]), pair(m1, ds[0])}));
  q.status = Delivery::kSending;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m2, ds[2])});
  q.status = Delivery::kPending;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m3, ds[5])});
  EXPECT_EQ(endpoint_messages(ep2, q), (std::vector<std::string>{pair(m2, ds[3]), pair(m1, ds[1])}));
  q.status = Delivery::kFailed;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{});
  EXPECT_EQ(endpoint_messages(ep2, q), std::vector<std::string>{pair(m3, ds[6])});
  q.status.reset();
  q.event_types = {"a.one"};
  EXPECT_EQ(endpoint_messages(ep1, q), (std::vector<std::string>{pair(m3, ds[5]), pair(m1, ds[0])}));
  q.event_types.clear();
  q.channel = "c1";
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m1, ds[0])});
  q.channel.reset();
  q.after = kT0;
  q.before = kT0 + std::chrono::seconds(2);
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m2, ds[2])});

  // Paging by message id, both ways.
  DeliveryQuery paged;
  paged.page.limit = 2;
  auto first =
      read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep1.id, paged); });
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[0].message.id, m1.id);
  EXPECT_FALSE(first->done);
  paged.page.iterator = first->iterator;
  auto second =
      read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep1.id, paged); });
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].message.id, m3.id);
  EXPECT_TRUE(second->items[0].delivery.manual);
  EXPECT_EQ(second->items[0].message.payload, m3.payload);
  EXPECT_TRUE(second->done);

  // A message's endpoints: existing ones only, with the latest delivery.
  auto by_msg = read<Page<EndpointDelivery>>(
      [&](Tx& tx) { return tx.list_message_endpoints(app.id, m1.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  ASSERT_EQ(by_msg->items.size(), 2u);
  std::set<std::string> seen;
  for (const auto& ed : by_msg->items) {
    seen.insert(ed.endpoint.id);
    EXPECT_EQ(ed.delivery.id, ed.endpoint.id == ep1.id ? ds[0].id : ds[1].id);
    if (ed.endpoint.id == ep1.id) expect_same(ed.endpoint, ep1);
  }
  EXPECT_EQ(seen, (std::set<std::string>{ep1.id, ep2.id}));
  by_msg = read<Page<EndpointDelivery>>(
      [&](Tx& tx) { return tx.list_message_endpoints(app.id, m3.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  for (const auto& ed : by_msg->items) {
    if (ed.endpoint.id == ep1.id) {
      EXPECT_EQ(ed.delivery.id, ds[5].id);
    }
  }

  // Counts.
  auto counts = [&](const Endpoint& ep, std::optional<TimePoint> since, std::optional<TimePoint> until) {
    auto r = read<DeliveryCounts>(
        [&](Tx& tx) { return tx.count_endpoint_deliveries(app.id, ep.id, since, until); });
    EXPECT_TRUE(r.ok());
    return std::vector<int64_t>{r->success, r->pending, r->sending, r->fail};
  };
  EXPECT_EQ(counts(ep1, std::nullopt, std::nullopt), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(counts(ep2, std::nullopt, std::nullopt), (std::vector<int64_t>{0, 2, 0, 1}));
  EXPECT_EQ(counts(ep2, kT0 + std::chrono::minutes(1), std::nullopt), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(counts(ep2, std::nullopt, kT0 + std::chrono::minutes(1)), (std::vector<int64_t>{0, 2, 0, 0}));

  // Dead letters: the failed latest deliveries of this application only (ds[4] was resent, ds[7]'s endpoint
  // is gone but the dead letter stays).
  DeliveryQuery dq;
  dq.page.order = Order::kDescending;
  auto dead = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_failed_deliveries(app.id, dq); });
  ASSERT_TRUE(dead.ok());
  std::vector<std::string> dead_ids;
  for (const auto& md : dead->items) dead_ids.push_back(md.delivery.id);
  EXPECT_EQ(dead_ids, (std::vector<std::string>{ds[7].id, ds[6].id}));
  dq.event_types = {"b.two"};
  dead = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_failed_deliveries(app.id, dq); });
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->items.empty());

  // Recovery requeues the endpoint's failed latest deliveries created in [since, until): not ds[4] (resent).
  auto requeue = [&](const Endpoint& ep, TimePoint since, TimePoint until) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r =
                      tx.requeue_failed_deliveries(app.id, ep.id, since, until, kT0 + std::chrono::hours(2));
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(requeue(ep1, kT0, kT0 + std::chrono::hours(5)), 0);
  EXPECT_EQ(requeue(ep2, kT0, kT0 + std::chrono::minutes(1)), 0);  // ds[6] was created an hour later
  EXPECT_EQ(requeue(ep2, kT0, kT0 + std::chrono::hours(5)), 1);
  EXPECT_EQ(counts(ep2, std::nullopt, std::nullopt), (std::vector<int64_t>{0, 3, 0, 0}));
  {
    // A recovered delivery's next attempt is a manual one, as a resend's is.
    auto recovered =
        read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, m3.id); });
    ASSERT_TRUE(recovered.ok());
    for (const auto& d : *recovered) {
      if (d.id == ds[6].id) {
        EXPECT_TRUE(d.manual);
      }
    }
  }

  // The manual flag round-trips through update_delivery.
  Delivery resent = ds[5];
  resent.manual = false;
  resent.attempts = 1;
  resent.status = Delivery::kSuccess;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(resent); }).ok());
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, m3.id); });
  ASSERT_TRUE(listed.ok());
  for (const auto& d : *listed) {
    EXPECT_EQ(d.manual, d.id == ds[6].id);  // only the recovered one is still manual
    if (d.id == resent.id) {
      EXPECT_EQ(d.status, Delivery::kSuccess);
    }
  }
}

TEST_P(StoreContractTest, AttemptListingsFilter) {
  const auto app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto m1 = put(make_message(app.id, "a.one", std::nullopt, kT0, std::vector<std::string>{"c1"}));
  const auto m2 = put(make_message(app.id, "b.two"));
  auto att = [&](const Message& m, const Endpoint& e, int status, int code, int64_t at_ms) {
    Attempt a = make_attempt(app.id, m.id, e.id);
    a.status = status;
    a.response_status_code = code;
    a.created_at = kT0 + std::chrono::milliseconds(at_ms);
    return a;
  };
  const std::vector<Attempt> atts{
      att(m1, ep1, 2, 503, 10),  // 0
      att(m1, ep1, 2, 0, 20),    // 1: no response (timeout)
      att(m1, ep1, 0, 204, 30),  // 2
      att(m1, ep2, 2, 404, 40),  // 3
      att(m2, ep1, 0, 200, 50),  // 4
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (const auto& a : atts)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(atts[static_cast<size_t>(i)].id);
    return out;
  };
  auto by_msg = [&](AttemptQuery q) {
    auto r = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_message(app.id, m1.id, q); });
    EXPECT_TRUE(r.ok());
    return ids_of(r->items);
  };
  auto by_ep = [&](AttemptQuery q) {
    auto r = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep1.id, q); });
    EXPECT_TRUE(r.ok());
    return ids_of(r->items);
  };
  AttemptQuery q;
  EXPECT_EQ(by_msg(q), ids({0, 1, 2, 3}));
  q.status = 0;
  EXPECT_EQ(by_msg(q), ids({2}));
  EXPECT_EQ(by_ep(q), ids({2, 4}));
  q = {};
  q.status_code_class = 500;
  EXPECT_EQ(by_msg(q), ids({0}));
  q.status_code_class = 0;
  EXPECT_EQ(by_msg(q), ids({1}));
  q.status_code_class = 200;
  EXPECT_EQ(by_ep(q), ids({2, 4}));
  q = {};
  q.endpoint_id = ep2.id;
  EXPECT_EQ(by_msg(q), ids({3}));
  q = {};
  q.after = kT0 + std::chrono::milliseconds(10);
  q.before = kT0 + std::chrono::milliseconds(40);
  EXPECT_EQ(by_msg(q), ids({1, 2}));
  q = {};
  q.event_types = {"b.two"};
  EXPECT_EQ(by_ep(q), ids({4}));
  q = {};
  q.channel = "c1";
  EXPECT_EQ(by_ep(q), ids({0, 1, 2}));
  q.page.order = Order::kDescending;
  q.page.limit = 2;
  EXPECT_EQ(by_ep(q), ids({2, 1}));
}

}  // namespace hookwire::store
