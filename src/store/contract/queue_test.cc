// The Store contract suite: the delivery queue (delivery_queue.h), whatever keeps its leases.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "store/contract/helpers.h"
#include "store/store_contract_test.h"

namespace hookwire::store {
using namespace contract;  // NOLINT: the suite's own helpers

namespace {

std::vector<std::string> ids_of(const std::vector<Claim>& claims) {
  std::vector<std::string> out;
  for (const auto& c : claims) out.push_back(c.delivery.id);
  return out;
}

}  // namespace

TEST_P(StoreContractTest, DeliveriesAreClaimedWhenDueUnderALeaseThatExpiresAndTakenOverAfter) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto now_due = make_delivery(msg, ep, kT0);
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&now_due, &later}); }).ok());

  const TimePoint lease = kT0 + std::chrono::seconds(60);
  auto first = claim(kT0, lease);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  const Claim& c = first->at(0);
  EXPECT_EQ(c.lease.delivery_id(), now_due.id);
  EXPECT_EQ(c.delivery.id, now_due.id);
  EXPECT_EQ(c.delivery.status, Delivery::kPending);  // as it was before the lease
  EXPECT_EQ(c.delivery.attempts, 0);
  ASSERT_TRUE(c.message.has_value());
  EXPECT_EQ(c.message->payload, msg.payload);
  ASSERT_NE(c.endpoint, nullptr);
  EXPECT_EQ(c.endpoint->url, ep.url);

  // Leased: not claimed again before the lease ends, even when the other one is due; taken over after.
  auto ids_at = [&](TimePoint t) {
    auto r = claim(t, t + std::chrono::seconds(60));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<Claim>{};
  };
  EXPECT_EQ(ids_of(ids_at(kT0 + std::chrono::seconds(5))), std::vector<std::string>{later.id});
  auto taken_over = ids_at(lease);
  ASSERT_EQ(ids_of(taken_over), std::vector<std::string>{now_due.id});

  // The first holder's record is refused (fenced): nothing it says is written. The new holder's is.
  Delivery done = c.delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  auto stale = settle(c.lease, done);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, Settled::kFenced);
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  for (const auto& d : *listed) EXPECT_NE(d.status, Delivery::kSuccess) << d.id;
  auto settled = settle(taken_over[0].lease, done);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(*settled, Settled::kDone);

  // Finished deliveries are never claimed again: only `later` (its lease ran out).
  EXPECT_EQ(ids_of(ids_at(kT0 + std::chrono::hours(1000))), std::vector<std::string>{later.id});
  listed = read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& d : *listed)
    if (d.id == now_due.id) {
      EXPECT_EQ(d.status, Delivery::kSuccess);
    }
}

// A holder keeps its lease by renewing it; once it lapses and another claim takes the delivery, the first
// holder can neither renew nor settle it.
TEST_P(StoreContractTest, ALeaseIsKeptByRenewingItAndAStaleHolderIsRefused) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());

  auto held = claim(kT0, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 1u);
  const LeaseToken token = held->at(0).lease;
  auto renewed = renew({token}, kT0 + std::chrono::seconds(120));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(*renewed, std::vector<bool>{true});
  auto none = claim(kT0 + std::chrono::seconds(90), kT0 + std::chrono::seconds(150));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "renewed to +120 s: not due at +90 s";
  auto stats = queue_stats(kT0 + std::chrono::seconds(90));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sending, 1);
  EXPECT_EQ(stats->due, 0);

  auto taken = claim(kT0 + std::chrono::seconds(120), kT0 + std::chrono::seconds(180));
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  renewed = renew({token, taken->at(0).lease}, kT0 + std::chrono::seconds(240));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(*renewed, (std::vector<bool>{false, true}));
  Delivery retry = d;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::hours(1);
  auto stale = settle(token, retry);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, Settled::kFenced);
  auto current = settle(taken->at(0).lease, retry);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, Settled::kDone);
  // Settled: its lease is over, so a renewal finds nothing to extend.
  renewed = renew({taken->at(0).lease}, kT0 + std::chrono::seconds(300));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(*renewed, std::vector<bool>{false});
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).status, Delivery::kPending);
  EXPECT_EQ(listed->at(0).attempts, 1);
  EXPECT_EQ(listed->at(0).next_attempt_at, retry.next_attempt_at);
}

// Leased deliveries count as sending, are skipped by later claims, and once settled follow their new state.
TEST_P(StoreContractTest, LeasedDeliveriesAreSkippedAndCountAsSendingUntilSettled) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto first = make_delivery(msg, ep, kT0 - std::chrono::seconds(2));
  const auto second = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) {
                return insert_deliveries(tx, app, ep, msg, {&first, &second, &later});
              }).ok());
  const TimePoint until = kT0 + std::chrono::seconds(60);
  auto taken = claim(kT0, until);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(ids_of(*taken), (std::vector<std::string>{first.id, second.id}));
  auto again = claim(kT0, until);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());

  auto stats = queue_stats(kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);  // `later`
  EXPECT_EQ(stats->sending, 2);
  EXPECT_EQ(stats->due, 0);
  EXPECT_FALSE(stats->oldest_due.has_value());

  // Delivered: no longer leased nor due.
  Delivery done = taken->at(0).delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  auto settled = settle(taken->at(0).lease, done);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(*settled, Settled::kDone);
  stats = queue_stats(kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->sending, 1);
  EXPECT_EQ(stats->due, 0);
  // Put back, due now: claimable again at once.
  Delivery back = taken->at(1).delivery;
  back.next_attempt_at = kT0;
  settled = settle(taken->at(1).lease, back);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(*settled, Settled::kDone);
  stats = queue_stats(kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 2);
  EXPECT_EQ(stats->sending, 0);
  EXPECT_EQ(stats->due, 1);
  EXPECT_EQ(stats->oldest_due, kT0);
  again = claim(kT0, until);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ids_of(*again), std::vector<std::string>{second.id});
}

// Judging is the caller's: a claim returns deliveries with nothing (left) to send or nowhere to go leased
// like the others, with what is missing left empty (due_rules.h fails them unsent). Svix: "If an endpoint is
// removed or disabled delivery attempts to the endpoint will be disabled as well."
TEST_P(StoreContractTest, AClaimReturnsDeliveriesWhoseMessageOrEndpointIsGoneWithWhatIsMissingLeftEmpty) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  auto disabled = make_endpoint(app.id);
  disabled.uid = "disabled";
  const auto gone = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto expunged = put(make_message(app.id));
  const auto to_gone = make_delivery(msg, gone, kT0 - std::chrono::seconds(3));
  const auto to_disabled = make_delivery(msg, disabled, kT0 - std::chrono::seconds(2));
  const auto of_expunged = make_delivery(expunged, ep, kT0 - std::chrono::seconds(1));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (const Endpoint* e : {&ep, static_cast<const Endpoint*>(&disabled), &gone})
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                for (const auto* d : {&to_gone, &to_disabled, &of_expunged})
                  if (auto st = tx.insert_delivery(*d); !st.ok()) return st;
                return tx.delete_endpoint(app.id, gone.id);
              }).ok());
  disabled.disabled = true;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(disabled); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, expunged.id); }).ok());
  auto got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, expunged.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, "");  // the row is kept, its payload gone
  EXPECT_EQ(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, "msg_missing"); }).error().code,
            Errc::kNotFound);

  auto claimed = claim(kT0, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(ids_of(*claimed), (std::vector<std::string>{to_gone.id, to_disabled.id, of_expunged.id}));
  EXPECT_EQ(claimed->at(0).endpoint, nullptr);
  ASSERT_NE(claimed->at(1).endpoint, nullptr);
  EXPECT_TRUE(claimed->at(1).endpoint->disabled);
  ASSERT_TRUE(claimed->at(2).message.has_value());
  EXPECT_EQ(claimed->at(2).message->payload, "");
  // Failed unsent, as the dispatcher does: never claimed again.
  for (const auto& c : *claimed) {
    Delivery failed = c.delivery;
    failed.status = Delivery::kFailed;
    failed.updated_at = kT0;
    auto settled = settle(c.lease, failed);
    ASSERT_TRUE(settled.ok());
    EXPECT_EQ(*settled, Settled::kDone);
  }
  auto after = claim(kT0 + std::chrono::hours(1), kT0 + std::chrono::hours(2));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

// A delivery deleted while it was leased (with its application) settles as kGone, writing
// nothing; its lease no longer counts.
TEST_P(StoreContractTest, ASettlementOfADeliveryDeletedMeanwhileIsGone) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  auto claimed = claim(kT0, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  auto stats = queue_stats(kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sending, 0);
  EXPECT_EQ(stats->pending, 0);
  Delivery done = claimed->at(0).delivery;
  done.status = Delivery::kSuccess;
  auto settled = settle(claimed->at(0).lease, done);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(*settled, Settled::kGone);
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
  auto claim_ids = [&](TimePoint t, int limit, int per_endpoint) {
    auto r = claim(t, t + std::chrono::seconds(60), limit, per_endpoint);
    EXPECT_TRUE(r.ok());
    return r.ok() ? ids_of(*r) : std::vector<std::string>{};
  };
  // limit 2, share 1: the window (4 x 2 + 1 rows) sees only the busy endpoint: one of its deliveries is
  // taken, the other eight it read are moved behind (due at kT0) before the claim returns.
  EXPECT_EQ(claim_ids(kT0, 2, 1), std::vector<std::string>{backlog[0].id});
  // Next claim: the three unread ones of the backlog are now the oldest, then the other endpoint's.
  EXPECT_EQ(claim_ids(kT0, 2, 1), (std::vector<std::string>{backlog[9].id, others.id}));
  auto stats = queue_stats(kT0);
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
    auto r = queue_stats(t);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : DeliveryQueueStats{};
  };
  EXPECT_EQ(stats_at(kT0).pending, 0);
  EXPECT_FALSE(stats_at(kT0).oldest_due.has_value());

  auto old_due = make_delivery(msg, ep, kT0 - std::chrono::seconds(30));
  auto due = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  auto future = make_delivery(msg, ep, kT0 + std::chrono::seconds(60));
  auto leased = make_delivery(msg, ep, kT0 + std::chrono::seconds(45));
  leased.status = Delivery::kSending;  // leased in its row by a holder that is gone
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
  // An expired lease is due too (its holder is gone).
  auto later = stats_at(kT0 + std::chrono::seconds(50));
  EXPECT_EQ(later.due, 3);
}

// The queue figures stay exact through a delivery's whole life, whatever the path: fan-out, a lease, a
// retry, success, a dead letter, a requeue, a rolled-back write, and the deletion of the application
// (issue #18: the figures are not counted per scrape).
TEST_P(StoreContractTest, QueueStatsStayExactThroughTheDeliveryLifecycle) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  auto stats = [&](TimePoint t = kT0) {
    auto r = queue_stats(t);
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

  auto claimed = claim(kT0, kT0 + std::chrono::seconds(30));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 2u);
  expect(1, 2, 0, "leased");
  EXPECT_EQ(stats(kT0 + std::chrono::seconds(31)).due, 2) << "expired leases are due";

  Delivery ok = claimed->at(0).delivery;
  ok.status = Delivery::kSuccess;
  ok.attempts = 1;
  Delivery retry = claimed->at(1).delivery;
  retry.status = Delivery::kPending;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::seconds(5);
  ASSERT_TRUE(settle(claimed->at(0).lease, ok).ok());
  ASSERT_TRUE(settle(claimed->at(1).lease, retry).ok());
  expect(2, 0, 0, "one delivered, one to retry");

  auto again = claim(kT0 + std::chrono::seconds(5), kT0 + std::chrono::seconds(35));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  retry.status = Delivery::kFailed;
  retry.attempts = 2;
  ASSERT_TRUE(settle(again->at(0).lease, retry).ok());
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

  ASSERT_TRUE(claim(kT0, kT0 + std::chrono::seconds(30)).ok());
  expect(1, 1, 0, "leased again");

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  expect(0, 0, 0, "application deleted");
}

}  // namespace hookwire::store
