// The Store contract for a store that one process alone uses (the embedded SQLite store): leases held in the
// caller's memory (find_due_deliveries with `held`, which writes nothing) and the release of every lease at
// start-up. A store several nodes share (PostgreSQL) leases in rows instead (claim_due_deliveries) and
// refuses these. Instantiated by sqlite_store_test only; a test named as one of StoreContractTest's holds the
// single-process half of it.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/ids.h"
#include "store/contract/helpers.h"
#include "store/store_contract_test.h"

namespace hookwire::store {
using namespace contract;  // NOLINT: the suite's own helpers

// ---- Leases in memory
// -------------------------------------------------------------------------------------------------------------

// Without a lease: find_due_deliveries writes nothing (it runs in a read), so what it finds stays as it was
// (pending, due), and the caller's held rows are skipped as if leased; once the caller updates a delivery it
// follows its new state. The queue stats count held rows as sending.
TEST_P(SingleProcessStoreContractTest, DueDeliveriesFoundWithoutALeaseStayDueAndHeldOnesAreSkipped) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto first = make_delivery(msg, ep, kT0 - std::chrono::seconds(2));
  const auto second = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) {
                return insert_deliveries(tx, app, ep, msg, {&first, &second, &later});
              }).ok());
  auto take_at = [&](TimePoint t, const std::vector<int64_t>& held) {
    auto r = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(t, 10, 10, held); });
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.ok() && r->orphaned.empty() && r->passed_over.empty());
    return r.ok() ? std::move(r->due) : std::vector<DueDelivery>{};
  };
  auto ids = [](const std::vector<DueDelivery>& v) {
    std::vector<std::string> out;
    for (const auto& d : v) out.push_back(d.delivery.id);
    return out;
  };

  auto taken = take_at(kT0, {});
  ASSERT_EQ(ids(taken), (std::vector<std::string>{first.id, second.id}));
  EXPECT_EQ(taken[0].delivery.status, Delivery::kPending);
  EXPECT_EQ(taken[0].delivery.next_attempt_at, first.next_attempt_at);
  EXPECT_EQ(taken[0].message.payload, msg.payload);
  EXPECT_EQ(taken[0].endpoint->url, ep.url);
  ASSERT_NE(taken[0].delivery.row, 0);
  // Nothing was written: taken again by whoever does not hold them.
  EXPECT_EQ(ids(take_at(kT0, {})), (std::vector<std::string>{first.id, second.id}));

  std::vector<int64_t> held{taken[0].delivery.row, taken[1].delivery.row};
  std::sort(held.begin(), held.end());
  EXPECT_TRUE(take_at(kT0, held).empty());
  EXPECT_EQ(ids(take_at(kT0 + std::chrono::seconds(5), held)), std::vector<std::string>{later.id});
  EXPECT_EQ(ids(take_at(kT0, {held[1]})).size(), 1u);

  auto stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, held); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);  // `later`
  EXPECT_EQ(stats->sending, 2);
  EXPECT_EQ(stats->due, 0);
  EXPECT_FALSE(stats->oldest_due.has_value());

  // Recorded as delivered: no longer due, held or not; its held row no longer counts as sending.
  Delivery done = taken[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(done); }).ok());
  EXPECT_EQ(ids(take_at(kT0, {})), std::vector<std::string>{second.id});
  stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, held); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->sending, 1);
  EXPECT_EQ(stats->due, 0);
  stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, {}); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 2);
  EXPECT_EQ(stats->sending, 0);
  EXPECT_EQ(stats->due, 1);
  EXPECT_EQ(stats->oldest_due, second.next_attempt_at);
}

// find_due_deliveries reports what a claim would have put right itself: deliveries whose endpoint or message
// is gone (orphaned), and overdue ones past their endpoint's share (passed over); neither is sent.
TEST_P(SingleProcessStoreContractTest, FindingDueDeliveriesReportsOrphanedAndPassedOverRows) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto gone = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  std::vector<Delivery> backlog;
  for (int i = 0; i < 3; ++i) backlog.push_back(make_delivery(msg, ep, kT0 - std::chrono::seconds(10 - i)));
  const auto orphan = make_delivery(msg, gone, kT0 - std::chrono::seconds(1));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(gone); !st.ok()) return st;
                for (const auto& d : backlog)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                if (auto st = tx.insert_delivery(orphan); !st.ok()) return st;
                return tx.delete_endpoint(app.id, gone.id);
              }).ok());
  auto scan = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 1, {}); });
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->due.size(), 1u);
  EXPECT_EQ(scan->due[0].delivery.id, backlog[0].id);
  ASSERT_EQ(scan->passed_over.size(), 2u);
  EXPECT_EQ(scan->passed_over[0].id, backlog[1].id);
  EXPECT_NE(scan->passed_over[0].row, 0);
  ASSERT_EQ(scan->orphaned.size(), 1u);
  EXPECT_EQ(scan->orphaned[0].id, orphan.id);
  // Nothing was changed.
  auto again = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 1, {}); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->passed_over.size(), 2u);
  EXPECT_EQ(again->orphaned.size(), 1u);
}

// An expunged message keeps its row (empty payload) and is never offered for sending again: its due
// deliveries are reported orphaned (and a leasing claim marks them failed).
TEST_P(SingleProcessStoreContractTest, AnExpungedMessageKeepsItsRowButIsNeverSentAgain) {
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

  expect_only_delivery_orphaned(d, kT0);
}

// An endpoint disabled (by its operator, by a 410, by failing too long) is sent nothing more: its due
// deliveries are reported orphaned, and a leasing claim marks them failed, where `recover` finds them once
// the endpoint is enabled again. Svix: "If an endpoint is removed or disabled delivery attempts to the
// endpoint will be disabled as well."
TEST_P(SingleProcessStoreContractTest, ADisabledEndpointsDueDeliveriesAreNeverSent) {
  const auto app = make_app();
  auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  auto before = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 10, {}); });
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->due.size(), 1u);  // enabled: sent

  ep.disabled = true;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  expect_only_delivery_orphaned(d, kT0);
}

// The release of leases at start-up (a store one process owns: every lease belongs to a process that is
// gone) keeps the queue figures exact: the tail of StoreContractTest's test of that name.
TEST_P(SingleProcessStoreContractTest, QueueStatsStayExactThroughTheDeliveryLifecycle) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto msg2 = put(make_message(app.id));
  auto expect = [&](int64_t pending, int64_t sending, int64_t due, const char* when) {
    auto r = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, {}); });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->pending, pending) << when;
    EXPECT_EQ(r->sending, sending) << when;
    EXPECT_EQ(r->due, due) << when;
  };
  auto a = make_delivery(msg, ep, kT0 - std::chrono::seconds(3));
  auto b = make_delivery(msg2, ep, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = insert_deliveries(tx, app, ep, msg, {&a}); !st.ok()) return st;
                return tx.insert_delivery(b);
              }).ok());
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, kT0 + std::chrono::seconds(30), 10, 10);
                if (!r.ok()) return r.take_error();
                return r->size() == 1 ? Status{} : Status(Error::internal("expected one claimed"));
              }).ok());
  expect(1, 1, 0, "leased in the store");
  reopen();
  expect(1, 1, 0, "reopened");
  int released = -1;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.release_all_leases(kT0);
                if (!r.ok()) return r.take_error();
                released = *r;
                return {};
              }).ok());
  EXPECT_EQ(released, 1);
  expect(2, 0, 1, "leases released");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  expect(0, 0, 0, "application deleted");
}

// A due delivery found without a lease carries its message with its position (the find_due_deliveries half
// of StoreContractTest's test of that name).
TEST_P(SingleProcessStoreContractTest, NewEndpointAndMessageFieldsRoundTripAndMessagesCarryTheirPosition) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  auto scan = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 10, {}); });
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->due.size(), 1u);
  EXPECT_GT(scan->due[0].message.position, 0);
  EXPECT_EQ(scan->due[0].message.headers, std::nullopt);
}

}  // namespace hookwire::store
