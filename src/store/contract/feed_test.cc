// The Store contract suite: the feed, its consumers and scoped tokens.
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

// ---- The feed (pull)
// -----------------------------------------------------------------------------------------

TEST_P(StoreContractTest, NewEndpointAndMessageFieldsRoundTripAndMessagesCarryTheirPosition) {
  const auto app = make_app();
  auto ep = make_endpoint(app.id, "sink");
  ep.pull_only = true;
  ep.thin = true;
  ep.signature_headers = "svix";
  auto keyed = make_message(app.id, "a.b");
  keyed.payload_expires_at = kT0 + std::chrono::hours(1);
  keyed.headers = R"({"x-github-event":"push"})";
  keyed.idempotency_key = "k1";
  keyed.request_hash = "h1";
  auto plain = make_message(app.id, "a.b");
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_message(keyed); !st.ok()) return st;
                return tx.insert_message(plain);
              }).ok());
  read_raw([&](Tx& tx) {
    auto e = tx.get_endpoint(app.id, "sink");
    ASSERT_TRUE(e.ok());
    expect_same(*e, ep);
    EXPECT_TRUE(e->pull_only);
    EXPECT_TRUE(e->thin);
    auto listed = tx.list_endpoints(app.id, {});
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->items.size(), 1u);
    EXPECT_TRUE(listed->items[0].pull_only && listed->items[0].thin);
    auto enabled = tx.list_enabled_endpoints(app.id);
    ASSERT_TRUE(enabled.ok());
    ASSERT_EQ(enabled->size(), 1u);
    EXPECT_TRUE((*enabled)[0].pull_only && (*enabled)[0].thin);

    auto m1 = tx.get_message(app.id, keyed.id);
    ASSERT_TRUE(m1.ok());
    expect_same(*m1, keyed);
    EXPECT_EQ(m1->payload_expires_at, keyed.payload_expires_at);
    EXPECT_EQ(m1->headers, keyed.headers);
    EXPECT_GT(m1->position, 0);
    auto m2 = tx.get_message(app.id, plain.id);
    ASSERT_TRUE(m2.ok());
    EXPECT_EQ(m2->payload_expires_at, std::nullopt);
    EXPECT_EQ(m2->headers, std::nullopt);
    EXPECT_GT(m2->position, m1->position);  // inserted after it in the same transaction
    auto by_key = tx.get_message_by_idempotency_key(app.id, "k1");
    ASSERT_TRUE(by_key.ok());
    EXPECT_EQ(by_key->position, m1->position);
    EXPECT_EQ(by_key->request_hash, "h1");
    EXPECT_EQ(by_key->headers, keyed.headers);
    MessageQuery q;
    q.page.order = Order::kAscending;
    auto page = tx.list_messages(app.id, q);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->items.size(), 2u);
    EXPECT_EQ(page->items[0].position, m1->position);
    EXPECT_EQ(page->items[1].position, m2->position);
  });
  // The endpoint's own signature headers, cleared by an update: the server's again.
  ep.signature_headers.reset();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  EXPECT_EQ(read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, "sink"); })->signature_headers,
            std::nullopt);
  // Updates keep them too.
  ep.pull_only = false;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  read_raw([&](Tx& tx) {
    auto e = tx.get_endpoint(app.id, ep.id);
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(e->pull_only);
    EXPECT_TRUE(e->thin);
  });
  // A due delivery's message has its position as well.
  Delivery d;
  d.id = "dlv_1";
  d.app_id = app.id;
  d.msg_id = plain.id;
  d.endpoint_id = ep.id;
  d.next_attempt_at = kT0;
  d.created_at = d.updated_at = kT0;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_delivery(d); }).ok());
  auto claimed = claim(kT0, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(claimed->at(0).message.has_value());
  EXPECT_GT(claimed->at(0).message->position, 0);
  EXPECT_EQ(claimed->at(0).message->headers, std::nullopt);
}

TEST_P(StoreContractTest, TheFeedIsInTheOrderTheWriterRanConcurrentWritesAndTheHeadCoversEveryAck) {
  const auto app = make_app();
  const auto other = make_app();
  // The listener is set before any write.
  std::mutex mu;
  std::vector<Store::FeedAdvance> advances;
  store_->set_feed_listener([&](const Store::FeedAdvance& a) {
    std::lock_guard lk(mu);
    advances.push_back(a);
  });
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_application(other);
              }).ok());
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(advances.empty()) << "no message, no advance";
  }
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::vector<std::string> ran_order;          // guarded by mu: message ids as the writer ran their functions
  std::map<std::string, int64_t> head_at_ack;  // guarded by mu
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::condition_variable cv;
  int outstanding = kThreads * kPerThread;

  // Meanwhile a reader reads up to the head again and again: what it finds there is always all there is.
  std::vector<std::vector<std::string>> snapshots;
  std::thread reader([&] {
    while (writing.load()) {
      const int64_t head = store_->feed_head();
      auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
      if (!page.ok()) {
        failures.fetch_add(1);
        return;
      }
      std::vector<std::string> ids;
      for (const auto& m : page->items) {
        EXPECT_LE(m.position, head);
        ids.push_back(m.id);
      }
      snapshots.push_back(std::move(ids));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every other message goes to another application, which this feed must not show.
        const auto& target = i % 2 ? other : app;
        auto m = make_message(target.id, "t" + std::to_string(t));
        auto id = std::make_shared<std::string>();  // the id the store gave it, for the acknowledgement
        store_->submit_write(
            [&, m, id](Tx& tx) mutable -> Status {
              auto st = tx.insert_message(m);
              *id = m.id;
              if (st.ok() && m.app_id == app.id) {
                std::lock_guard lk(mu);
                ran_order.push_back(m.id);
              }
              return st;
            },
            [&, id](Status st) {
              if (!st.ok()) failures.fetch_add(1);
              std::lock_guard lk(mu);
              head_at_ack[*id] = store_->feed_head();
              if (--outstanding == 0) cv.notify_all();
            });
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return outstanding == 0; });
  }
  writing = false;
  reader.join();
  ASSERT_EQ(failures.load(), 0);

  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->done);
  EXPECT_EQ(page->scanned_to, head);
  std::lock_guard lk(mu);
  ASSERT_EQ(ids_of(page->items), ran_order);
  for (size_t i = 0; i < page->items.size(); ++i) {
    const auto& m = page->items[i];
    EXPECT_EQ(m.app_id, app.id);
    if (i > 0) {
      EXPECT_GT(m.position, page->items[i - 1].position);
    }
    // Acknowledged only once readable: the head already covered it.
    EXPECT_LE(m.position, head_at_ack.at(m.id)) << m.id;
  }
  // Each read up to the head found a prefix of the final order: nothing appeared later below a head.
  for (const auto& snap : snapshots) {
    ASSERT_LE(snap.size(), ran_order.size());
    EXPECT_TRUE(std::equal(snap.begin(), snap.end(), ran_order.begin()));
  }
  // The listener: increasing heads, the last one the store's head, and every application told.
  ASSERT_FALSE(advances.empty());
  std::set<std::string> told;
  for (size_t i = 0; i < advances.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(advances[i].head, advances[i - 1].head);
    }
    std::set<std::string> distinct(advances[i].app_ids.begin(), advances[i].app_ids.end());
    EXPECT_EQ(distinct.size(), advances[i].app_ids.size()) << "an application told twice in one advance";
    told.insert(distinct.begin(), distinct.end());
  }
  EXPECT_EQ(advances.back().head, head);
  EXPECT_EQ(told, (std::set<std::string>{app.id, other.id}));
}

TEST_P(StoreContractTest, FeedFiltersLimitsAndScanLimit) {
  const auto app = make_app();
  const auto t = [](int64_t s) { return kT0 + std::chrono::seconds(s); };
  std::vector<Message> msgs{
      make_message(app.id, "a", std::nullopt, t(1), std::vector<std::string>{"c1"}),        // 0
      make_message(app.id, "b", std::nullopt, t(2), std::vector<std::string>{"c2"}),        // 1
      make_message(app.id, "a", std::nullopt, t(3)),                                        // 2
      make_message(app.id, "c", std::nullopt, t(4), std::vector<std::string>{"c1", "c3"}),  // 3
      make_message(app.id, "a", std::nullopt, t(5), std::vector<std::string>{"c2"}),        // 4
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  const int64_t head = store_->feed_head();
  auto feed = [&](const FeedQuery& q) {
    auto r = read<FeedPage>([&](Tx& tx) { return tx.read_feed(q); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : FeedPage{};
  };
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(msgs[static_cast<size_t>(i)].id);
    return out;
  };
  auto all = feed(feed_query(app.id, 0, head));
  ASSERT_EQ(ids_of(all.items), ids({0, 1, 2, 3, 4}));
  std::vector<int64_t> pos;
  for (const auto& m : all.items) pos.push_back(m.position);

  auto q = feed_query(app.id, 0, head);
  q.event_types = std::vector<std::string>{"a", "c"};
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 2, 3, 4}));
  q.channels = std::vector<std::string>{"c1", "c2"};  // the sink's: any of them
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 3, 4}));
  q.event_type = "a";  // the request's
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 4}));
  q.channel = "c2";
  EXPECT_EQ(ids_of(feed(q).items), ids({4}));
  q = feed_query(app.id, 0, head);
  q.created_after = t(3);
  EXPECT_EQ(ids_of(feed(q).items), ids({3, 4}));
  q = feed_query(app.id, 0, head);
  q.channels = std::vector<std::string>{};  // a sink with an empty channel list matches nothing
  EXPECT_TRUE(feed(q).items.empty());
  q = feed_query(app.id, 0, head);
  q.event_types = std::vector<std::string>{"zzz"};
  auto none = feed(q);
  EXPECT_TRUE(none.items.empty());
  EXPECT_TRUE(none.done);
  EXPECT_EQ(none.scanned_to, head);

  // (after, until]: both bounds hold.
  auto window = feed(feed_query(app.id, pos[1], pos[3]));
  EXPECT_EQ(ids_of(window.items), ids({2, 3}));
  EXPECT_TRUE(window.done);
  EXPECT_EQ(window.scanned_to, pos[3]);

  // limit: the page ends at its last item, and says there is more.
  auto first = feed(feed_query(app.id, 0, head, 2));
  EXPECT_EQ(ids_of(first.items), ids({0, 1}));
  EXPECT_FALSE(first.done);
  EXPECT_EQ(first.scanned_to, pos[1]);
  auto rest = feed(feed_query(app.id, first.scanned_to, head, 3));
  EXPECT_EQ(ids_of(rest.items), ids({2, 3, 4}));
  EXPECT_TRUE(rest.done) << "the limit was reached with the last row: nothing more";
  EXPECT_EQ(rest.scanned_to, head);

  // scan_limit: at most that many rows examined, matching or not; scanned_to says how far.
  q = feed_query(app.id, 0, head);
  q.event_type = "c";
  q.scan_limit = 2;
  auto scanned = feed(q);
  EXPECT_TRUE(scanned.items.empty());
  EXPECT_FALSE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, pos[1]);
  q.after = scanned.scanned_to;
  scanned = feed(q);
  EXPECT_EQ(ids_of(scanned.items), ids({3}));
  EXPECT_FALSE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, pos[3]);
  q.after = scanned.scanned_to;
  scanned = feed(q);
  EXPECT_TRUE(scanned.items.empty());
  EXPECT_TRUE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, head);

  // Nothing to read: after at or past until.
  auto empty = feed(feed_query(app.id, head, head));
  EXPECT_TRUE(empty.items.empty());
  EXPECT_TRUE(empty.done);
  EXPECT_EQ(empty.scanned_to, head);
  // Another application's feed is its own.
  EXPECT_TRUE(feed(feed_query(make_app().id, 0, head)).items.empty());
}

TEST_P(StoreContractTest, ARolledBackWriteLeavesNoPositionInTheFeedOrTheHead) {
  const auto app = make_app();
  std::mutex mu;
  std::vector<Store::FeedAdvance> advances;
  store_->set_feed_listener([&](const Store::FeedAdvance& a) {
    std::lock_guard lk(mu);
    advances.push_back(a);
  });
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  auto kept = make_message(app.id);
  auto undone = make_message(app.id);
  // The failing function inserts a message, then fails: its message is rolled back (the batch is run again
  // with savepoints), and the head must not cover a position nobody can read.
  WriterGate gate;
  gate.hold(*store_);
  std::promise<Status> p_kept, p_undone;
  store_->submit_write([&](Tx& tx) { return tx.insert_message(kept); },
                       [&](Status st) { p_kept.set_value(std::move(st)); });
  store_->submit_write(
      [&](Tx& tx) -> Status {
        if (auto st = tx.insert_message(undone); !st.ok()) return st;
        return Error::bad_request("changed my mind");
      },
      [&](Status st) { p_undone.set_value(std::move(st)); });
  gate.release();
  ASSERT_TRUE(p_kept.get_future().get().ok());
  ASSERT_FALSE(p_undone.get_future().get().ok());
  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head)); });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(ids_of(page->items), std::vector<std::string>{kept.id});
  EXPECT_EQ(head, page->items[0].position) << "the head is the newest committed message";
  std::lock_guard lk(mu);
  ASSERT_FALSE(advances.empty());
  EXPECT_EQ(advances.back().head, head);
  EXPECT_EQ(advances.back().app_ids, std::vector<std::string>{app.id});
}

TEST_P(StoreContractTest, FeedPositionAtStartsWithTheFirstMessageCreatedAfterATime) {
  const auto app = make_app();
  // Message ids carry their creation second and only increase in a process: times ahead of the clock, in
  // order, give ids of those times.
  const TimePoint base = ms((unix_millis(std::chrono::system_clock::now()) / 1000 + 86400) * 1000);
  auto at = [&](int64_t millis) {
    return make_message(app.id, "e", std::nullopt, base + std::chrono::milliseconds(millis));
  };
  auto m0 = at(10'000), m1 = at(20'000), m2 = at(20'500), m3 = at(30'000);
  // Created in this order, committed the other way round: a later-made message first.
  auto first_created = at(40'000), committed_first = at(40'200);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto* m : {&m0, &m1, &m2, &m3, &committed_first, &first_created})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                return {};
              }).ok());
  auto pos = [&](const Message& m) {
    auto r = read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); });
    EXPECT_TRUE(r.ok());
    return r->position;
  };
  auto position_at = [&](const std::string& app_id, int64_t millis) {
    auto r = read<int64_t>(
        [&](Tx& tx) { return tx.feed_position_at(app_id, base + std::chrono::milliseconds(millis)); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : -1;
  };
  EXPECT_EQ(value_of(read<int64_t>([](Tx& tx) { return tx.feed_start(); })), 0);
  EXPECT_EQ(position_at(app.id, 0), pos(m0) - 1);
  EXPECT_EQ(position_at(app.id, 10'000), pos(m1) - 1);  // created at t is not after t
  EXPECT_EQ(position_at(app.id, 20'000), pos(m2) - 1);  // the same second, a little later
  EXPECT_EQ(position_at(app.id, 29'999), pos(m3) - 1);
  // After 35 s, first_created is the first by id, but committed_first committed before it: the read starts
  // low enough for both.
  EXPECT_EQ(position_at(app.id, 35'000), pos(committed_first) - 1);
  EXPECT_LT(pos(committed_first), pos(first_created));
  // None younger: after the newest; an application without messages: where the log starts.
  EXPECT_EQ(position_at(app.id, 50'000), pos(first_created));
  EXPECT_EQ(position_at(make_app().id, 0), 0);
  // Reading after the position returned gives the messages created after the time.
  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>(
      [&](Tx& tx) { return tx.read_feed(feed_query(app.id, position_at(app.id, 20'000), head)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items),
            (std::vector<std::string>{m2.id, m3.id, committed_first.id, first_created.id}));
}

TEST_P(StoreContractTest, FeedConsumersAreKeptPerSinkAndReplaced) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_endpoint(ep);
              }).ok());
  auto get = [&](const std::string& endpoint_id, const std::string& consumer_id) {
    return read<FeedConsumer>([&](Tx& tx) { return tx.get_feed_consumer(app.id, endpoint_id, consumer_id); });
  };
  EXPECT_EQ(get(ep.id, "c1").error().code, Errc::kNotFound);
  FeedConsumer c;
  c.app_id = app.id;
  c.endpoint_id = ep.id;
  c.consumer_id = "c1";
  c.position = 7;
  c.updated_at = kT0;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_feed_consumer(c); }).ok());
  auto got = get(ep.id, "c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->app_id, app.id);
  EXPECT_EQ(got->endpoint_id, ep.id);
  EXPECT_EQ(got->consumer_id, "c1");
  EXPECT_EQ(got->position, 7);
  EXPECT_EQ(got->leased_through, 0);
  EXPECT_EQ(got->lease_until, std::nullopt);
  EXPECT_EQ(got->updated_at, kT0);
  c.position = 9;
  c.leased_through = 12;
  c.lease_until = kT0 + std::chrono::seconds(30);
  c.updated_at = kT0 + std::chrono::milliseconds(5);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_feed_consumer(c); }).ok());
  got = get(ep.id, "c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->position, 9);
  EXPECT_EQ(got->leased_through, 12);
  EXPECT_EQ(got->lease_until, c.lease_until);
  EXPECT_EQ(got->updated_at, c.updated_at);
  // Another consumer id, or the same id on another sink, is another consumer.
  EXPECT_EQ(get(ep.id, "c2").error().code, Errc::kNotFound);
  EXPECT_EQ(get("ep_other", "c1").error().code, Errc::kNotFound);
}

TEST_P(StoreContractTest, TokensAreStoredByHashWithTheirScopeAndExpire) {
  const auto app = make_app();
  auto poller = make_token(app.id, "ep_sink", "aa11");
  auto portal = make_token(app.id, std::nullopt, "bb22");
  portal.expires_at = kT0 + std::chrono::hours(1);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_token(poller); !st.ok()) return st;
                return tx.insert_token(portal);
              }).ok());
  auto got = read<ApiToken>([&](Tx& tx) { return tx.get_token(portal.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, ApiToken::kAppPortal);
  EXPECT_EQ(got->app_id, app.id);
  EXPECT_EQ(got->endpoint_id, std::nullopt);
  EXPECT_EQ(got->hash, "bb22");
  EXPECT_EQ(got->capabilities, portal.capabilities);
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->expires_at, portal.expires_at);
  got = read<ApiToken>([&](Tx& tx) { return tx.get_token(poller.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, ApiToken::kPoller);
  EXPECT_EQ(got->endpoint_id, "ep_sink");
  EXPECT_TRUE(got->capabilities.empty());
  EXPECT_EQ(got->expires_at, std::nullopt);
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token("tok_nope"); }).error().code, Errc::kNotFound);

  // A taken hash or id conflicts, with nothing changed.
  auto st = write([&](Tx& tx) { return tx.insert_token(make_token(app.id, "ep_x", "aa11")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  auto same_id = make_token(app.id, "ep_x", "cc33");
  same_id.id = poller.id;
  st = write([&](Tx& tx) { return tx.insert_token(same_id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  auto listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);

  // Expiry: set, cleared, and expired tokens deleted.
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.update_token_expiry(poller.id, kT0 + std::chrono::minutes(5)); }).ok());
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(poller.id); })->expires_at,
            kT0 + std::chrono::minutes(5));
  st = write([&](Tx& tx) { return tx.update_token_expiry("tok_nope", std::nullopt); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::minutes(5)); }).ok());
  EXPECT_EQ(read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); })->size(), 2u)
      << "expiring at the time given is not expired before it";
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::minutes(30)); }).ok());
  listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, portal.id);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_token_expiry(portal.id, std::nullopt); }).ok());
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::hours(48)); }).ok());
  EXPECT_EQ(read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); })->size(), 1u)
      << "a token without expiry stays";
}

// Portal sessions (issue #22): a token keeps the Svix sessionId it was issued for, and a one-time link is
// redeemed by one write only, whatever writes race for it.
TEST_P(StoreContractTest, TokensKeepTheirSessionIdAndALinkIsRedeemedOnce) {
  const auto app = make_app();
  auto link = make_token(app.id, std::nullopt, "dd44");
  link.kind = ApiToken::kAppPortalLink;
  link.session_id = "user@example.com_1";
  link.expires_at = kT0 + std::chrono::hours(1);
  auto portal = make_token(app.id, std::nullopt, "ee55");  // no session id
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_token(link); !st.ok()) return st;
                return tx.insert_token(portal);
              }).ok());
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(link.id); })->session_id, "user@example.com_1");
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(portal.id); })->session_id, std::nullopt);
  // By hash, as a node looks up a token another node made.
  auto by_hash = read<ApiToken>([&](Tx& tx) { return tx.get_token_by_hash("dd44"); });
  ASSERT_TRUE(by_hash.ok());
  EXPECT_EQ(by_hash->id, link.id);
  EXPECT_EQ(by_hash->kind, ApiToken::kAppPortalLink);
  EXPECT_EQ(by_hash->session_id, link.session_id);
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token_by_hash("0000"); }).error().code,
            Errc::kNotFound);

  auto redeem = [&](std::string hash, int kind, TimePoint now) {
    std::optional<Result<ApiToken>> out;
    const Status st = write([&](Tx& tx) -> Status {
      out = tx.redeem_token(hash, kind, now);
      return {};
    });
    EXPECT_TRUE(st.ok());
    return out.value_or(Result<ApiToken>(Error::internal("not run")));
  };
  const TimePoint now = kT0 + std::chrono::minutes(1);
  // Another kind, an unknown hash: nothing, nothing changed.
  EXPECT_EQ(redeem("ee55", ApiToken::kAppPortalLink, now).error().code, Errc::kNotFound);
  EXPECT_EQ(redeem("dd44", ApiToken::kAppPortal, now).error().code, Errc::kNotFound);
  EXPECT_EQ(redeem("ff66", ApiToken::kAppPortalLink, now).error().code, Errc::kNotFound);
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(portal.id); })->expires_at, std::nullopt);

  // The link, as it was; then it has expired, and a second redeem finds nothing.
  auto got = redeem("dd44", ApiToken::kAppPortalLink, now);
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->id, link.id);
  EXPECT_EQ(got->expires_at, link.expires_at);
  EXPECT_EQ(got->session_id, link.session_id);
  EXPECT_EQ(got->capabilities, link.capabilities);
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(link.id); })->expires_at, kTokenUsed);
  EXPECT_EQ(redeem("dd44", ApiToken::kAppPortalLink, now).error().code, Errc::kNotFound);
  EXPECT_EQ(redeem("dd44", ApiToken::kAppPortalLink, kT0 - std::chrono::hours(1)).error().code,
            Errc::kNotFound)
      << "used for every clock, one behind the redeemer's too";

  // An expired link cannot be redeemed.
  auto stale = make_token(app.id, std::nullopt, "ab12");
  stale.kind = ApiToken::kAppPortalLink;
  stale.expires_at = kT0 + std::chrono::minutes(5);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_token(stale); }).ok());
  EXPECT_EQ(redeem("ab12", ApiToken::kAppPortalLink, kT0 + std::chrono::minutes(5)).error().code,
            Errc::kNotFound);

  // Racing writes: exactly one of them gets the link.
  auto racing = make_token(app.id, std::nullopt, "cd34");
  racing.kind = ApiToken::kAppPortalLink;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_token(racing); }).ok());
  std::vector<std::future<Result<ApiToken>>> runs;
  for (int i = 0; i < 4; ++i)
    runs.push_back(
        std::async(std::launch::async, [&] { return redeem("cd34", ApiToken::kAppPortalLink, now); }));
  int won = 0;
  for (auto& r : runs) {
    auto one = r.get();
    if (one.ok()) {
      ++won;
    } else {
      EXPECT_EQ(one.error().code, Errc::kNotFound);
    }
  }
  EXPECT_EQ(won, 1);
}

TEST_P(StoreContractTest, DeletingAnEndpointOrApplicationDeletesItsConsumersAndTokens) {
  const auto app = make_app();
  const auto other_app = make_app();
  const auto sink = make_endpoint(app.id);
  const auto other_sink = make_endpoint(app.id);
  const auto elsewhere = make_endpoint(other_app.id);
  auto consumer = [](const Endpoint& e, std::string id) {
    FeedConsumer c;
    c.app_id = e.app_id;
    c.endpoint_id = e.id;
    c.consumer_id = std::move(id);
    c.position = 1;
    c.updated_at = kT0;
    return c;
  };
  const auto sink_token = make_token(app.id, sink.id, "h1");
  const auto other_sink_token = make_token(app.id, other_sink.id, "h2");
  const auto portal_token = make_token(app.id, std::nullopt, "h3");
  const auto elsewhere_token = make_token(other_app.id, elsewhere.id, "h4");
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other_app})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (const auto* e : {&sink, &other_sink, &elsewhere}) {
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                  if (auto st = tx.put_feed_consumer(consumer(*e, "c")); !st.ok()) return st;
                }
                for (const auto* t : {&sink_token, &other_sink_token, &portal_token, &elsewhere_token})
                  if (auto st = tx.insert_token(*t); !st.ok()) return st;
                return {};
              }).ok());
  auto token_ids = [&] {
    std::set<std::string> out;
    auto listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
    EXPECT_TRUE(listed.ok());
    for (const auto& t : *listed) out.insert(t.id);
    return out;
  };
  auto has_consumer = [&](const Endpoint& e) {
    return read<FeedConsumer>([&](Tx& tx) { return tx.get_feed_consumer(e.app_id, e.id, "c"); }).ok();
  };
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_endpoint(app.id, sink.id); }).ok());
  EXPECT_FALSE(has_consumer(sink));
  EXPECT_TRUE(has_consumer(other_sink));
  EXPECT_EQ(token_ids(), (std::set<std::string>{other_sink_token.id, portal_token.id, elsewhere_token.id}));
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  EXPECT_FALSE(has_consumer(other_sink));
  EXPECT_TRUE(has_consumer(elsewhere));
  EXPECT_EQ(token_ids(), (std::set<std::string>{elsewhere_token.id}));
  // Not found is still not found.
  auto st = write([&](Tx& tx) { return tx.delete_endpoint(other_app.id, sink.id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

}  // namespace hookwire::store
