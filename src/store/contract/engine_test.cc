// The Store contract suite: transactions, group commit, durability and the coroutine front door.
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

// ---- Transactions and group commit
// ---------------------------------------------------------------------------

TEST_P(StoreContractTest, ReadSeesOneSnapshotAndWriteSeesItsOwnChanges) {
  const auto app = make_app("snap");
  // Within one write function, a later operation sees an earlier one.
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                auto got = tx.get_application("snap");
                if (!got.ok()) return got.take_error();
                return tx.insert_endpoint(make_endpoint(got->id));
              }).ok());
  read_raw([&](Tx& tx) {
    auto list = tx.list_endpoints(app.id, PageQuery{});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->items.size(), 1u);
  });
}

TEST_P(StoreContractTest, ConcurrentWritersAreAllAcknowledgedAndBatched) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;

  // A function shared a batch with an earlier one if, when it ran, fewer write dones had been delivered than
  // functions had run before it (in a batch of one, every earlier function is already acknowledged).
  std::atomic<int> ran{0};
  std::atomic<int> acked{0};
  std::atomic<int> shared_batch{0};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = kThreads * kPerThread;
  std::vector<std::vector<std::string>> ids(kThreads);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto m = make_message(app.id, "t", "evt-" + std::to_string(t) + "-" + std::to_string(i));
        ids[t].push_back(*m.event_id);
        store_->submit_write(
            [&, m](Tx& tx) mutable {
              if (acked.load() < ran.fetch_add(1)) shared_batch.fetch_add(1);
              return tx.insert_message(m);
            },
            [&](Status st) {
              if (!st.ok()) failures.fetch_add(1);
              acked.fetch_add(1);
              std::lock_guard lk(mu);
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
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
  EXPECT_GT(shared_batch.load(), 0) << "no two writes ever shared a batch";

  std::set<std::string> stored;
  MessageQuery q;
  q.page.limit = 250;
  q.page.order = Order::kAscending;
  for (;;) {
    auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(page.ok());
    for (const auto& m : page->items) stored.insert(*m.event_id);
    if (page->done) break;
    q.page.iterator = page->iterator;
  }
  EXPECT_EQ(stored.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& per_thread : ids)
    for (const auto& id : per_thread) ASSERT_TRUE(stored.count(id)) << id;
}

TEST_P(StoreContractTest, FailingWriteInABatchRollsBackOnlyItself) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  auto a = make_message(app.id);
  auto b = make_message(app.id);
  auto c = make_message(app.id);
  auto dup = make_message(app.id, "t", "evt-dup");
  auto dup2 = make_message(app.id, "t", "evt-dup");

  // Queue everything behind a held writer so the functions share one batch.
  WriterGate gate;
  gate.hold(*store_);
  std::vector<std::promise<Status>> done(4);
  auto submit = [&](int i, Store::WriteFn fn) {
    store_->submit_write(std::move(fn), [&done, i](Status st) { done[i].set_value(std::move(st)); });
  };
  submit(0, [&](Tx& tx) { return tx.insert_message(a); });
  submit(1, [&](Tx& tx) -> Status {
    // Changes first, then fail: the changes must be undone.
    if (auto st = tx.insert_message(b); !st.ok()) return st;
    if (auto st = tx.put_idempotency({"k-b", "h", 200, "{}", kT0}); !st.ok()) return st;
    return Error::validation("body.x", "rejected on purpose");
  });
  submit(2, [&](Tx& tx) -> Status {
    if (auto st = tx.insert_message(c); !st.ok()) return st;
    return tx.insert_message(dup);
  });
  submit(3, [&](Tx& tx) { return tx.insert_message(dup2); });  // conflicts with fn 2's event id
  gate.release();

  std::vector<Status> results;
  for (auto& p : done) results.push_back(p.get_future().get());
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, Errc::kValidation);
  EXPECT_EQ(results[1].error().field, "body.x");
  EXPECT_TRUE(results[2].ok());
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].error().code, Errc::kConflict);

  read_raw([&](Tx& tx) {
    EXPECT_TRUE(tx.get_message(app.id, a.id).ok());
    EXPECT_EQ(tx.get_message(app.id, b.id).error().code, Errc::kNotFound);
    EXPECT_EQ(tx.get_idempotency("k-b").error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.get_message(app.id, c.id).ok());
    auto by_event = tx.get_message(app.id, "evt-dup");
    ASSERT_TRUE(by_event.ok());
    EXPECT_EQ(by_event->id, dup.id);
  });
}

TEST_P(StoreContractTest, StopFinishesQueuedWorkThenRefuses) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  constexpr int kQueued = 200;
  std::vector<std::string> ids;
  std::atomic<int> ok{0};
  std::atomic<int> called{0};

  WriterGate gate;
  gate.hold(*store_);
  for (int i = 0; i < kQueued; ++i) {
    auto m = make_message(app.id, "t", "queued-" + std::to_string(i));  // found by its event id
    ids.push_back(*m.event_id);
    store_->submit_write([m](Tx& tx) mutable { return tx.insert_message(m); },
                         [&](Status st) {
                           if (st.ok()) ok.fetch_add(1);
                           called.fetch_add(1);
                         });
  }
  std::thread stopper([&] { store_->stop(); });
  gate.release();
  stopper.join();
  // stop() returned: everything queued before it has been committed and acknowledged.
  EXPECT_EQ(called.load(), kQueued);
  EXPECT_EQ(ok.load(), kQueued);

  // Later submissions are refused at once (done runs before submit_write returns).
  std::optional<Status> late;
  store_->submit_write(
      [](Tx&) -> Status {
        ADD_FAILURE() << "ran after stop";
        return {};
      },
      [&](Status st) { late = std::move(st); });
  ASSERT_TRUE(late.has_value());
  ASSERT_FALSE(late->ok());
  EXPECT_EQ(late->error().code, Errc::kUnavailable);
  // Reads still complete, answering kUnavailable.
  bool read_done = false;
  std::optional<Errc> read_code;
  store_->submit_read(
      [&](Tx& tx) {
        auto r = tx.get_application(app.id);
        if (!r.ok()) read_code = r.error().code;
      },
      [&] { read_done = true; });
  EXPECT_TRUE(read_done);
  EXPECT_EQ(read_code, Errc::kUnavailable);
  store_->stop();  // idempotent

  reopen();
  read_raw([&](Tx& tx) {
    for (const auto& id : ids) EXPECT_TRUE(tx.get_message(app.id, id).ok()) << id;
  });
}

TEST_P(StoreContractTest, CommittedDataSurvivesReopen) {
  const auto app = make_app("durable");
  const auto ep = make_endpoint(app.id, "ep");
  auto msg = make_message(app.id, "user.created", "evt-9", kT0, std::vector<std::string>{"c"});
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_event_type(make_event_type("user.created")); !st.ok()) return st;
                if (auto st = tx.put_idempotency({"key", "h", 202, "{}", kT0}); !st.ok()) return st;
                return tx.insert_message(msg);
              }).ok());
  reopen();
  read_raw([&](Tx& tx) {
    auto a = tx.get_application("durable");
    ASSERT_TRUE(a.ok());
    expect_same(*a, app);
    auto e = tx.get_endpoint(app.id, "ep");
    ASSERT_TRUE(e.ok());
    expect_same(*e, ep);
    auto m = tx.get_message(app.id, "evt-9");
    ASSERT_TRUE(m.ok());
    expect_same(*m, msg);
    EXPECT_TRUE(tx.get_event_type("user.created").ok());
    EXPECT_TRUE(tx.get_idempotency("key").ok());
  });
  // Uniqueness survives too.
  auto st = write([&](Tx& tx) { return insert_copy(tx, make_message(app.id, "x", "evt-9")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
}

TEST_P(StoreContractTest, WritesAcknowledgedAtCommitAreVisibleAndSurviveReopen) {
  const auto app = make_app("committed");
  std::promise<Status> acked;
  store_->submit_write([&](Tx& tx) { return tx.insert_application(app); },
                       [&acked](Status st) { acked.set_value(std::move(st)); }, Ack::kCommitted);
  ASSERT_TRUE(acked.get_future().get().ok());
  read_raw([&](Tx& tx) { EXPECT_TRUE(tx.get_application("committed").ok()); });
  // A failing function is reported as such, with nothing of it kept.
  std::promise<Status> failed;
  store_->submit_write([&](Tx& tx) { return tx.insert_application(app); },
                       [&failed](Status st) { failed.set_value(std::move(st)); }, Ack::kCommitted);
  auto st = failed.get_future().get();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  reopen();
  read_raw([&](Tx& tx) { EXPECT_TRUE(tx.get_application("committed").ok()); });
}

// ---- Coroutine front door (store/async.h)
// --------------------------------------------------------------------

TEST_P(StoreContractTest, CoroutineReadAndWrite) {
  namespace asio = boost::asio;
  asio::io_context io;
  const auto app = make_app("co");
  std::optional<Result<std::string>> wrote;
  std::optional<Result<std::string>> failed;
  std::optional<Result<Application>> got;
  std::optional<Result<Application>> missing;
  std::thread::id resumed_on;

  // Coroutines take what they need by value (STYLE: no reference captures in coroutine lambdas).
  // GCC 12 destroys a non-trivially-destructible temporary created inside a co_await operand twice (e.g. a
  // lambda capturing a string, passed straight to store::write). Name such functions before co_await.
  auto body = [](Store* db, Application app, std::optional<Result<std::string>>* wrote,
                 std::optional<Result<std::string>>* failed, std::optional<Result<Application>>* got,
                 std::optional<Result<Application>>* missing,
                 std::thread::id* resumed_on) -> asio::awaitable<void> {
    auto insert = [app](Tx& tx) -> Result<std::string> {
      if (auto st = tx.insert_application(app); !st.ok()) return st.take_error();
      return app.id;
    };
    wrote->emplace(co_await store::write<std::string>(*db, insert));
    failed->emplace(co_await store::write<std::string>(*db, insert));  // uid taken now
    got->emplace(co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("co"); }));
    missing->emplace(
        co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("nope"); }));
    *resumed_on = std::this_thread::get_id();
  };
  asio::co_spawn(io, body(store_.get(), app, &wrote, &failed, &got, &missing, &resumed_on), asio::detached);
  io.run();

  ASSERT_TRUE(wrote && wrote->ok());
  EXPECT_EQ(wrote->value(), app.id);
  ASSERT_TRUE(failed && !failed->ok());
  EXPECT_EQ(failed->error().code, Errc::kConflict);
  ASSERT_TRUE(got && got->ok());
  expect_same(got->value(), app);
  ASSERT_TRUE(missing && !missing->ok());
  EXPECT_EQ(missing->error().code, Errc::kNotFound);
  EXPECT_EQ(resumed_on, std::this_thread::get_id()) << "the coroutine must resume on its own executor";

  // After stop: writes fail with kUnavailable, reads get it from the Tx.
  store_->stop();
  std::optional<Result<std::string>> late_write;
  std::optional<Result<Application>> late_read;
  auto late = [](Store* db, std::optional<Result<std::string>>* w,
                 std::optional<Result<Application>>* r) -> asio::awaitable<void> {
    w->emplace(
        co_await store::write<std::string>(*db, [](Tx&) -> Result<std::string> { return std::string("x"); }));
    r->emplace(co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("co"); }));
  };
  io.restart();
  asio::co_spawn(io, late(store_.get(), &late_write, &late_read), asio::detached);
  io.run();
  ASSERT_TRUE(late_write && !late_write->ok());
  EXPECT_EQ(late_write->error().code, Errc::kUnavailable);
  ASSERT_TRUE(late_read && !late_read->ok());
  EXPECT_EQ(late_read->error().code, Errc::kUnavailable);
}

}  // namespace hookwire::store
