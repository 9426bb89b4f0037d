// The Store contract suite against PostgreSQL, plus what only a store that several nodes share must show:
// concurrent writers (two stores on one database) keep feed positions in commit order and ids increasing, an
// idempotency key or eventId raced for from two stores gives one message, a server that stops makes requests
// fail promptly and the store come back by itself, and migrations from stores opened together.
//
// One throwaway cluster serves the whole binary (testing/pg_database.h); each test gets a database of its
// own, named after its directory, so reopening a directory reaches the same database.
#include "store/postgres/pg_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/testing/log_capture.h"
#include "store/contract/helpers.h"
#include "store/message_keys.h"
#include "store/postgres/connection.h"
#include "store/postgres/schema.h"
#include "store/postgres/store_schema.h"
#include "store/store_contract_test.h"
#include "store/testing/pg_cluster.h"
#include "store/testing/pg_database.h"
#include "store/testing/test_dir.h"

namespace hookwire::store::postgres {
namespace {

using namespace contract;  // NOLINT: the suite's helpers
using testing::database_name;
using testing::database_url;
using testing::drop_database;
using testing::PgCluster;
using testing::shared_cluster;
using testing::TestDir;

std::unique_ptr<Store> open_store(const std::string& url, PostgresOptions options = {}) {
  if (url.empty()) return nullptr;
  options.url = url;
  auto opened = open_postgres_store(options);
  if (!opened.ok()) {
    ADD_FAILURE() << "cannot open a PostgreSQL store: " << opened.error().detail;
    return nullptr;
  }
  return std::move(opened).value();
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(StoreFactory{
                             "postgres", [](std::string dir) { return open_store(database_url(dir)); },
                             [](std::string dir) { drop_database(dir); }}),
                         [](const auto& info) { return info.param.name; });

// ---- What only a shared store shows
// -------------------------------------------------------------------------------------------------

Status write(Store& store, Store::WriteFn fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  store.submit_write(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
  return f.get();
}

template <class T>
Result<T> read(Store& store, std::function<Result<T>(Tx&)> fn) {
  std::optional<Result<T>> out;
  std::promise<void> p;
  store.submit_read([&](Tx& tx) { out.emplace(fn(tx)); }, [&p] { p.set_value(); });
  p.get_future().wait();
  return std::move(*out);
}

// Runs `fns` in one batch of the store's writer (queued behind a held write, released together); each one's
// result, in order.
std::vector<Status> in_one_batch(Store& store, std::vector<Store::WriteFn> fns) {
  std::vector<std::promise<Status>> done(fns.size());
  WriterGate gate;
  gate.hold(store);
  for (size_t i = 0; i < fns.size(); ++i)
    store.submit_write(std::move(fns[i]), [&done, i](Status st) { done[i].set_value(std::move(st)); });
  gate.release();
  std::vector<Status> results;
  for (auto& p : done) results.push_back(p.get_future().get());
  return results;
}

// The topics a store's change listener heard (set before the test's stores stop; stop them before this goes).
class HeardTopics {
 public:
  explicit HeardTopics(Store& store) {
    store.set_change_listener([this](std::string_view t) {
      std::lock_guard lock(mu_);
      topics_.emplace_back(t);
    });
  }
  bool heard(std::string_view topic) {
    std::lock_guard lock(mu_);
    return std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
  }
  void clear() {
    std::lock_guard lock(mu_);
    topics_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> topics_;
};

// Polls `done` until it holds or `limit` passes (for what nothing signals: the server's view of its
// sessions).
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// How many sessions of the database wait for a lock.
int64_t lock_waiters(const std::string& db) {
  auto admin = PgConnection::connect(shared_cluster()->url());
  if (!admin.ok()) return -1;
  auto n = admin->exec(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", {db});
  return n.ok() ? n->int64(0, 0) : -1;
}

// A write function that stops inside its transaction (after `first` ran) until released, then runs `then`:
// what keeps one store's batch open while another store acts. Each part runs once, even if the store runs
// the function again.
class HeldWrite {
 public:
  HeldWrite(Store& store, std::function<Status(Tx&)> first, std::function<Status(Tx&)> then = nullptr) {
    store.submit_write(
        [this, first = std::move(first), then = std::move(then), runs = 0](Tx& tx) mutable -> Status {
          Status st = first(tx);
          if (runs++ == 0) {
            entered_.set_value();
            released_.get_future().wait();
          }
          if (st.ok() && then) st = then(tx);
          return st;
        },
        [this](Status st) { done_.set_value(std::move(st)); });
    entered_.get_future().wait();
  }
  Status release() {
    released_.set_value();
    return done_.get_future().get();
  }

 private:
  std::promise<void> entered_, released_;
  std::promise<Status> done_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(shared_cluster(), nullptr);
    dir_.emplace("hookwire-pg-store");
    db_ = database_name(dir_->path().string());
    url_ = database_url(dir_->path().string());
    ASSERT_FALSE(url_.empty());
  }
  void TearDown() override {
    for (auto& s : stores_) s->stop();
    stores_.clear();
    log_.reset();  // after the stores' threads, which log into it
    drop_database(dir_->path().string());
  }
  // Captures the log from here on: call before opening the stores (spdlog's default logger is swapped without
  // a lock, so no store thread may be logging meanwhile).
  hookwire::testing::LogCapture& capture_log(spdlog::level::level_enum level) {
    EXPECT_TRUE(stores_.empty());
    return log_.emplace(level);
  }
  Store& open(PostgresOptions options = {}) {
    auto s = open_store(url_, options);
    EXPECT_NE(s, nullptr);
    if (!s) throw std::runtime_error("cannot open a store");
    stores_.push_back(std::move(s));
    return *stores_.back();
  }
  Message get(Store& s, const std::string& app_id, const std::string& id) {
    auto m = read<Message>(s, [&](Tx& tx) { return tx.get_message(app_id, id); });
    EXPECT_TRUE(m.ok()) << id;
    return m.ok() ? *m : Message{};
  }

  std::optional<TestDir> dir_;
  std::string db_, url_;
  std::vector<std::unique_ptr<Store>> stores_;
  std::optional<hookwire::testing::LogCapture> log_;
};

// Two nodes: a message inserted by one store whose batch is still open holds the feed's sequence, so the
// other's insert waits for that COMMIT and comes after it, with a higher position and a higher id. Under
// concurrent load from both, a reader that reads up to its store's head never later finds a message at or
// below a position it has seen, and each store learns the other's messages.
TEST_F(PostgresStoreTest, TwoStoresOnOneDatabaseGivePositionsInCommitOrderAndIdsThatFollowThem) {
  Store& a = open();
  Store& b = open();
  const auto app = make_app();
  ASSERT_TRUE(write(a, [&](Tx& tx) { return tx.insert_application(app); }).ok());

  auto first = make_message(app.id);
  auto second = make_message(app.id);
  HeldWrite held(a, [&](Tx& tx) { return tx.insert_message(first); });
  std::promise<Status> second_done;
  b.submit_write([&](Tx& tx) { return tx.insert_message(second); },
                 [&](Status st) { second_done.set_value(std::move(st)); });
  auto second_result = second_done.get_future();
  ASSERT_TRUE(eventually([&] { return lock_waiters(db_) == 1; })) << "b's writer waits for a's COMMIT";
  EXPECT_EQ(second_result.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  ASSERT_TRUE(held.release().ok());
  ASSERT_TRUE(second_result.get().ok());
  EXPECT_LT(get(a, app.id, first.id).position, get(a, app.id, second.id).position);
  EXPECT_LT(first.id, second.id);

  // Concurrent load on both stores; a reader on `a` reads up to a's head again and again.
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> snapshots;  // the positions each read found
  std::thread reader([&] {
    while (writing.load()) {
      const int64_t head = a.feed_head();
      auto page = read<FeedPage>(a, [&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
      if (!page.ok()) {
        failures.fetch_add(1);
        return;
      }
      std::vector<int64_t> positions;
      for (const auto& m : page->items) positions.push_back(m.position);
      snapshots.push_back(std::move(positions));
    }
  });
  constexpr int kThreads = 4, kPerThread = 150;
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> ack_heads;  // (position, the writing store's head at the ack)
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 ? b : a;
      std::vector<std::future<void>> acks;
      for (int i = 0; i < kPerThread; ++i) {
        auto m = std::make_shared<Message>(make_message(app.id));
        auto p = std::make_shared<std::promise<void>>();
        acks.push_back(p->get_future());
        store.submit_write([m](Tx& tx) { return tx.insert_message(*m); },
                           [&, m, p, s = &store](Status st) {
                             if (!st.ok()) failures.fetch_add(1);
                             {
                               std::lock_guard lk(mu);
                               ack_heads.emplace_back(m->position, s->feed_head());
                             }
                             p->set_value();
                           });
      }
      for (auto& f : acks) f.wait();
    });
  }
  for (auto& t : threads) t.join();
  writing = false;
  reader.join();
  ASSERT_EQ(failures.load(), 0);
  for (const auto& [position, head] : ack_heads) EXPECT_LE(position, head) << "acknowledged before readable";

  // Every message, in position order: ids increase with positions.
  const int64_t head = std::max(a.feed_head(), b.feed_head());
  auto all = read<FeedPage>(b, [&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->items.size(), static_cast<size_t>(2 + kThreads * kPerThread));
  for (size_t i = 1; i < all->items.size(); ++i) {
    EXPECT_GT(all->items[i].position, all->items[i - 1].position);
    EXPECT_GT(all->items[i].id, all->items[i - 1].id);
  }
  EXPECT_EQ(all->items.back().position, head) << "no position is burnt";
  // Each read found a prefix of the final order: nothing committed later appeared below what it had seen.
  std::vector<int64_t> final_order;
  for (const auto& m : all->items) final_order.push_back(m.position);
  for (const auto& snap : snapshots) {
    ASSERT_LE(snap.size(), final_order.size());
    EXPECT_TRUE(std::equal(snap.begin(), snap.end(), final_order.begin()));
  }
  // Each store learns the other's messages (NOTIFY, or the poll).
  EXPECT_TRUE(eventually([&] { return a.feed_head() == head && b.feed_head() == head; }));
}

// Another node's messages reach this node's feed listener, with their applications (and marked as others').
TEST_F(PostgresStoreTest, AnotherStoresMessagesAdvanceThisStoresHeadAndWakeItsListener) {
  PostgresOptions slow_poll;
  slow_poll.feed_poll_interval = std::chrono::hours(1);  // only NOTIFY can tell it in time
  Store& a = open(slow_poll);
  Store& b = open();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Store::FeedAdvance> advances;
  a.set_feed_listener([&](const Store::FeedAdvance& adv) {
    std::lock_guard lk(mu);
    advances.push_back(adv);
    cv.notify_all();
  });
  // b notifies only while it knows another node is alive (it counts them at its polls).
  ASSERT_TRUE(eventually([&] { return b.live_nodes() == 2; }));
  const auto app = make_app();
  auto m = make_message(app.id);
  ASSERT_TRUE(write(b, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_message(m);
              }).ok());
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(20), [&] { return !advances.empty(); }));
  EXPECT_EQ(advances.back().head, b.feed_head());
  EXPECT_EQ(advances.back().app_ids, std::vector<std::string>{app.id});
  EXPECT_TRUE(advances.back().from_others);
  EXPECT_EQ(a.feed_head(), b.feed_head());
  lk.unlock();
  // Then a's own message: its advance also names what b wrote since a last knew (none here), and its own.
  auto mine = make_message(app.id);
  ASSERT_TRUE(write(a, [&](Tx& tx) { return tx.insert_message(mine); }).ok());
  lk.lock();
  EXPECT_EQ(advances.back().head, get(a, app.id, mine.id).position);
  EXPECT_EQ(advances.back().app_ids, std::vector<std::string>{app.id});
  EXPECT_FALSE(advances.back().from_others);
  lk.unlock();
  a.stop();  // before the listener's state goes out of scope
  b.stop();
}

// Claims from two nodes at once never lease one delivery twice (each claim passes over the rows another holds
// locked), and together they lease every due one; a lease that ran out is taken over by the other node, with
// a new lease, which fences the first holder's settlement.
TEST_F(PostgresStoreTest, ClaimsFromTwoStoresAtOnceNeverLeaseADeliveryTwice) {
  Store& a = open();
  Store& b = open();
  const auto app = make_app();
  auto msg = make_message(app.id);
  std::vector<Endpoint> endpoints;
  for (int i = 0; i < 4; ++i) endpoints.push_back(make_endpoint(app.id));
  constexpr int kDeliveries = 200;
  ASSERT_TRUE(write(a, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_message(msg); !st.ok()) return st;
                for (const auto& e : endpoints)
                  if (auto st = tx.insert_endpoint(e); !st.ok()) return st;
                for (int i = 0; i < kDeliveries; ++i) {
                  const auto due = kT0 - std::chrono::milliseconds(kDeliveries - i);
                  if (auto st = tx.insert_delivery(make_delivery(msg, endpoints[i % 4], due)); !st.ok())
                    return st;
                }
                return {};
              }).ok());

  const TimePoint lease = kT0 + std::chrono::seconds(60);
  auto claim_on = [](Store& store, ClaimRequest r) {
    std::promise<Result<std::vector<Claim>>> p;
    store.delivery_queue().claim(r, [&p](Result<std::vector<Claim>> got) { p.set_value(std::move(got)); });
    return p.get_future().get();
  };
  std::mutex mu;
  std::multiset<std::string> claimed;
  std::map<std::string, LeaseToken> tokens;
  std::atomic<int> failures{0};
  std::vector<std::thread> claimers;
  for (int t = 0; t < 4; ++t) {
    claimers.emplace_back([&, t] {
      Store& store = t % 2 ? b : a;
      for (;;) {
        auto got = claim_on(store, ClaimRequest{kT0, lease, 7, 100});
        if (!got.ok()) {
          failures.fetch_add(1);
          return;
        }
        if (got->empty()) return;
        std::lock_guard lk(mu);
        for (const auto& c : *got) {
          claimed.insert(c.delivery.id);
          tokens[c.delivery.id] = c.lease;
          EXPECT_EQ(c.delivery.status, Delivery::kPending) << "as it was before the lease";
        }
      }
    });
  }
  for (auto& t : claimers) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kDeliveries));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kDeliveries))
      << "a delivery was leased twice";
  std::promise<Result<DeliveryQueueStats>> stats_p;
  b.delivery_queue().stats(kT0, [&](Result<DeliveryQueueStats> r) { stats_p.set_value(std::move(r)); });
  auto stats = stats_p.get_future().get();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sending, kDeliveries);
  EXPECT_EQ(stats->pending, 0);

  // The leases run out at `lease`: the other node takes one over under a new lease, which fences the first.
  auto taken = claim_on(b, ClaimRequest{lease, lease + std::chrono::seconds(60), 1, 1});
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  const LeaseToken& first = tokens.at(taken->at(0).delivery.id);
  EXPECT_FALSE(first == taken->at(0).lease);
  Delivery done = taken->at(0).delivery;
  done.status = Delivery::kSuccess;
  std::optional<std::vector<Settled>> settled;
  ASSERT_TRUE(write(a, [&](Tx& tx) -> Status {
                const Settlement stale{&first, &done}, current{&taken->at(0).lease, &done};
                const Settlement both[] = {stale, current};
                auto r = tx.settle_deliveries(both);
                if (!r.ok()) return r.take_error();
                settled = std::move(*r);
                return {};
              }).ok());
  EXPECT_EQ(*settled, (std::vector<Settled>{Settled::kFenced, Settled::kDone}));
}

// Two nodes recording attempts to one endpoint: each reads the health record, changes it and writes it back
// in its batch; the read locks the record, so the second waits for the first's COMMIT and counts on from it.
TEST_F(PostgresStoreTest, EndpointHealthReadInAWriteIsLockedAgainstAnotherStoresUpdate) {
  Store& a = open();
  Store& b = open();
  const std::string ep = "ep_health";
  ASSERT_TRUE(write(a, [&](Tx& tx) {
                return tx.put_endpoint_health(ep, EndpointHealthRecord{kT0, {}, 1, {}, {}});
              }).ok());
  auto one_more_failure = [&](Tx& tx) -> Status {
    auto h = tx.get_endpoint_health(ep);
    if (!h.ok()) return h.take_error();
    ++h->consecutive_failures;
    return tx.put_endpoint_health(ep, *h);
  };
  HeldWrite held(a, one_more_failure);
  std::promise<Status> b_done;
  b.submit_write(one_more_failure, [&](Status st) { b_done.set_value(std::move(st)); });
  ASSERT_TRUE(eventually([&] { return lock_waiters(db_) == 1; })) << "b's read waits for a's COMMIT";
  ASSERT_TRUE(held.release().ok());
  ASSERT_TRUE(b_done.get_future().get().ok());
  auto h = read<EndpointHealthRecord>(a, [&](Tx& tx) { return tx.get_endpoint_health(ep); });
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->consecutive_failures, 3) << "no update lost";
  EXPECT_EQ(h->first_failure_at, kT0);
}

// Without LISTEN (a pooler in transaction mode), the poll of the head alone brings another node's messages.
TEST_F(PostgresStoreTest, WithoutListenThePollBringsAnotherStoresMessages) {
  PostgresOptions poll_only;
  poll_only.listen = false;
  poll_only.feed_poll_interval = std::chrono::milliseconds(50);
  Store& a = open(poll_only);
  Store& b = open(poll_only);
  const auto app = make_app();
  auto m = make_message(app.id);
  ASSERT_TRUE(write(b, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_message(m);
              }).ok());
  EXPECT_GT(b.feed_head(), 0);
  EXPECT_TRUE(eventually([&] { return a.feed_head() == b.feed_head(); }));
}

// The same idempotency key (or eventId) raced for from two nodes gives one message: the second insert waits
// for the first's COMMIT on the unique index, then finds the key taken and answers with the first message.
TEST_F(PostgresStoreTest, AnIdempotencyKeyOrEventIdRacedForFromTwoStoresGivesOneMessage) {
  Store& a = open();
  Store& b = open();
  const auto app = make_app();
  ASSERT_TRUE(write(a, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  const TimePoint now = kT0;
  auto keyed = [&](std::string key, std::optional<std::string> event_id = std::nullopt) {
    auto m = make_message(app.id, "e", std::move(event_id), now);
    m.idempotency_key = std::move(key);
    m.request_hash = "h";
    return m;
  };

  auto first = keyed("k-1", "evt-1");
  HeldWrite held(a, [&](Tx& tx) { return tx.insert_message(first); });
  auto second = keyed("k-1");
  std::optional<Result<std::optional<Message>>> second_result;
  std::promise<Status> second_done;
  b.submit_write(
      [&](Tx& tx) -> Status {
        second_result.emplace(insert_message_once(tx, second, std::chrono::hours(24), now));
        return second_result->ok() ? Status() : Status(second_result->error());
      },
      [&](Status st) { second_done.set_value(std::move(st)); });
  ASSERT_TRUE(eventually([&] { return lock_waiters(db_) == 1; })) << "b's insert waits on the unique index";
  ASSERT_TRUE(held.release().ok());
  ASSERT_TRUE(second_done.get_future().get().ok());
  ASSERT_TRUE(second_result->ok());
  ASSERT_TRUE(second_result->value().has_value()) << "b inserted a second message";
  EXPECT_EQ(second_result->value()->id, first.id);
  auto same_event = make_message(app.id, "e", "evt-1");
  auto st = write(b, [&](Tx& tx) { return tx.insert_message(same_event); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("eventId"), std::string::npos) << st.error().detail;

  // A burst from both stores over the same keys: one message per key, and every caller told which.
  constexpr int kKeys = 40;
  std::mutex mu;
  std::map<std::string, std::set<std::string>> answered;  // key -> message ids callers were given
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 ? b : a;
      for (int k = 0; k < kKeys; ++k) {
        auto m = keyed("burst-" + std::to_string(k));
        std::string id;
        const Status done = write(store, [&](Tx& tx) -> Status {
          auto r = insert_message_once(tx, m, std::chrono::hours(24), now);
          if (!r.ok()) return r.take_error();
          id = *r ? (*r)->id : m.id;
          return {};
        });
        EXPECT_TRUE(done.ok()) << done.error().detail;
        std::lock_guard lk(mu);
        answered[*m.idempotency_key].insert(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "burst-" + std::to_string(k);
    EXPECT_EQ(answered[key].size(), 1u) << key;
    auto stored = read<Message>(a, [&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, key); });
    ASSERT_TRUE(stored.ok()) << key;
    EXPECT_EQ(stored->id, *answered[key].begin());
  }
  MessageQuery q;
  q.page.limit = 250;
  auto listed = read<Page<Message>>(a, [&](Tx& tx) { return tx.list_messages(app.id, q); });
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->items.size(), static_cast<size_t>(1 + kKeys));
}

// Two nodes' batches that wait for each other's rows (a deadlock the server breaks by failing one of them):
// the batch it failed runs again, and both writes succeed.
TEST_F(PostgresStoreTest, ABatchFailedByADeadlockWithAnotherStoreRunsAgain) {
  auto& log = capture_log(spdlog::level::info);
  Store& a = open();
  Store& b = open();
  // Two rows each store updates, in opposite orders: endpoint health records.
  auto failures = [](int64_t n) {
    EndpointHealthRecord h;
    h.consecutive_failures = n;
    return h;
  };
  ASSERT_TRUE(write(a, [&](Tx& tx) -> Status {
                if (auto st = tx.put_endpoint_health("ep_1", failures(0)); !st.ok()) return st;
                return tx.put_endpoint_health("ep_2", failures(0));
              }).ok());
  // a: ep_1, then (once released) ep_2; b: ep_2, then ep_1.
  HeldWrite held(
      a, [&](Tx& tx) { return tx.put_endpoint_health("ep_1", failures(1)); },
      [&](Tx& tx) { return tx.put_endpoint_health("ep_2", failures(1)); });
  std::promise<Status> b_done;
  b.submit_write(
      [&](Tx& tx) -> Status {
        if (auto st = tx.put_endpoint_health("ep_2", failures(2)); !st.ok()) return st;
        return tx.put_endpoint_health("ep_1", failures(2));
      },
      [&](Status st) { b_done.set_value(std::move(st)); });
  ASSERT_TRUE(eventually([&] { return lock_waiters(db_) == 1; })) << "b waits for ep_1";
  const Status a_result = held.release();  // a now waits for ep_2: a deadlock
  const Status b_result = b_done.get_future().get();
  // Once, or twice when the victim's second run took its first lock before the other got it back.
  EXPECT_GE(log.count({"met a deadlock", "running it again"}), 1u) << log.text();
  EXPECT_TRUE(a_result.ok()) << a_result.error().detail;
  EXPECT_TRUE(b_result.ok()) << b_result.error().detail;
  auto h1 = read<EndpointHealthRecord>(a, [&](Tx& tx) { return tx.get_endpoint_health("ep_1"); });
  auto h2 = read<EndpointHealthRecord>(a, [&](Tx& tx) { return tx.get_endpoint_health("ep_2"); });
  ASSERT_TRUE(h1.ok());
  ASSERT_TRUE(h2.ok());
  // Whichever committed last wrote both rows: they agree.
  EXPECT_EQ(h1->consecutive_failures, h2->consecutive_failures);
  EXPECT_NE(h1->consecutive_failures, 0);
}

// Write functions that fail in one batch are undone alone, whatever way they fail: after changing rows, or by
// a statement the server refused (which aborts PostgreSQL's whole transaction), two of them in one batch (the
// third run, with savepoints). Nothing of theirs is left, not even a position in the feed.
TEST_F(PostgresStoreTest, FunctionsThatFailInOneBatchAreUndoneAloneHoweverTheyFail) {
  Store& s = open();
  const auto app = make_app();
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  std::vector<Message> m;
  for (int i = 0; i < 5; ++i) m.push_back(make_message(app.id, "e", "evt-" + std::to_string(i)));
  auto taken = make_message(app.id, "e", "evt-0");  // conflicts with m[0], changing nothing

  std::vector<Store::WriteFn> fns;
  fns.push_back([&](Tx& tx) { return tx.insert_message(m[0]); });
  fns.push_back([&](Tx& tx) -> Status {
    if (auto st = tx.insert_message(m[1]); !st.ok()) return st;
    auto broken = dynamic_cast<PgTx&>(tx).connection().exec("SELEC 1");  // the server refuses it
    return broken.ok() ? Status() : Status(broken.error());
  });
  fns.push_back([&](Tx& tx) -> Status {
    if (auto st = tx.insert_message(m[2]); !st.ok()) return st;
    return Error::validation("body.x", "rejected after a change");
  });
  fns.push_back([&](Tx& tx) { return tx.insert_message(taken); });
  fns.push_back([&](Tx& tx) { return tx.insert_message(m[3]); });
  fns.push_back([&](Tx& tx) -> Status {
    if (auto st = tx.insert_message(m[4]); !st.ok()) return st;
    if (auto st = tx.put_idempotency({"k", "h", 200, "{}", kT0}); !st.ok()) return st;
    return Error::bad_request("rejected after two changes");
  });
  const auto results = in_one_batch(s, std::move(fns));
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, Errc::kInternal);
  ASSERT_FALSE(results[2].ok());
  EXPECT_EQ(results[2].error().code, Errc::kValidation);
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].error().code, Errc::kConflict);
  EXPECT_TRUE(results[4].ok());
  ASSERT_FALSE(results[5].ok());
  EXPECT_EQ(results[5].error().code, Errc::kBadRequest);

  const int64_t head = s.feed_head();
  auto page = read<FeedPage>(s, [&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items), (std::vector<std::string>{m[0].id, m[3].id}));
  EXPECT_EQ(page->items.back().position, head);
  EXPECT_EQ(page->items.back().position, page->items.front().position + 1) << "nothing burnt between them";
  EXPECT_EQ(read<IdempotencyRecord>(s, [](Tx& tx) { return tx.get_idempotency("k"); }).error().code,
            Errc::kNotFound);
}

// Inserts batched into multi-row statements that meet a taken idempotency key or eventId (committed before,
// or taken earlier in the same batch) are answered as single inserts would be: the key's message is handed
// back, the eventId is a conflict, and only the messages that went in are in the feed, at consecutive
// positions, each with its delivery.
TEST_F(PostgresStoreTest, BatchedInsertsThatMeetATakenKeyOrEventIdAreAnsweredAsSingleInsertsWouldBe) {
  Store& s = open();
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  ASSERT_TRUE(write(s, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_endpoint(ep);
              }).ok());
  auto committed = make_message(app.id, "e", "evt-taken");
  committed.idempotency_key = "key-taken";
  committed.request_hash = "h0";
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_message(committed); }).ok());

  std::vector<Message> in(5, make_message(app.id, "e"));
  for (int i : {0, 2}) {
    in[i].idempotency_key = "key-new";  // new, then taken by in[0] in the same batch
    in[i].request_hash = "h1";
  }
  in[1].idempotency_key = "key-taken";
  in[1].request_hash = "h0";
  in[3].event_id = "evt-taken";
  std::vector<std::optional<Message>> held(in.size());
  std::vector<Store::WriteFn> fns;
  for (size_t i = 0; i < in.size(); ++i) {
    fns.push_back([&, i](Tx& tx) -> Status {
      auto h = insert_message_once(tx, in[i], std::chrono::hours(24), kT0 + std::chrono::minutes(1));
      if (!h.ok()) return h.take_error();
      held[i] = std::move(*h);
      if (held[i]) return {};
      return tx.insert_delivery(make_delivery(in[i], ep, kT0));
    });
  }
  const auto results = in_one_batch(s, std::move(fns));
  for (int i : {0, 1, 2, 4}) EXPECT_TRUE(results[i].ok()) << i;
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].error().code, Errc::kConflict);
  EXPECT_FALSE(held[0]);
  ASSERT_TRUE(held[1]);
  EXPECT_EQ(held[1]->id, committed.id);
  ASSERT_TRUE(held[2]);
  EXPECT_EQ(held[2]->id, in[0].id);
  EXPECT_FALSE(held[4]);

  const int64_t head = s.feed_head();
  auto page = read<FeedPage>(s, [&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items), (std::vector<std::string>{committed.id, in[0].id, in[4].id}));
  EXPECT_EQ(page->items.back().position, head);
  EXPECT_EQ(head, page->items.front().position + 2) << "nothing burnt";
  auto deliveries_of = [&](const std::string& msg_id) {
    auto d =
        read<std::vector<Delivery>>(s, [&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg_id); });
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->size() : 0;
  };
  EXPECT_EQ(deliveries_of(committed.id), 0u);
  EXPECT_EQ(deliveries_of(in[0].id), 1u);
  EXPECT_EQ(deliveries_of(in[4].id), 1u);
}

// A multi-row insert the server refuses (here for a row whose text is not UTF-8) fails only the function that
// wrote that row; the others of the batch go in.
TEST_F(PostgresStoreTest, ABatchedInsertTheServerRefusesFailsOnlyTheFunctionWhoseRowItWas) {
  Store& s = open();
  const auto app = make_app();
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  std::vector<Message> m(3, make_message(app.id, "e"));
  m[1].payload = "{\"bad\":\"\xff\"}";
  std::vector<Store::WriteFn> fns;
  for (size_t i = 0; i < m.size(); ++i) fns.push_back([&, i](Tx& tx) { return tx.insert_message(m[i]); });
  const auto results = in_one_batch(s, std::move(fns));
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, Errc::kInternal);
  EXPECT_TRUE(results[2].ok());
  const int64_t head = s.feed_head();
  auto page = read<FeedPage>(s, [&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items), (std::vector<std::string>{m[0].id, m[2].id}));
  EXPECT_EQ(head, page->items.front().position + 1) << "nothing burnt";
}

// The database stops: writes and reads answer kUnavailable at once (no hang), problem() says so, and the
// failures are logged once; it comes back: the same store (not reopened) writes and reads again, problem()
// clears, and the return is logged.
TEST_F(PostgresStoreTest, AServerThatStopsFailsRequestsPromptlyAndTheStoreComesBackByItself) {
  auto& log = capture_log(spdlog::level::debug);
  Store& s = open();
  const auto app = make_app();
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  EXPECT_EQ(s.problem(), std::nullopt);

  PgCluster* cluster = shared_cluster();
  testing::RestartAtEnd restart{cluster};  // the cluster is shared: it runs again whatever happens here
  ASSERT_TRUE(cluster->stop_server());
  for (int i = 0; i < 3; ++i) {
    std::promise<Status> p;
    auto f = p.get_future();
    s.submit_write([&](Tx& tx) { return insert_copy(tx, make_message(app.id)); },
                   [&p](Status st) { p.set_value(std::move(st)); });
    ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "a write hangs";
    auto st = f.get();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::kUnavailable) << st.error().detail;
  }
  auto got = read<Application>(s, [&](Tx& tx) { return tx.get_application(app.id); });
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kUnavailable);
  EXPECT_EQ(s.problem(), std::optional<std::string>("database unreachable"));
  EXPECT_EQ(log.count({"database unreachable"}), 1u) << log.text();

  ASSERT_TRUE(cluster->start_server()) << cluster->server_log();
  auto back = make_message(app.id, "e", "after-restart");
  ASSERT_TRUE(eventually([&] { return write(s, [&](Tx& tx) { return insert_copy(tx, back); }).ok(); }));
  EXPECT_TRUE(read<Message>(s, [&](Tx& tx) { return tx.get_message(app.id, "after-restart"); }).ok());
  EXPECT_TRUE(read<Application>(s, [&](Tx& tx) { return tx.get_application(app.id); }).ok());
  EXPECT_EQ(s.problem(), std::nullopt);
  EXPECT_EQ(log.count({"the database is back"}), 1u) << log.text();
}

// What one node publishes as changed (cached sources, tokens) reaches the other nodes' change listeners, not
// its own; a listener hears "*" (everything may be stale) when its watcher is back after losing its channel.
TEST_F(PostgresStoreTest, AChangePublishedByOneStoreReachesTheOthersListenerAndAReconnectTellsEverything) {
  Store& a = open();
  Store& b = open();
  HeardTopics heard_a(a), heard_b(b);
  // Published again until b hears it: b's watcher may not be listening yet when the first one goes out.
  ASSERT_TRUE(eventually([&] {
    a.publish_change("sources");
    return heard_b.heard("sources");
  }));
  EXPECT_FALSE(heard_a.heard("sources")) << "a node is not told its own changes";
  // An announcement is heard the same way, but kept nowhere (a change's version is).
  ASSERT_TRUE(eventually([&] {
    a.announce("news");
    return heard_b.heard("news");
  }));
  {
    auto admin = PgConnection::connect(url_);
    ASSERT_TRUE(admin.ok());
    auto kept = admin->exec("SELECT topic FROM hookwire_changes ORDER BY topic");
    ASSERT_TRUE(kept.ok());
    ASSERT_EQ(kept->rows(), 1);
    EXPECT_EQ(kept->text(0, 0), "sources");
  }

  PgCluster* cluster = shared_cluster();
  testing::RestartAtEnd restart{cluster};
  heard_b.clear();
  ASSERT_TRUE(cluster->stop_server());
  ASSERT_TRUE(cluster->start_server()) << cluster->server_log();
  ASSERT_TRUE(eventually([&] { return heard_b.heard("*"); })) << "no \"*\" after the watcher reconnected";
  a.stop();
  b.stop();
}

// Without LISTEN (--store-notify off), a change published by one store reaches the other's listener at its
// next poll (the topic's version in hookwire_changes), and only the other's.
TEST_F(PostgresStoreTest, WithoutListenAChangeReachesTheOtherStoreAtItsPoll) {
  PostgresOptions quiet;
  quiet.listen = false;
  quiet.feed_poll_interval = std::chrono::milliseconds(50);
  Store& a = open(quiet);
  Store& b = open(quiet);
  HeardTopics heard_a(a), heard_b(b);
  // Published again until b hears it: a change raised before b's first poll is told as "*" (b's first poll
  // tells everything), which this test does not count.
  ASSERT_TRUE(eventually([&] {
    a.publish_change("tokens");
    return heard_b.heard("tokens");
  }));
  ASSERT_TRUE(eventually([&] {
    b.publish_change("sources");
    return heard_a.heard("sources");
  }));
  // Neither is told its own.
  EXPECT_FALSE(heard_a.heard("tokens"));
  EXPECT_FALSE(heard_b.heard("sources"));
  a.stop();  // before the listeners' state goes out of scope
  b.stop();
}

// A background job runs on one node at a time: while a's transaction holds the job's lock, b is told no at
// once (it does not wait); once a's transaction ends, b gets it.
TEST_F(PostgresStoreTest, AJobLockIsHeldByOneNodesTransactionAtATime) {
  Store& a = open();
  Store& b = open();
  auto try_lock = [](Store& s) {
    bool mine = false;
    EXPECT_TRUE(write(s, [&](Tx& tx) -> Status {
                  auto r = tx.try_lock_job("janitor");
                  if (!r.ok()) return r.take_error();
                  mine = *r;
                  return {};
                }).ok());
    return mine;
  };
  HeldWrite held(a, [](Tx& tx) -> Status {
    auto r = tx.try_lock_job("janitor");
    if (!r.ok()) return r.take_error();
    return *r ? Status{} : Status(Error::internal("a did not get the lock"));
  });
  EXPECT_FALSE(try_lock(b)) << "a holds it";
  EXPECT_TRUE(write(b, [](Tx& tx) -> Status {
                auto r = tx.try_lock_job("another job");
                if (!r.ok()) return r.take_error();
                return *r ? Status{} : Status(Error::internal("another job's lock is free"));
              }).ok());
  ASSERT_TRUE(held.release().ok());
  EXPECT_TRUE(try_lock(b)) << "a's transaction ended";
}

// Each node counts the nodes sharing the database (what an endpoint's rate limit is divided by): one that
// joins is counted at the next polls, one that stops is no longer counted.
TEST_F(PostgresStoreTest, NodesCountEachOtherWhileTheyRun) {
  PostgresOptions fast;
  fast.feed_poll_interval = std::chrono::milliseconds(50);
  Store& a = open(fast);
  EXPECT_TRUE(eventually([&] { return a.live_nodes() == 1; }));
  Store& b = open(fast);
  Store& c = open(fast);
  EXPECT_TRUE(eventually([&] { return a.live_nodes() == 3 && b.live_nodes() == 3 && c.live_nodes() == 3; }))
      << a.live_nodes() << " " << b.live_nodes() << " " << c.live_nodes();
  c.stop();
  EXPECT_TRUE(eventually([&] { return a.live_nodes() == 2 && b.live_nodes() == 2; }))
      << a.live_nodes() << " " << b.live_nodes();
}

// The connection dies in the middle of a batch (here the writer's session is ended from inside a write): the
// batch fails with kUnavailable, nothing of it is kept, and the next write runs on a new connection.
TEST_F(PostgresStoreTest, AConnectionLostInTheMiddleOfABatchFailsItAndTheNextWriteWorks) {
  Store& s = open();
  const auto app = make_app();
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  auto lost = make_message(app.id, "e", "lost");
  auto st = write(s, [&](Tx& tx) -> Status {
    if (auto inserted = tx.insert_message(lost); !inserted.ok()) return inserted;
    auto ended = dynamic_cast<PgTx&>(tx).connection().exec("SELECT pg_terminate_backend(pg_backend_pid())");
    return ended.ok() ? Status() : Status(ended.error());
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kUnavailable) << st.error().detail;
  auto kept = make_message(app.id, "e", "kept");
  ASSERT_TRUE(write(s, [&](Tx& tx) { return tx.insert_message(kept); }).ok());
  EXPECT_EQ(read<Message>(s, [&](Tx& tx) { return tx.get_message(app.id, "lost"); }).error().code,
            Errc::kNotFound);
  EXPECT_EQ(get(s, app.id, kept.id).position, s.feed_head());
}

// A database set to synchronous_commit = off would acknowledge commits it may lose: the writer's session has
// it on all the same.
TEST_F(PostgresStoreTest, TheWriterCommitsDurablyWhereTheDatabaseWouldNot) {
  {
    auto admin = PgConnection::connect(url_);
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE(admin->exec(fmt::format("ALTER DATABASE {} SET synchronous_commit = off", db_)).ok());
  }
  Store& s = open();
  std::string setting;
  ASSERT_TRUE(write(s, [&](Tx& tx) -> Status {
                auto r = dynamic_cast<PgTx&>(tx).connection().exec("SHOW synchronous_commit");
                if (!r.ok()) return r.take_error();
                setting = std::string(r->text(0, 0));
                return {};
              }).ok());
  EXPECT_EQ(setting, "on");
}

// Bookkeeping (Ack::kCommitted: the dispatcher's leases and records) does not wait for the disk when a batch
// holds nothing else; a batch with any write acknowledged as durable keeps synchronous_commit on.
TEST_F(PostgresStoreTest, ABatchOfBookkeepingOnlyCommitsWithoutWaitingForTheDisk) {
  Store& s = open();
  auto setting_in = [](Tx& tx) -> std::string {
    auto r = dynamic_cast<PgTx&>(tx).connection().exec("SHOW synchronous_commit");
    return r.ok() ? std::string(r->text(0, 0)) : r.error().detail;
  };
  std::string alone, mixed_bookkeeping, mixed_durable;
  std::promise<void> done;
  s.submit_write(
      [&](Tx& tx) -> Status {
        alone = setting_in(tx);
        return {};
      },
      [&](Status) { done.set_value(); }, Ack::kCommitted);
  done.get_future().wait();
  EXPECT_EQ(alone, "off");

  WriterGate gate;
  gate.hold(s);
  std::promise<void> first, second;
  s.submit_write(
      [&](Tx& tx) -> Status {
        mixed_bookkeeping = setting_in(tx);
        return {};
      },
      [&](Status) { first.set_value(); }, Ack::kCommitted);
  s.submit_write(
      [&](Tx& tx) -> Status {
        mixed_durable = setting_in(tx);
        return {};
      },
      [&](Status) { second.set_value(); });
  gate.release();
  first.get_future().wait();
  second.get_future().wait();
  EXPECT_EQ(mixed_bookkeeping, "on");
  EXPECT_EQ(mixed_durable, "on");
}

// A server that cannot be reached at open: kUnavailable, naming the server but never the password.
TEST(PostgresStoreOpen, AnUnreachableServerIsUnavailableAndTheErrorKeepsThePasswordOut) {
  PostgresOptions options;
  options.url = "postgres://hookwire:s3cret-pw@127.0.0.1:1/events";  // nothing listens on port 1
  options.connect_timeout = std::chrono::seconds(2);
  auto opened = open_postgres_store(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Errc::kUnavailable);
  EXPECT_NE(opened.error().detail.find("PostgreSQL at 127.0.0.1:1/events"), std::string::npos)
      << opened.error().detail;
  EXPECT_EQ(opened.error().detail.find("s3cret-pw"), std::string::npos) << opened.error().detail;
}

// Nodes starting together on a new database: each store opens (the schema is applied once) and works.
TEST_F(PostgresStoreTest, StoresOpenedTogetherMigrateTheSchemaOnce) {
  std::vector<Result<std::unique_ptr<Store>>> opened;
  for (int i = 0; i < 3; ++i) opened.emplace_back(Error::internal("not opened"));
  std::vector<std::thread> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.emplace_back([&, i] {
      PostgresOptions options;
      options.url = url_;
      opened[i] = open_postgres_store(options);
    });
  for (auto& t : nodes) t.join();
  for (auto& o : opened) {
    ASSERT_TRUE(o.ok()) << o.error().detail;
    stores_.push_back(std::move(*o));
  }
  auto conn = PgConnection::connect(url_);
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(schema_version(*conn).value(), static_cast<int>(store_schema().size()));
  const auto app = make_app();
  ASSERT_TRUE(write(*stores_[0], [&](Tx& tx) { return tx.insert_application(app); }).ok());
  for (auto& s : stores_)
    EXPECT_TRUE(read<Application>(*s, [&](Tx& tx) { return tx.get_application(app.id); }).ok());
}

}  // namespace
}  // namespace hookwire::store::postgres
