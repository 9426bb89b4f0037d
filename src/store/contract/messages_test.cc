// The Store contract suite: messages, attempts and idempotency records.
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

// ---- Messages
// ------------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, MessageInsertGetAndEventIdConflicts) {
  const auto app = make_app();
  const auto app2 = make_app();
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_application(app2);
              }).ok());
  auto msg = make_message(app.id, "user.created", "evt-1", kT0, std::vector<std::string>{"a", "b"});
  auto plain = make_message(app.id);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(msg); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(plain); }).ok());
  // Many messages without an event id coexist.
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app.id)); }).ok());

  auto got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, msg.id); });
  ASSERT_TRUE(got.ok()) << got.error().detail;
  expect_same(*got, msg);
  got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, "evt-1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, msg.id);
  got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, plain.id); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, plain);

  auto st = write([&](Tx& tx) { return insert_copy(tx, make_message(app.id, "x", "evt-1")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("eventId"), std::string::npos) << st.error().detail;
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app2.id, "x", "evt-1")); }).ok());

  auto missing = read<Message>([&](Tx& tx) { return tx.get_message(app.id, "evt-unknown"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().detail, "message not found");
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message(app2.id, msg.id); }).error().code,
            Errc::kNotFound);
}

TEST_P(StoreContractTest, ExpungingEveryPayloadOfAnApplicationGoesBatchByBatchInIdOrder) {
  const auto app = make_app();
  const auto other = make_app();
  std::vector<Message> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back(make_message(app.id));
  auto kept = make_message(other.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                if (auto st = tx.expunge_message_payload(app.id, msgs[1].id); !st.ok()) return st;  // already
                return tx.insert_message(kept);
              }).ok());
  auto batch = [&](const std::string& after) {
    std::optional<Tx::ExpungeBatch> out;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.expunge_payloads_after(app.id, after, 2);
                  if (!r.ok()) return r.take_error();
                  out = *r;
                  return {};
                }).ok());
    return out.value_or(Tx::ExpungeBatch{-1, std::nullopt});
  };
  auto b1 = batch("");
  EXPECT_EQ(b1.expunged, 1);  // msgs[1]'s payload was gone already
  EXPECT_EQ(b1.last_id, msgs[1].id);
  auto b2 = batch(*b1.last_id);
  EXPECT_EQ(b2.expunged, 2);
  EXPECT_EQ(b2.last_id, msgs[3].id);
  auto b3 = batch(*b2.last_id);
  EXPECT_EQ(b3.expunged, 1);
  EXPECT_EQ(b3.last_id, msgs[4].id);
  auto b4 = batch(*b3.last_id);
  EXPECT_EQ(b4.expunged, 0);
  EXPECT_EQ(b4.last_id, std::nullopt) << "done";
  read_raw([&](Tx& tx) {
    for (const auto& m : msgs) EXPECT_EQ(tx.get_message(app.id, m.id)->payload, "") << m.id;
    EXPECT_EQ(tx.get_message(other.id, kept.id)->payload, kept.payload) << "another application's is kept";
  });
}

TEST_P(StoreContractTest, MessagePagingForwardAndBackward) {
  const auto app = make_app();
  std::vector<std::string> ids;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (int i = 0; i < 260; ++i) {
                  auto m = make_message(app.id, "t", std::nullopt, kT0 + std::chrono::milliseconds(i));
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                  ids.push_back(m.id);
                }
                return {};
              }).ok());
  ASSERT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  for (Order order : {Order::kAscending, Order::kDescending}) {
    SCOPED_TRACE(order == Order::kAscending ? "ascending" : "descending");
    std::vector<std::string> expected = ids;
    if (order == Order::kDescending) std::reverse(expected.begin(), expected.end());

    // Forward through every page.
    MessageQuery q;
    q.page.limit = 50;
    q.page.order = order;
    std::vector<std::string> seen;
    std::vector<Page<Message>> pages;
    for (;;) {
      auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
      ASSERT_TRUE(page.ok()) << page.error().detail;
      for (const auto& m : page->items) seen.push_back(m.id);
      pages.push_back(*page);
      if (page->done) break;
      ASSERT_LT(pages.size(), 10u);
      ASSERT_TRUE(page->iterator);
      EXPECT_EQ(*page->iterator, page->items.back().id);
      q.page.iterator = page->iterator;
    }
    EXPECT_EQ(seen, expected);
    ASSERT_EQ(pages.size(), 6u);  // 5 × 50 + 10
    EXPECT_EQ(pages.back().items.size(), 10u);
    EXPECT_EQ(pages.front().prev_iterator, "-" + expected.front());

    // Backward from the last page with prev_iterator, page by page, to the start.
    std::vector<std::string> back;
    q.page.iterator = pages.back().prev_iterator;
    for (int i = 4; i >= 0; --i) {
      auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
      ASSERT_TRUE(page.ok()) << page.error().detail;
      EXPECT_EQ(ids_of(page->items), ids_of(pages[i].items)) << "page " << i;
      EXPECT_EQ(page->done, i == 0) << "page " << i;  // going backward, done = nothing more before
      EXPECT_EQ(page->iterator, pages[i].iterator);
      q.page.iterator = page->prev_iterator;
    }
    // Before the first item: an empty page.
    auto before_first = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(before_first.ok());
    EXPECT_TRUE(before_first->items.empty());
    EXPECT_TRUE(before_first->done);
    EXPECT_FALSE(before_first->iterator);

    // Past the last item: an empty, done page.
    q.page.iterator = expected.back();
    auto past_end = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(past_end.ok());
    EXPECT_TRUE(past_end->items.empty());
    EXPECT_TRUE(past_end->done);
  }
}

TEST_P(StoreContractTest, MessageFilters) {
  const auto app = make_app();
  const auto other = make_app();
  std::vector<Message> msgs = {
      make_message(app.id, "user.created", std::nullopt, kT0, std::vector<std::string>{"p1", "p2"}),
      make_message(app.id, "user.deleted", std::nullopt, kT0 + std::chrono::milliseconds(10),
                   std::vector<std::string>{"p2"}),
      make_message(app.id, "invoice.paid", std::nullopt, kT0 + std::chrono::milliseconds(20)),
      make_message(app.id, "user.created", std::nullopt, kT0 + std::chrono::milliseconds(30),
                   std::vector<std::string>{"p3"}),
      make_message(other.id, "user.created", std::nullopt, kT0, std::vector<std::string>{"p1"}),
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  auto run = [&](MessageQuery q) {
    q.page.order = Order::kAscending;
    auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    EXPECT_TRUE(page.ok());
    return page.ok() ? ids_of(page->items) : std::vector<std::string>{};
  };
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(msgs[i].id);
    return out;
  };
  EXPECT_EQ(run({}), ids({0, 1, 2, 3}));
  MessageQuery q;
  q.before = kT0 + std::chrono::milliseconds(20);
  EXPECT_EQ(run(q), ids({0, 1}));
  q = {};
  q.after = kT0 + std::chrono::milliseconds(10);
  EXPECT_EQ(run(q), ids({2, 3}));
  q.before = kT0 + std::chrono::milliseconds(30);
  EXPECT_EQ(run(q), ids({2}));
  q = {};
  q.event_types = {"user.created"};
  EXPECT_EQ(run(q), ids({0, 3}));
  q.event_types = {"user.created", "invoice.paid"};
  EXPECT_EQ(run(q), ids({0, 2, 3}));
  q = {};
  q.channel = "p2";
  EXPECT_EQ(run(q), ids({0, 1}));
  q.event_types = {"user.deleted"};
  EXPECT_EQ(run(q), ids({1}));
  q = {};
  q.channel = "p1";
  EXPECT_EQ(run(q), ids({0}));
  q.channel = "nope";
  EXPECT_EQ(run(q), ids({}));

  // Filters combine with paging.
  q = {};
  q.event_types = {"user.created", "user.deleted"};
  q.page.limit = 2;
  q.page.order = Order::kAscending;
  auto p1 = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(ids_of(p1->items), ids({0, 1}));
  EXPECT_FALSE(p1->done);
  q.page.iterator = p1->iterator;
  auto p2 = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(ids_of(p2->items), ids({3}));
  EXPECT_TRUE(p2->done);
}

// ---- Attempts
// ------------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, AttemptsListedByMessageAndByEndpoint) {
  const auto app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto m1 = make_message(app.id);
  const auto m2 = make_message(app.id);
  std::vector<Attempt> atts;
  for (const auto* m : {&m1, &m2})
    for (const auto* e : {&ep1, &ep2})
      for (int i = 0; i < 3; ++i) atts.push_back(make_attempt(app.id, m->id, e->id));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (const auto& a : atts)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  auto by_msg =
      read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_message(app.id, m1.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  ASSERT_EQ(by_msg->items.size(), 6u);
  for (const auto& a : by_msg->items) EXPECT_EQ(a.msg_id, m1.id);
  const auto& first = by_msg->items.front();
  EXPECT_EQ(first.id, atts[0].id);
  EXPECT_EQ(first.endpoint_id, atts[0].endpoint_id);
  EXPECT_EQ(first.url, atts[0].url);
  EXPECT_EQ(first.status, atts[0].status);
  EXPECT_EQ(first.response_status_code, atts[0].response_status_code);
  EXPECT_EQ(first.response, atts[0].response);
  EXPECT_EQ(first.response_duration_ms, atts[0].response_duration_ms);
  EXPECT_EQ(first.trigger_type, atts[0].trigger_type);
  EXPECT_EQ(first.created_at, atts[0].created_at);

  PageQuery q;
  q.limit = 4;
  q.order = Order::kDescending;
  auto by_ep = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep2.id, q); });
  ASSERT_TRUE(by_ep.ok());
  EXPECT_EQ(ids_of(by_ep->items),
            (std::vector<std::string>{atts[11].id, atts[10].id, atts[9].id, atts[5].id}));
  EXPECT_FALSE(by_ep->done);
  q.iterator = by_ep->iterator;
  by_ep = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep2.id, q); });
  ASSERT_TRUE(by_ep.ok());
  EXPECT_EQ(ids_of(by_ep->items), (std::vector<std::string>{atts[4].id, atts[3].id}));
  EXPECT_TRUE(by_ep->done);
}

// One attempt by (application, message, id); expunging its response keeps everything else.
TEST_P(StoreContractTest, AnAttemptIsReadByIdAndItsResponseCanBeExpunged) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto m1 = make_message(app.id);
  const auto m2 = make_message(app.id);
  const auto a1 = make_attempt(app.id, m1.id, ep.id);
  const auto a2 = make_attempt(app.id, m1.id, ep.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_attempt(a1); !st.ok()) return st;
                return tx.insert_attempt(a2);
              }).ok());
  auto got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a1.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, a1.id);
  EXPECT_EQ(got->response, "unavailable");
  EXPECT_EQ(got->response_status_code, 503);
  // The message is part of the key: the same attempt id under another message (or app) is not found.
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m2.id, a1.id); }).error().code,
            Errc::kNotFound);
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt("app_other", m1.id, a1.id); }).error().code,
            Errc::kNotFound);

  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_attempt_response(app.id, m1.id, a1.id); }).ok());
  got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a1.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->response, "");
  EXPECT_EQ(got->response_status_code, 503);
  EXPECT_EQ(got->created_at, a1.created_at);
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a2.id); })->response,
            "unavailable");
  EXPECT_EQ(write([&](Tx& tx) { return tx.expunge_attempt_response(app.id, m2.id, a2.id); }).error().code,
            Errc::kNotFound);
}

// An attempt's request headers round-trip through the insert and every read; none reads as empty; the
// expunge of its content clears them with the response.
TEST_P(StoreContractTest, AnAttemptsRequestHeadersRoundTripAndAreExpungedWithItsResponse) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto m = make_message(app.id);
  auto with = make_attempt(app.id, m.id, ep.id);
  with.request_headers =
      "User-Agent: hookwire/0.1\nAuthorization: [redacted]\nX-Tenant: caf\xc3\xa9 t1\n"
      "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=\nContent-Type: application/json";
  const auto without = make_attempt(app.id, m.id, ep.id);  // no request was made
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_attempt(with); !st.ok()) return st;
                return tx.insert_attempt(without);
              }).ok());
  auto got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m.id, with.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->request_headers, with.request_headers);
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m.id, without.id); })->request_headers,
            "");
  for (bool by_message : {true, false}) {
    auto page = read<Page<Attempt>>([&](Tx& tx) {
      return by_message ? tx.list_attempts_by_message(app.id, m.id, PageQuery{})
                        : tx.list_attempts_by_endpoint(app.id, ep.id, PageQuery{});
    });
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->items.size(), 2u);
    for (const auto& a : page->items)
      EXPECT_EQ(a.request_headers, a.id == with.id ? with.request_headers : "") << by_message;
  }

  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_attempt_response(app.id, m.id, with.id); }).ok());
  got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m.id, with.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->request_headers, "");
  EXPECT_EQ(got->response, "");
  EXPECT_EQ(got->url, with.url);
}

// ---- Idempotency
// ---------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, IdempotencyPutGetReplacePurge) {
  EXPECT_EQ(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); }).error().code,
            Errc::kNotFound);
  IdempotencyRecord r{"k1", "hash-1", 202, R"({"id":"msg_1"})", kT0};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(r); }).ok());
  auto got = read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->key, "k1");
  EXPECT_EQ(got->request_hash, "hash-1");
  EXPECT_EQ(got->status, 202);
  EXPECT_EQ(got->body, r.body);
  EXPECT_EQ(got->created_at, kT0);

  IdempotencyRecord r2{"k1", "hash-2", 409, "{}", kT0 + std::chrono::seconds(5)};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(r2); }).ok());
  got = read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->request_hash, "hash-2");
  EXPECT_EQ(got->status, 409);
  EXPECT_EQ(got->created_at, r2.created_at);

  IdempotencyRecord old{"k0", "h", 200, "{}", kT0 - std::chrono::hours(1)};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(old); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.purge_idempotency(kT0); }).ok());
  EXPECT_EQ(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k0"); }).error().code,
            Errc::kNotFound);
  EXPECT_TRUE(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); }).ok());
}

TEST_P(StoreContractTest, MessageIdempotencyKeyIsUniquePerApplicationUntilCleared) {
  const auto app = make_app("idem-a");
  const auto other = make_app("idem-b");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(other); }).ok());
  auto keyed = make_message(app.id);
  keyed.idempotency_key = "key-1";
  keyed.request_hash = "hash-1";
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(keyed); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app.id)); }).ok());  // no key

  auto got = read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, keyed);
  EXPECT_EQ(got->idempotency_key, std::optional<std::string>("key-1"));
  EXPECT_EQ(got->request_hash, "hash-1");
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(other.id, "key-1"); })
                .error()
                .code,
            Errc::kNotFound);

  // The same key again in the same application is a conflict (naming the key); in another one it is free.
  auto again = make_message(app.id);
  again.idempotency_key = "key-1";
  again.request_hash = "hash-2";
  auto st = write([&](Tx& tx) { return tx.insert_message(again); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("idempotency"), std::string::npos) << st.error().detail;
  auto elsewhere = again;
  elsewhere.app_id = other.id;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(elsewhere); }).ok());

  // Cleared (expired): the message stays, the key is free for a new message.
  ASSERT_TRUE(write([&](Tx& tx) { return tx.clear_message_idempotency_key(app.id, keyed.id); }).ok());
  EXPECT_TRUE(read<Message>([&](Tx& tx) { return tx.get_message(app.id, keyed.id); }).ok());
  EXPECT_EQ(
      read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); }).error().code,
      Errc::kNotFound);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(again); }).ok());
  got = read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, again.id);
  EXPECT_EQ(got->request_hash, "hash-2");
}

}  // namespace hookwire::store
