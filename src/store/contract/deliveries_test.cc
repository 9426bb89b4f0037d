// The Store contract suite: deliveries (the status listings; the queue is in queue_test.cc).
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

  // The manual flag round-trips through a settlement.
  Delivery resent = ds[5];
  resent.manual = false;
  resent.attempts = 1;
  resent.status = Delivery::kSuccess;
  set_delivery_state(resent);
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

namespace hookwire::store {
using namespace contract;  // NOLINT: the suite's own helpers

// MessageQuery::status (issue #22): messages with a delivery whose reported status is the one asked, counting
// only the latest delivery of each (message, endpoint) pair; a bounded scan whose page says where to go on.
TEST_P(StoreContractTest, MessagesFilteredByDeliveryStatusWithABoundedScan) {
  const auto app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep1); !st.ok()) return st;
                return tx.insert_endpoint(ep2);
              }).ok());
  std::vector<Message> m;
  for (int i = 0; i < 8; ++i) m.push_back(put(make_message(app.id, i % 2 ? "b.two" : "a.one")));
  std::vector<Delivery> ds{
      make_delivery(m[0], ep1, Delivery::kSuccess, 1),
      make_delivery(m[1], ep1, Delivery::kFailed, 3),  // then resent and delivered: not failed any more
      make_delivery(m[1], ep1, Delivery::kSuccess, 1),
      make_delivery(m[2], ep1, Delivery::kFailed, 3),   // failed
      make_delivery(m[2], ep2, Delivery::kSuccess, 1),  // and delivered to the other endpoint
      make_delivery(m[3], ep1, Delivery::kPending, 0),  // pending
      make_delivery(m[4], ep1, Delivery::kPending, 2),  // retrying: "sending"
      make_delivery(m[5], ep1, Delivery::kFailed, 1),   // failed
      // m[6]: no delivery at all; m[7]: failed
      make_delivery(m[7], ep2, Delivery::kFailed, 5),
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto& d : ds)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                return {};
              }).ok());
  auto list = [&](MessageQuery q) {
    auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    EXPECT_TRUE(page.ok());
    return page.ok() ? *page : Page<Message>{};
  };
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(m[i].id);
    return out;
  };
  MessageQuery q;
  q.page.order = Order::kDescending;
  q.status = Delivery::kFailed;
  auto page = list(q);
  EXPECT_EQ(ids_of(page.items), ids({7, 5, 2}));
  EXPECT_TRUE(page.done);
  q.status = Delivery::kSuccess;
  EXPECT_EQ(ids_of(list(q).items), ids({2, 1, 0}));
  q.status = Delivery::kPending;
  EXPECT_EQ(ids_of(list(q).items), ids({3}));
  q.status = Delivery::kSending;
  EXPECT_EQ(ids_of(list(q).items), ids({4}));
  // With the other filters.
  q.status = Delivery::kFailed;
  q.event_types = {"b.two"};
  EXPECT_EQ(ids_of(list(q).items), ids({7, 5}));
  q.event_types.clear();

  // Paging by matches: two a page.
  q.page.limit = 2;
  page = list(q);
  EXPECT_EQ(ids_of(page.items), ids({7, 5}));
  EXPECT_FALSE(page.done);
  q.page.iterator = page.iterator;
  page = list(q);
  EXPECT_EQ(ids_of(page.items), ids({2}));
  EXPECT_TRUE(page.done);

  // A window of three messages at a time: a page may hold fewer matches than asked and not be done; its
  // iterator continues after the last message looked at, and walking on finds every match once.
  q.page = {};
  q.page.order = Order::kDescending;
  q.status_scan_limit = 3;
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    page = list(q);
    ++pages;
    for (const auto& x : page.items) seen.push_back(x.id);
    if (page.done) break;
    ASSERT_TRUE(page.iterator);
    q.page.iterator = page.iterator;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, ids({7, 5, 2}));
  EXPECT_GE(pages, 3);  // 8 messages, 3 looked at a page
  // The first window (7, 6, 5) holds two matches; the second (4, 3, 2) one.
  q.page = {};
  q.page.order = Order::kDescending;
  page = list(q);
  EXPECT_EQ(ids_of(page.items), ids({7, 5}));
  EXPECT_FALSE(page.done);
  EXPECT_EQ(page.iterator, m[5].id);
}

// What the endpoint health route reads (issue #22): the newest attempts from a time on, and the reason an
// endpoint was disabled, which the streak's writes keep.
TEST_P(StoreContractTest, EndpointRecentAttemptsAndDisabledReason) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto other = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  std::vector<Attempt> attempts;
  for (int i = 0; i < 6; ++i) {
    Attempt a = make_attempt(app.id, msg.id, i == 5 ? other.id : ep.id);
    a.created_at = kT0 + std::chrono::hours(i);
    a.id = new_id(id_prefix::kAttempt, a.created_at);
    a.status = i % 2 ? 2 : 0;
    a.response = std::string(300, 'x');
    attempts.push_back(a);
  }
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(other); !st.ok()) return st;
                for (const auto& a : attempts)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  auto recent = read<std::vector<AttemptSummary>>(
      [&](Tx& tx) { return tx.recent_endpoint_attempts(app.id, ep.id, kT0 + std::chrono::hours(1), 10); });
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 4u);  // hours 4, 3, 2, 1 (5 is the other endpoint's; 0 is before)
  EXPECT_EQ((*recent)[0].id, attempts[4].id);
  EXPECT_EQ((*recent)[3].id, attempts[1].id);
  EXPECT_EQ((*recent)[3].status, 2);
  EXPECT_EQ((*recent)[3].response, std::string(200, 'x'));  // cut to 200 characters
  EXPECT_EQ((*recent)[0].response, "");                     // a success's response is not read
  EXPECT_EQ((*recent)[3].created_at, attempts[1].created_at);
  EXPECT_EQ((*recent)[3].msg_id, msg.id);
  auto two = read<std::vector<AttemptSummary>>(
      [&](Tx& tx) { return tx.recent_endpoint_attempts(app.id, ep.id, kT0, 2); });
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(ids_of(*two), (std::vector<std::string>{attempts[4].id, attempts[3].id}));

  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.set_endpoint_disabled(ep.id, "it answered 410 Gone", kT0); }).ok());
  EndpointHealthRecord streak;
  streak.first_failure_at = kT0;
  streak.consecutive_failures = 3;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_endpoint_health(ep.id, streak); }).ok());
  auto h = read<EndpointHealthRecord>([&](Tx& tx) { return tx.get_endpoint_health(ep.id); });
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->disabled_reason, "it answered 410 Gone");
  EXPECT_EQ(h->disabled_at, kT0);
  EXPECT_EQ(h->consecutive_failures, 3);
  EXPECT_EQ(h->first_failure_at, kT0);
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.set_endpoint_disabled(ep.id, std::nullopt, std::nullopt); }).ok());
  h = read<EndpointHealthRecord>([&](Tx& tx) { return tx.get_endpoint_health(ep.id); });
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->disabled_reason);
  EXPECT_FALSE(h->disabled_at);
  EXPECT_EQ(h->consecutive_failures, 3);  // the streak is kept
}

}  // namespace hookwire::store
