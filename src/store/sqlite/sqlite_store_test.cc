// The Store contract suite against SQLite, plus what only the SQLite store has: schema versions, files and
// batch metrics (its write throughput is measured by bench/store).
#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "core/ids.h"
#include "core/testing/log_capture.h"
#include "store/sqlite/recent_keys.h"
#include "store/sqlite/schema.h"
#include "store/store_contract_test.h"
#include "store/testing/test_dir.h"

namespace hookwire::store {
namespace {

std::unique_ptr<Store> open_in(const std::string& dir, SqliteOptions options = {}) {
  return testing::open_test_store(dir, std::move(options));
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreContractTest,
    ::testing::Values(StoreFactory{"sqlite", [](std::string dir) { return open_in(dir); }, nullptr},
                      StoreFactory{"sqlite_row_leases",
                                   [](std::string dir) {
                                     SqliteOptions o;
                                     o.row_leases = true;
                                     return open_in(dir, o);
                                   },
                                   nullptr}),
    [](const auto& info) { return info.param.name; });

// Holds the store's writer inside one write function from construction until release(): what is submitted
// meanwhile queues up and then runs as one batch.
class WriterHold {
 public:
  explicit WriterHold(Store& store) {
    std::promise<void> entered;
    store.submit_write(
        [&entered, released = released_.get_future().share()](Tx&) -> Status {
          entered.set_value();
          released.wait();
          return {};
        },
        [](Status) {});
    entered.get_future().wait();
  }
  ~WriterHold() { release(); }
  void release() {
    if (!done_) released_.set_value();
    done_ = true;
  }

 private:
  std::promise<void> released_;
  bool done_ = false;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  static Status write(Store& s, Store::WriteFn fn) {
    std::promise<Status> p;
    s.submit_write(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
    return p.get_future().get();
  }

  // Runs `sql` on a plain connection of its own (outside the store) and returns the first column of the first
  // row as text, or "" when there is none.
  static std::string query(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  testing::TestDir test_dir_{"hookwire-sqlite"};
  // Where a test's store goes; not made yet (the store makes its parent directories: one test checks that).
  const std::filesystem::path dir_ = test_dir_.path() / "db";
};

TEST_F(SqliteStoreTest, CreatesParentDirectoriesAndAWalDatabaseAtTheLatestVersion) {
  const auto dir = (dir_ / "a" / "b").string();
  auto store = open_in(dir);
  ASSERT_NE(store, nullptr);
  store->stop();
  const auto path = dir + "/hookwire.db";
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(query(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(latest_schema_version()));
  EXPECT_EQ(query(path, "PRAGMA page_size"), "8192");  // a new file's pages
  // Reopening an up-to-date database migrates nothing and works.
  store = open_in(dir);
  ASSERT_NE(store, nullptr);
}

// Migration 10 drops message_keys_log: the keys only it held go into the index, the fold's mark starts at the
// newest message, and new messages get rowids above it.
TEST_F(SqliteStoreTest, MigrationTenPutsTheKeysLogIntoTheIndex) {
  std::filesystem::create_directories(dir_);
  const auto path = (dir_ / "hookwire.db").string();
  {
    auto conn = Connection::open(path, {});
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(migrate(**conn, path, 9).ok());
    ASSERT_TRUE(
        (*conn)
            ->exec(
                "INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) "
                "VALUES ('app_m', NULL, 'm', NULL, '{}', 1, 1);"
                "INSERT INTO messages (rowid, app_id, id, event_type, payload, created_at, "
                "idempotency_key, request_hash) VALUES "
                "(5, 'app_m', 'msg_1', 'e', '{}', 1, 'folded', 'h'),"
                "(6, 'app_m', 'msg_2', 'e', '{}', 1, 'logged', 'h');"
                "INSERT INTO message_keys VALUES ('folded', 'app_m', 5);"
                "INSERT INTO message_keys_log (app_id, key, msg_rowid) VALUES ('app_m', 'logged', 6);")
            .ok());
  }
  EXPECT_EQ(query(path, "PRAGMA user_version"), "9");
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'message_keys_log'"), "0");
  // (The index holds hashes since migration 11: the entries of both messages.)
  EXPECT_EQ(
      query(path, "SELECT group_concat(msg_rowid) FROM (SELECT msg_rowid FROM message_keys ORDER BY 1)"),
      "5,6");
  EXPECT_EQ(query(path, "SELECT folded_up_to FROM message_keys_state"), "6");
  Message again;
  again.app_id = "app_m";
  again.event_type = "e";
  again.payload = "{}";
  again.created_at = from_unix_millis(2);
  again.request_hash = "h";
  for (const char* key : {"folded", "logged"}) {
    again.id = new_id(id_prefix::kMessage);
    again.idempotency_key = key;
    auto st = write(*store, [&](Tx& tx) { return tx.insert_message(again); });
    EXPECT_EQ(st.ok() ? Errc::kInternal : st.error().code, Errc::kConflict) << key;
  }
  again.id = new_id(id_prefix::kMessage);
  again.idempotency_key = "new";
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(again); }).ok());
  EXPECT_EQ(query(path, "SELECT rowid FROM messages WHERE id = '" + again.id + "'"), "7");
  store->stop();
}

// Migration 11 turns message_keys into (hash, message rowid) entries. A probe returns every message whose key
// hashes alike, newest first, and each is checked against its row: an entry pointing at a message that does
// not hold the key (a key used again, or two keys sharing a hash) is passed over.
TEST_F(SqliteStoreTest, MigrationElevenHashesTheIndexAndAProbeChecksEachCandidate) {
  std::filesystem::create_directories(dir_);
  const auto path = (dir_ / "hookwire.db").string();
  {
    auto conn = Connection::open(path, {});
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(migrate(**conn, path, 10).ok());
    ASSERT_TRUE(
        (*conn)
            ->exec(
                "INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) "
                "VALUES ('app_h', NULL, 'h', NULL, '{}', 1, 1);"
                "INSERT INTO messages (rowid, app_id, id, event_type, payload, created_at, "
                "idempotency_key, request_hash) VALUES "
                "(5, 'app_h', 'msg_1', 'e', '{}', 1, 'first', 'h'),"
                "(6, 'app_h', 'msg_2', 'e', '{}', 1, 'second', 'h');"
                "INSERT INTO message_keys VALUES ('first', 'app_h', 5), ('second', 'app_h', 6);"
                "UPDATE message_keys_state SET folded_up_to = 6;")
            .ok());
  }
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(latest_schema_version()));
  const auto hash_of = [](const char* key) {
    return std::to_string(static_cast<int64_t>(RecentKeys::hash(RecentKeys::entry_key("app_h", key))));
  };
  EXPECT_EQ(query(path,
                  "SELECT group_concat(hash || ':' || msg_rowid) FROM (SELECT * FROM message_keys "
                  "ORDER BY msg_rowid)"),
            hash_of("first") + ":5," + hash_of("second") + ":6");
  // A decoy: the hash of "first" pointing at the newer message 6, which holds "second". It is checked first
  // and passed over.
  query(path, "INSERT INTO message_keys VALUES (" + hash_of("first") + ", 6)");
  store.reset();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  std::string found;
  std::promise<void> read;
  store->submit_read(
      [&](Tx& tx) {
        if (auto got = tx.get_message_by_idempotency_key("app_h", "first"); got.ok()) found = got->id;
      },
      [&] { read.set_value(); });
  read.get_future().wait();
  EXPECT_EQ(found, "msg_1");
  Message again;
  again.app_id = "app_h";
  again.event_type = "e";
  again.payload = "{}";
  again.created_at = from_unix_millis(2);
  again.request_hash = "h";
  for (const char* key : {"first", "second"}) {
    again.id = new_id(id_prefix::kMessage);
    again.idempotency_key = key;
    auto st = write(*store, [&](Tx& tx) { return tx.insert_message(again); });
    EXPECT_EQ(st.ok() ? Errc::kInternal : st.error().code, Errc::kConflict) << key;
  }
  store->stop();
}

// The index keeps these hashes on disk: they must never change.
TEST(RecentKeys, HashIsFixed) {
  EXPECT_EQ(RecentKeys::hash(""), 8848935107335307795u);
  EXPECT_EQ(RecentKeys::hash(RecentKeys::entry_key("app_1", "k")), 5338402961688287644u);
  EXPECT_EQ(RecentKeys::hash(RecentKeys::entry_key("app_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf",
                                                   "0d6f1c2e-7b1f-4a4e-9a55-3c1e2f9b8d7a")),
            11477208960855061517u);
}

TEST_F(SqliteStoreTest, AnExistingFileKeepsItsPageSize) {
  std::filesystem::create_directories(dir_);
  const auto path = (dir_ / "hookwire.db").string();
  query(path, "PRAGMA page_size = 4096");
  query(path, "CREATE TABLE made_before (x)");  // the size is fixed once the file has a table
  query(path, "DROP TABLE made_before");        // (a file with tables of another program is refused)
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  store->stop();
  EXPECT_EQ(query(path, "PRAGMA page_size"), "4096");
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(latest_schema_version()));
}

// Both modes commit with synchronous=NORMAL (no flush inside COMMIT); Durability::kFull adds the syncer,
// which flushes the WAL before any write is acknowledged: its flushes show in store_fsync_seconds.
TEST_F(SqliteStoreTest, FullDurabilityFlushesTheWalBeforeAcknowledging) {
  for (auto durability : {Durability::kFull, Durability::kNormal}) {
    metrics::Registry registry;
    SqliteOptions options;
    options.durability = durability;
    options.metrics = &registry;
    auto store = open_in((dir_ / (durability == Durability::kFull ? "full" : "normal")).string(), options);
    ASSERT_NE(store, nullptr);
    int synchronous = -1;
    ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                  auto& conn = dynamic_cast<SqliteTx&>(tx).connection();
                  auto stmt = conn.prepare("PRAGMA synchronous");
                  if (!stmt.ok()) return stmt.take_error();
                  Stmt s(*stmt);
                  if (s.step() == SQLITE_ROW) synchronous = static_cast<int>(s.int64(0));
                  return {};
                }).ok());
    EXPECT_EQ(synchronous, 1);  // NORMAL
    const auto flushes = registry.histogram("store_fsync_seconds", "", metrics::latency_buckets()).count();
    if (durability == Durability::kFull) {
      EXPECT_GE(flushes, 1u) << "the acknowledged write was flushed first";
    } else {
      EXPECT_EQ(flushes, 0u);
    }
    store->stop();
  }
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromAFutureSchemaVersion) {
  const auto path = (dir_ / "hookwire.db").string();
  ASSERT_NE(open_in(dir_.string()), nullptr);
  const auto future = std::to_string(latest_schema_version() + 1);
  query(path, "PRAGMA user_version = " + future);

  SqliteOptions options;
  options.path = path;
  auto s = open_sqlite_store(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInternal);
  const auto& detail = s.error().detail;
  EXPECT_NE(detail.find(path), std::string::npos) << detail;
  EXPECT_NE(detail.find("schema version " + future), std::string::npos) << detail;
  EXPECT_NE(detail.find("newer"), std::string::npos) << detail;
  // Refusing touched nothing.
  EXPECT_EQ(query(path, "PRAGMA user_version"), future);
}

TEST_F(SqliteStoreTest, ReportsAnUnusablePath) {
  std::filesystem::create_directories(dir_);
  const auto file = dir_ / "not-a-dir";
  { std::ofstream(file.string()) << "x"; }
  SqliteOptions options;
  options.path = (file / "hookwire.db").string();
  auto s = open_sqlite_store(options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("not-a-dir"), std::string::npos) << s.error().detail;
}

TEST_F(SqliteStoreTest, QueuedWritesCommitAsOneBatchAndAreCounted) {
  metrics::Registry registry;
  SqliteOptions options;
  options.metrics = &registry;
  options.max_batch = 64;
  auto store = open_in(dir_.string(), options);
  ASSERT_NE(store, nullptr);

  // Hold the writer in one function while 200 more queue up behind it: they must then commit as batches of
  // max_batch (64, 64, 64, 8).
  WriterHold hold(*store);
  std::atomic<int> acked{0};
  std::promise<void> all_done;
  for (int i = 0; i < 200; ++i) {
    store->submit_write(
        [i](Tx& tx) {
          return tx.put_idempotency({"k" + std::to_string(i), "h", 200, "{}", from_unix_millis(1)});
        },
        [&](Status st) {
          EXPECT_TRUE(st.ok());
          if (acked.fetch_add(1) == 199) all_done.set_value();
        });
  }
  hold.release();
  all_done.get_future().wait();
  store->stop();

  auto& batches = registry.histogram("store_batch_size", "", {});
  EXPECT_EQ(batches.count(), 5u);  // the held one, then 64 + 64 + 64 + 8
  EXPECT_EQ(batches.sum(), 201.0);
  EXPECT_EQ(registry.counter("store_writes_total", "").value(), 201.0);
  EXPECT_EQ(registry.histogram("store_commit_seconds", "", {}).count(), 5u);
  const auto text = registry.render();
  EXPECT_NE(text.find("store_batch_size_bucket{le=\"64\"} 5"), std::string::npos) << text;
}

// The writer's Tx keeps the applications it has read for the rest of its transaction. A function that is
// rolled back to its savepoint must not leave what it wrote (and then read) there for the next one in the
// batch.
TEST_F(SqliteStoreTest, ARolledBackFunctionLeavesNothingCachedForTheNextInItsBatch) {
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  Application app;
  app.id = new_id(id_prefix::kApplication);
  app.uid = "cached";
  app.name = "before";
  app.metadata = "{}";
  app.created_at = app.updated_at = from_unix_millis(1);
  std::promise<Status> inserted;
  store->submit_write([&](Tx& tx) { return tx.insert_application(app); },
                      [&](Status st) { inserted.set_value(std::move(st)); });
  ASSERT_TRUE(inserted.get_future().get().ok());

  // Hold the writer so that the next three functions run as one batch.
  WriterHold hold(*store);
  std::promise<Status> failed, renamed_seen, other_seen;
  // 1. Renames the application, reads it (the new name is now cached), then fails: rolled back.
  store->submit_write(
      [&](Tx& tx) -> Status {
        auto renamed = app;
        renamed.name = "after";
        if (auto st = tx.update_application(renamed); !st.ok()) return st;
        if (auto got = tx.get_application("cached"); !got.ok() || got->name != "after")
          return Error::internal("the function does not see its own change");
        Application other = app;
        other.id = new_id(id_prefix::kApplication);
        other.uid = "other";
        if (auto st = tx.insert_application(other); !st.ok()) return st;
        if (!tx.get_application("other").ok()) return Error::internal("the function does not see its insert");
        return Error::validation("body", "fails after its changes");
      },
      [&](Status st) { failed.set_value(std::move(st)); });
  // 2. and 3. Run after the rollback, in the same transaction: they must see the database, not the cache.
  store->submit_write(
      [&](Tx& tx) -> Status {
        auto got = tx.get_application("cached");
        if (!got.ok()) return got.error();
        if (got->name != "before") return Error::internal("saw the rolled-back name " + got->name);
        return {};
      },
      [&](Status st) { renamed_seen.set_value(std::move(st)); });
  store->submit_write(
      [&](Tx& tx) -> Status {
        auto got = tx.get_application("other");
        if (got.ok()) return Error::internal("saw the rolled-back insert");
        return got.error().code == Errc::kNotFound ? Status{} : Status(got.error());
      },
      [&](Status st) { other_seen.set_value(std::move(st)); });
  hold.release();
  EXPECT_EQ(failed.get_future().get().error().code, Errc::kValidation);
  auto renamed = renamed_seen.get_future().get();
  EXPECT_TRUE(renamed.ok()) << renamed.error().detail;
  auto other = other_seen.get_future().get();
  EXPECT_TRUE(other.ok()) << other.error().detail;
  store->stop();
}

// Issue #18: a 0-byte file silently started empty, and a damaged one answered 500 on every call. A file that
// exists but is not a hookwire database stops the start with what is wrong, which file, and what to do; and
// the file is left as it was.
TEST_F(SqliteStoreTest, RefusesAFileThatIsNotAHookwireDatabase) {
  std::filesystem::create_directories(dir_);
  const auto path = (dir_ / "hookwire.db").string();
  std::string corrupt_header = std::string("SQLite format 3") + '\0' + std::string(8192, '\xff');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"an empty file", ""},
      {"not SQLite", std::string(20000, 'x')},
      {"a corrupt header", corrupt_header},
  };
  auto expect_refused = [&](const std::string& what) {
    SqliteOptions options;
    options.path = path;
    auto s = open_sqlite_store(options);
    ASSERT_FALSE(s.ok()) << what;
    const auto& detail = s.error().detail;
    EXPECT_NE(detail.find(path), std::string::npos) << what << ": " << detail;
    EXPECT_NE(detail.find("not a hookwire database"), std::string::npos) << what << ": " << detail;
    EXPECT_NE(detail.find("restore it from a backup"), std::string::npos) << what << ": " << detail;
  };
  for (const auto& [what, bytes] : cases) {
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
    expect_refused(what);
    EXPECT_EQ(std::filesystem::file_size(path), bytes.size()) << what << ": the file was changed";
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
  }
  // Another program's SQLite database (tables, none of hookwire's), with or without a user_version.
  for (const char* version : {"0", "3"}) {
    query(path, "CREATE TABLE other (x)");
    query(path, std::string("PRAGMA user_version = ") + version);
    expect_refused(std::string("another program's database, version ") + version);
    EXPECT_EQ(query(path, "SELECT name FROM sqlite_master WHERE name = 'applications'"), "");
    std::filesystem::remove(path);
  }
}

// Issue #18: each /metrics scrape counted the whole queue. The figures now cost the same whatever its size:
// counted in SQLite's virtual machine steps (not a timing), for a queue of 50 and of 5,000 not yet due.
TEST_F(SqliteStoreTest, QueueStatsCostTheSameWhateverTheQueueSize) {
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  const TimePoint now = from_unix_millis(1'700'000'000'000);
  Application app;
  app.id = new_id("app");
  app.name = "a";
  app.created_at = app.updated_at = now;
  Message msg;
  msg.id = new_id("msg");
  msg.app_id = app.id;
  msg.event_type = "a.b";
  msg.payload = "{}";
  msg.created_at = now;
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_message(msg);
              }).ok());
  int64_t inserted = 0;
  auto add = [&](int64_t n) {
    ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                  for (int64_t i = 0; i < n; ++i) {
                    Delivery d;
                    d.id = new_id("dlv");
                    d.app_id = app.id;
                    d.msg_id = msg.id;
                    d.endpoint_id = "ep_1";
                    // The first five due, the rest later (`due` is counted, up to kDueCountLimit).
                    d.next_attempt_at = now + std::chrono::seconds(inserted + i < 5 ? -1 : 3600);
                    d.created_at = d.updated_at = now;
                    if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                  }
                  return {};
                }).ok());
    inserted += n;
  };
  // The VM steps of one queue_stats, summed over the statements of the reader's connection.
  auto steps = [&](DeliveryQueueStats& out) {
    std::promise<int64_t> p;
    store->submit_read(
        [&](Tx& tx) {
          sqlite3* db = dynamic_cast<SqliteTx&>(tx).connection().handle();
          auto total = [db](bool reset) {
            int64_t n = 0;
            for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s))
              n += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_VM_STEP, reset ? 1 : 0);
            return n;
          };
          total(true);
          auto r = dynamic_cast<SqliteTx&>(tx).queue_stats(now, {});
          if (r.ok()) out = *r;
          p.set_value(total(false));
        },
        [] {});
    return p.get_future().get();
  };
  add(50);
  DeliveryQueueStats small, large;
  steps(small);  // prepares the statements
  const int64_t small_steps = steps(small);
  add(4950);
  const int64_t large_steps = steps(large);
  EXPECT_EQ(small.pending, 50);
  EXPECT_EQ(small.due, 5);
  EXPECT_EQ(large.pending, 5000);
  EXPECT_EQ(large.due, 5);
  EXPECT_LE(large_steps, small_steps + 50)
      << "small queue: " << small_steps << " steps, large: " << large_steps;
  EXPECT_LE(large_steps, 200);

  // Past kDueCountLimit due deliveries, `due` says that many (at least), at a bounded cost.
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                for (int64_t i = 0; i < kDueCountLimit + 10; ++i) {
                  Delivery d;
                  d.id = new_id("dlv");
                  d.app_id = app.id;
                  d.msg_id = msg.id;
                  d.endpoint_id = "ep_1";
                  d.next_attempt_at = now - std::chrono::seconds(1);
                  d.created_at = d.updated_at = now;
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                }
                return {};
              }).ok());
  DeliveryQueueStats saturated;
  steps(saturated);
  EXPECT_EQ(saturated.pending, 5000 + kDueCountLimit + 10);
  EXPECT_EQ(saturated.due, kDueCountLimit);
}

using hookwire::testing::LogCapture;

// Issue #18: a full disk answered 500 with SQLite's text and logged nothing. A real full condition (SQLite's
// max_page_count on the writer's connection): the writes fail with kUnavailable "storage full" (no SQLite
// text), one log line per episode, problem() says so, and the recovery is logged.
TEST_F(SqliteStoreTest, AFullDiskIsUnavailableLoggedOncePerEpisodeAndItsRecoveryToo) {
  LogCapture log;
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  auto set_max_pages = [](Tx& tx, const char* pages) -> Status {
    Connection& conn = dynamic_cast<SqliteTx&>(tx).connection();
    return conn.exec((std::string("PRAGMA max_page_count = ") + pages).c_str());
  };
  const std::string big(64 * 1024, 'x');
  int n = 0;
  auto put = [&](Tx& tx) {
    return tx.put_idempotency({"k" + std::to_string(n++), "h", 200, big, from_unix_millis(1)});
  };
  ASSERT_TRUE(write(*store, put).ok());
  EXPECT_FALSE(store->problem());
  // The file may not grow any more: the current size is the new maximum.
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return set_max_pages(tx, "1"); }).ok());
  for (int i = 0; i < 3; ++i) {
    auto st = write(*store, put);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::kUnavailable);
    EXPECT_NE(st.error().detail.find("storage full"), std::string::npos) << st.error().detail;
    EXPECT_EQ(st.error().detail.find("disk is full"), std::string::npos)
        << "SQLite's text: " << st.error().detail;
  }
  EXPECT_EQ(store->problem(), std::optional<std::string>("storage full"));
  EXPECT_EQ(log.count({"storage full"}), 1u) << log.text();
  EXPECT_NE(log.text().find("database or disk is full"), std::string::npos) << "the detail goes to the log";
  EXPECT_EQ(log.text().find(big.substr(0, 64)), std::string::npos) << "no payload in the log";

  // Space again: the next write succeeds, the recovery is logged once, the problem is gone.
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                if (auto st = set_max_pages(tx, "1073741823"); !st.ok()) return st;
                return put(tx);
              }).ok());
  EXPECT_EQ(log.count({"storage full"}), 1u) << log.text();
  EXPECT_EQ(log.count({"writes succeed again"}), 1u) << log.text();
  EXPECT_FALSE(store->problem());
  // A new episode is logged again.
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return set_max_pages(tx, "1"); }).ok());
  EXPECT_FALSE(write(*store, put).ok());
  EXPECT_EQ(log.count({"storage full"}), 2u) << log.text();
}

TEST_F(SqliteStoreTest, FailedCommitFailsTheWholeBatch) {
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  WriterHold hold(*store);
  std::promise<Status> first, second;
  store->submit_write(
      [](Tx& tx) {
        return tx.put_idempotency({"a", "h", 200, "{}", from_unix_millis(1)});
      },
      [&](Status st) { first.set_value(std::move(st)); });
  // A commit hook that vetoes one COMMIT: SQLite then rolls the batch back and COMMIT reports an error, just
  // as it would on a failed flush.
  std::atomic<int> vetoes{1};
  store->submit_write(
      [&vetoes](Tx& tx) -> Status {
        sqlite3_commit_hook(
            dynamic_cast<SqliteTx&>(tx).connection().handle(),
            [](void* arg) -> int { return static_cast<std::atomic<int>*>(arg)->fetch_sub(1) > 0 ? 1 : 0; },
            &vetoes);
        return {};
      },
      [&](Status st) { second.set_value(std::move(st)); });
  hold.release();
  auto st1 = first.get_future().get();
  auto st2 = second.get_future().get();
  ASSERT_FALSE(st1.ok());
  EXPECT_EQ(st1.error().code, Errc::kInternal);
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().code, Errc::kInternal);

  // Nothing of the batch is visible, and the store keeps working.
  EXPECT_TRUE(write(*store, [](Tx& tx) -> Status {
                auto r = tx.get_idempotency("a");
                if (r.ok()) return Error::internal("record of a failed batch is visible");
                return tx.put_idempotency({"b", "h", 200, "{}", from_unix_millis(1)});
              }).ok());
  std::promise<bool> found;
  store->submit_read([&](Tx& tx) { found.set_value(tx.get_idempotency("b").ok()); }, [] {});
  EXPECT_TRUE(found.get_future().get());
}

TEST(RecentKeys, FindsTheNewestHintAndFoldsAFrozenGenerationInHashOrderThenMovesTheMark) {
  RecentKeys keys;
  const auto key = [](size_t i) { return RecentKeys::entry_key("app_1", fmt::format("k{:06}", i)); };
  EXPECT_TRUE(keys.next_fold_step().empty());
  // Added in descending key order, so that folding in key order is not the order of arrival; message rowids
  // 11 ... n+10 in the order of arrival.
  const size_t n = RecentKeys::kGenerationKeys;
  for (size_t i = n; i > 0; --i) keys.add(key(i - 1), int64_t(n - i + 11));
  // The generation is full: frozen, still found, and folding.
  EXPECT_EQ(keys.find(key(0)), std::optional<int64_t>(n + 10));
  keys.add(key(0), 100000);  // a newer hint for a key of the frozen generation
  EXPECT_EQ(keys.find(key(0)), std::optional<int64_t>(100000));
  EXPECT_EQ(keys.find(RecentKeys::entry_key("app_2", "k000000")), std::nullopt);

  uint64_t last = 0;
  size_t folded = 0;
  for (auto step = keys.next_fold_step(); !step.folded_up_to; step = keys.next_fold_step()) {
    ASSERT_FALSE(step.empty());
    for (auto it = step.begin; it != step.end; ++it) {
      EXPECT_EQ(it->hash, RecentKeys::hash(it->entry->first));
      if (folded > 0) {
        EXPECT_LT(last, it->hash);  // in the index's order
      }
      last = it->hash;
      ++folded;
    }
    EXPECT_LE(static_cast<size_t>(step.end - step.begin), RecentKeys::kFoldChunk);
    // A step whose transaction did not commit is offered again.
    EXPECT_EQ(keys.next_fold_step().begin, step.begin);
    keys.fold_step_committed(step);
  }
  EXPECT_EQ(folded, n);
  // Then one step moves the mark to the generation's newest message; a restart reads back only above it.
  auto mark = keys.next_fold_step();
  ASSERT_TRUE(mark.folded_up_to);
  EXPECT_EQ(*mark.folded_up_to, int64_t(n) + 10);
  EXPECT_EQ(mark.begin, mark.end);
  keys.fold_step_committed(mark);
  EXPECT_TRUE(keys.next_fold_step().empty());
  EXPECT_EQ(keys.find(key(1)), std::nullopt);  // in the index now, no longer in memory
  EXPECT_EQ(keys.size(), 1u);                  // only the newer hint, in the current generation
  EXPECT_EQ(keys.find(key(0)), std::optional<int64_t>(100000));
}

TEST(KeyFilter, NeverForgetsAKeyAndRarelyClaimsOneItWasNotGiven) {
  KeyFilter filter;
  const auto h = [](size_t i) { return std::hash<std::string>{}(fmt::format("auto_{:08}", i)); };
  constexpr size_t kAdded = 300000;  // past the first level's capacity: the filter has grown
  for (size_t i = 0; i < kAdded; ++i) filter.add(h(i));
  for (size_t i = 0; i < kAdded; ++i) ASSERT_TRUE(filter.may_contain(h(i))) << i;
  size_t false_positives = 0;
  for (size_t i = kAdded; i < 2 * kAdded; ++i) false_positives += filter.may_contain(h(i));
  // Three levels of ~1 % each.
  EXPECT_LT(false_positives, kAdded * 5 / 100) << false_positives;
  EXPECT_LT(filter.bytes(), kAdded * 4);  // a few bytes per key
}

// Idempotency keys are not in a unique index (recent_keys.h): the store must hold them through the fold of a
// generation into message_keys, a restart (the log read back) and the rollback of the function that added
// one; an application's deletion takes them out of the index; and only one store may write the file.
TEST_F(SqliteStoreTest, IdempotencyKeysStayHeldThroughTheirFoldARestartAndARollback) {
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  const std::string path = (dir_ / "hookwire.db").string();
  Application app;
  app.id = new_id(id_prefix::kApplication);
  app.name = "keys";
  app.metadata = "{}";
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_application(app); }).ok());
  const std::string app_id = app.id;
  const size_t n = RecentKeys::kGenerationKeys + 100;
  const auto keyed = [&](size_t i) {
    Message m;
    m.id = new_id(id_prefix::kMessage);
    m.app_id = app_id;
    m.event_type = "e";
    m.payload = "{}";
    m.created_at = from_unix_millis(1);
    m.idempotency_key = fmt::format("key-{}", i);
    m.request_hash = "h";
    return m;
  };
  std::vector<std::string> ids(n);
  for (size_t from = 0; from < n; from += 1000) {
    ASSERT_TRUE(write(*store, [&, from](Tx& tx) -> Status {
                  for (size_t i = from; i < std::min(n, from + 1000); ++i) {
                    auto m = keyed(i);
                    if (auto st = tx.insert_message(m); !st.ok()) return st;
                    ids[i] = m.id;
                  }
                  return {};
                }).ok());
  }
  // Each batch takes one step: a chunk of the frozen generation's keys, then the mark.
  for (size_t i = 0; i <= RecentKeys::kGenerationKeys / RecentKeys::kFoldChunk; ++i)
    ASSERT_TRUE(write(*store, [](Tx&) { return Status{}; }).ok());
  EXPECT_EQ(query(path, "SELECT count(*) FROM message_keys"), std::to_string(RecentKeys::kGenerationKeys));
  const auto rowid_of = [&](const std::string& id) {
    return query(path, "SELECT rowid FROM messages WHERE id = '" + id + "'");
  };
  EXPECT_EQ(query(path, "SELECT folded_up_to FROM message_keys_state"),
            rowid_of(ids[RecentKeys::kGenerationKeys - 1]));

  const auto expect_held = [&](Store& s, size_t i) {
    // Found by a read (the log and the index, off the writer) and refused by the writer.
    std::string found;
    std::promise<void> read;
    s.submit_read(
        [&](Tx& tx) {
          if (auto got = tx.get_message_by_idempotency_key(app_id, *keyed(i).idempotency_key); got.ok())
            found = got->id;
        },
        [&] { read.set_value(); });
    read.get_future().wait();
    auto conflict = write(s, [&](Tx& tx) { return insert_copy(tx, keyed(i)); });
    EXPECT_EQ(conflict.ok() ? Errc::kInternal : conflict.error().code, Errc::kConflict) << "key " << i;
    return found;
  };
  for (size_t i : {size_t{0}, size_t{1}, RecentKeys::kGenerationKeys - 1, RecentKeys::kGenerationKeys, n - 1})
    EXPECT_EQ(expect_held(*store, i), ids[i]) << "key " << i;

  // Restart: the folded keys are in the index, the others are read back from their messages.
  store.reset();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  for (size_t i : {size_t{0}, RecentKeys::kGenerationKeys - 1, RecentKeys::kGenerationKeys, n - 1})
    EXPECT_EQ(expect_held(*store, i), ids[i]) << "key " << i;

  // A cleared key is free again, and its new holder is the one found.
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.clear_message_idempotency_key(app_id, ids[0]); }).ok());
  auto again = keyed(0);
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(again); }).ok());
  EXPECT_EQ(expect_held(*store, 0), again.id);

  // A function that took a key and then failed gives it back: the next in its batch takes it.
  {
    WriterHold hold(*store);
    std::promise<Status> failed, took;
    store->submit_write(
        [&](Tx& tx) -> Status {
          if (auto st = insert_copy(tx, keyed(n)); !st.ok()) return st;
          return Error::validation("body", "fails after its insert");
        },
        [&](Status st) { failed.set_value(std::move(st)); });
    store->submit_write([&](Tx& tx) { return insert_copy(tx, keyed(n)); },
                        [&](Status st) { took.set_value(std::move(st)); });
    hold.release();
    EXPECT_EQ(failed.get_future().get().error().code, Errc::kValidation);
    auto st = took.get_future().get();
    EXPECT_TRUE(st.ok()) << st.error().detail;
  }

  // Deleting the application takes its keys out of the index too.
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.delete_application(app_id); }).ok());
  EXPECT_EQ(query(path, "SELECT count(*) FROM message_keys"), "0");

  // A second store on the same file is refused while the first is open.
  SqliteOptions second;
  second.path = path;
  auto refused = open_sqlite_store(second);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kUnavailable) << refused.error().detail;

  // With every message gone, new ones still get rowids above the fold's mark: after a restart their keys are
  // read back and held (SQLite's own rowids would have started again at 1, under the mark, and been missed).
  Application other;
  other.id = new_id(id_prefix::kApplication);
  other.name = "after";
  other.metadata = "{}";
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_application(other); }).ok());
  Message late;
  late.id = new_id(id_prefix::kMessage);
  late.app_id = other.id;
  late.event_type = "e";
  late.payload = "{}";
  late.created_at = from_unix_millis(1);
  late.idempotency_key = "late-key";
  late.request_hash = "h";
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(late); }).ok());
  EXPECT_GT(std::stoll(rowid_of(late.id)),
            std::stoll(query(path, "SELECT folded_up_to FROM message_keys_state")));
  store.reset();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  auto dup = late;
  dup.id = new_id(id_prefix::kMessage);
  auto refused_dup = write(*store, [&](Tx& tx) { return tx.insert_message(dup); });
  EXPECT_EQ(refused_dup.ok() ? Errc::kInternal : refused_dup.error().code, Errc::kConflict);
  store->stop();
}

// ---- The feed
// ------------------------------------------------------------------------------------------------

Message feed_message(const std::string& app_id, TimePoint created_at = from_unix_millis(1'700'000'000'000)) {
  Message m;
  m.id = new_id(id_prefix::kMessage);
  m.app_id = app_id;
  m.event_type = "e";
  m.payload = "{}";
  m.created_at = created_at;
  return m;
}

Application feed_app() {
  Application a;
  a.id = new_id(id_prefix::kApplication);
  a.name = "feed";
  return a;
}

TEST_F(SqliteStoreTest, PositionsAreNeverGivenAgainAfterTheNewestMessagesAreDeletedAndTheStoreReopens) {
  const auto kept = feed_app();
  const auto doomed = feed_app();
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(kept); !st.ok()) return st;
                if (auto st = tx.insert_application(doomed); !st.ok()) return st;
                if (auto st = insert_copy(tx, feed_message(kept.id)); !st.ok()) return st;
                for (int i = 0; i < 3; ++i)
                  if (auto st = insert_copy(tx, feed_message(doomed.id)); !st.ok()) return st;
                return {};
              }).ok());
  const int64_t newest = store->feed_head();
  ASSERT_GT(newest, 0);
  // The newest messages go with their application; a reopened store continues above them.
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.delete_application(doomed.id); }).ok());
  store->stop();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->feed_head(), newest) << "a reader that saw `newest` finds nothing new at or below it";
  auto next = feed_message(kept.id);
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(next); }).ok());
  int64_t position = 0;
  store->submit_read(
      [&](Tx& tx) {
        auto m = tx.get_message(kept.id, next.id);
        if (m.ok()) position = m->position;
      },
      [] {});
  store->stop();
  EXPECT_GT(position, newest);

  // The same after retention deleted the newest messages (every message is old here).
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  const int64_t before_prune = store->feed_head();
  EXPECT_EQ(before_prune, position);
  int pruned = 0;
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                auto r = tx.prune_messages(from_unix_millis(1'800'000'000'000), 100);
                if (!r.ok()) return r.take_error();
                pruned = *r;
                return {};
              }).ok());
  EXPECT_EQ(pruned, 2);
  store->stop();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->feed_head(), before_prune);
  auto after_prune = feed_message(kept.id);
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(after_prune); }).ok());
  std::promise<int64_t> got;
  store->submit_read(
      [&](Tx& tx) {
        auto m = tx.get_message(kept.id, after_prune.id);
        got.set_value(m.ok() ? m->position : -1);
      },
      [] {});
  EXPECT_GT(got.get_future().get(), before_prune);
  EXPECT_EQ(query((dir_ / "hookwire.db").string(), "SELECT pruned_through FROM feed_state"),
            std::to_string(before_prune));
  store->stop();
}

TEST_F(SqliteStoreTest, TheHeadMovesOnlyAfterTheFlushThenTheListenerAndThenTheAcknowledgement) {
  for (auto durability : {Durability::kFull, Durability::kNormal}) {
    SCOPED_TRACE(durability == Durability::kFull ? "full" : "normal");
    metrics::Registry registry;
    SqliteOptions options;
    options.durability = durability;
    options.metrics = &registry;
    auto store = open_in((dir_ / (durability == Durability::kFull ? "full" : "normal")).string(), options);
    ASSERT_NE(store, nullptr);
    auto& flushes = registry.histogram("store_fsync_seconds", "", metrics::latency_buckets());
    std::mutex mu;
    std::vector<std::pair<Store::FeedAdvance, uint64_t>> told;  // with the flushes done by then
    store->set_feed_listener([&](const Store::FeedAdvance& a) {
      std::lock_guard lk(mu);
      told.emplace_back(a, flushes.count());
      EXPECT_EQ(store->feed_head(), a.head) << "the head is raised before the listener is told";
    });
    const auto app = feed_app();
    ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_application(app); }).ok());
    // Even a write acknowledged at commit makes its message readable only once it is flushed.
    for (Ack ack : {Ack::kDurable, Ack::kCommitted}) {
      auto m = feed_message(app.id);
      std::promise<int64_t> head_at_ack;
      store->submit_write([&](Tx& tx) { return tx.insert_message(m); },
                          [&](Status st) {
                            EXPECT_TRUE(st.ok());
                            head_at_ack.set_value(store->feed_head());
                          },
                          ack);
      const int64_t acked_head = head_at_ack.get_future().get();
      std::promise<int64_t> position;
      store->submit_read(
          [&](Tx& tx) {
            auto got = tx.get_message(app.id, m.id);
            position.set_value(got.ok() ? got->position : -1);
          },
          [] {});
      const int64_t pos = position.get_future().get();
      ASSERT_GT(pos, 0);
      if (ack == Ack::kDurable) {
        EXPECT_EQ(acked_head, pos) << "acknowledged after the head covered it";
      } else {
        EXPECT_LE(acked_head, pos);
      }
    }
    store->stop();  // drains the syncer: every advance told
    std::lock_guard lk(mu);
    ASSERT_EQ(told.size(), 2u);
    for (const auto& [advance, flushed] : told) {
      EXPECT_EQ(advance.app_ids, std::vector<std::string>{app.id});
      if (durability == Durability::kFull) {
        EXPECT_GE(flushed, 1u) << "told only after a flush";
      } else {
        EXPECT_EQ(flushed, 0u);
      }
    }
    EXPECT_LT(told[0].first.head, told[1].first.head);
  }
}

TEST_F(SqliteStoreTest, MigrationThirteenKeepsPositionsAboveEveryExistingMessage) {
  const std::string path = (dir_ / "hookwire.db").string();
  std::filesystem::create_directories(dir_);
  {
    auto conn = Connection::open(path, {});
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(migrate(**conn, path, 12).ok());
    ASSERT_TRUE(
        (*conn)
            ->exec("INSERT INTO applications VALUES ('app_1', NULL, 'a', NULL, '{}', 0, 0);"
                   "INSERT INTO messages (rowid, app_id, id, event_type, payload, created_at) VALUES "
                   "(41, 'app_1', 'msg_1', 'e', '{}', 0), (42, 'app_1', 'msg_2', 'e', '{}', 0);"
                   "INSERT INTO endpoints VALUES ('ep_1', 'app_1', NULL, 'https://x', '', 0, NULL, NULL, "
                   "NULL, '{}', '[]', '{}', 0, 0);")
            .ok());
  }
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->feed_head(), 42);
  EXPECT_EQ(query(path, "SELECT high_water FROM feed_state"), "42");
  std::promise<FeedPage> page;
  std::promise<Endpoint> ep;
  store->submit_read(
      [&](Tx& tx) {
        FeedQuery q;
        q.app_id = "app_1";
        q.until = 42;
        page.set_value(tx.read_feed(q).value());
        ep.set_value(tx.get_endpoint("app_1", "ep_1").value());
      },
      [] {});
  const auto p = page.get_future().get();
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[0].position, 41);
  EXPECT_EQ(p.items[1].position, 42);
  const auto e = ep.get_future().get();
  EXPECT_FALSE(e.pull_only);
  EXPECT_FALSE(e.thin);
  store->stop();
}

// Before schema 14 ids were given before rowids, so an application's messages were not always in id order;
// from 14 the writer gives both. The older messages are read through the partial index, the newer ones by
// their ids, and new ids go above every older one even with a clock behind them.
TEST_F(SqliteStoreTest, MigrationFourteenReadsOlderMessagesInPositionOrderAndNewOnesAboveThem) {
  const std::string path = (dir_ / "hookwire.db").string();
  std::filesystem::create_directories(dir_);
  // Increasing ids, ahead of the clock and of every id this process gave (min_id_at gives none).
  const TimePoint later = from_unix_millis(2'000'000'000'000);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(min_id_at(id_prefix::kMessage, later + std::chrono::seconds(i)));
  {
    auto conn = Connection::open(path, {});
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(migrate(**conn, path, 13).ok());
    // Positions 1..4 hold ids 3, 1, (another application's) 2 and 0.
    const std::string sql = fmt::format(
        "INSERT INTO applications VALUES ('app_1', NULL, 'a', NULL, '{{}}', 0, 0), "
        "('app_2', NULL, 'b', NULL, '{{}}', 0, 0);"
        "INSERT INTO messages (rowid, app_id, id, event_type, payload, created_at) VALUES "
        "(1, 'app_1', '{}', 'e', '{{}}', 0), (2, 'app_1', '{}', 'e', '{{}}', 0), "
        "(3, 'app_2', '{}', 'e', '{{}}', 0), (4, 'app_1', '{}', 'e', '{{}}', 0);",
        ids[3], ids[1], ids[2], ids[0]);
    ASSERT_TRUE((*conn)->exec(sql.c_str()).ok());
  }
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_by_app_position'"), "0");
  EXPECT_EQ(query(path, "SELECT legacy_through || ' ' || legacy_max_id FROM feed_state"), "4 " + ids[3]);
  // Two new messages, created (by the clock's account) long before the older ones' ids.
  std::vector<Message> fresh(2, feed_message("app_1", from_unix_millis(1'600'000'000'000)));
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                for (auto& m : fresh)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  EXPECT_GT(fresh[0].id, ids[3]);
  EXPECT_LT(fresh[0].id, fresh[1].id);
  const int64_t head = store->feed_head();
  ASSERT_EQ(head, 6);
  auto feed = [&](const std::string& app, int64_t after, int limit = 50) {
    std::promise<std::pair<std::vector<std::string>, int64_t>> out;
    store->submit_read(
        [&](Tx& tx) {
          FeedQuery q;
          q.app_id = app;
          q.after = after;
          q.until = head;
          q.limit = limit;
          auto page = tx.read_feed(q);
          ASSERT_TRUE(page.ok());
          std::vector<std::string> got;
          for (const auto& m : page->items) got.push_back(m.id + "@" + std::to_string(m.position));
          out.set_value({got, page->scanned_to});
        },
        [] {});
    return out.get_future().get();
  };
  const std::string a = ids[3] + "@1", b = ids[1] + "@2", c = ids[0] + "@4", d = fresh[0].id + "@5",
                    e = fresh[1].id + "@6";
  EXPECT_EQ(feed("app_1", 0).first, (std::vector<std::string>{a, b, c, d, e}));
  EXPECT_EQ(feed("app_1", 2).first, (std::vector<std::string>{c, d, e}));
  EXPECT_EQ(feed("app_1", 3).first, (std::vector<std::string>{c, d, e}));
  EXPECT_EQ(feed("app_1", 4).first, (std::vector<std::string>{d, e}));
  EXPECT_EQ(feed("app_1", 5).first, (std::vector<std::string>{e}));
  EXPECT_EQ(feed("app_1", 6).first, (std::vector<std::string>{}));
  EXPECT_EQ(feed("app_2", 0).first, (std::vector<std::string>{ids[2] + "@3"}));
  // One at a time, each read continuing after the last: the same order, across the boundary.
  std::vector<std::string> paged;
  for (int64_t after = 0;;) {
    auto [got, scanned_to] = feed("app_1", after, 1);
    if (got.empty()) break;
    paged.insert(paged.end(), got.begin(), got.end());
    ASSERT_GT(scanned_to, after);
    after = scanned_to;
  }
  EXPECT_EQ(paged, (std::vector<std::string>{a, b, c, d, e}));
  // A seek past every message: the newest position, of new messages or of old ones only.
  std::promise<std::pair<int64_t, int64_t>> newest;
  store->submit_read(
      [&](Tx& tx) {
        newest.set_value({tx.feed_position_at("app_1", later + std::chrono::hours(1)).value(),
                          tx.feed_position_at("app_2", later + std::chrono::hours(1)).value()});
      },
      [] {});
  EXPECT_EQ(newest.get_future().get(), (std::pair<int64_t, int64_t>{6, 3}));
  // Reopened: ids continue above the newest.
  store->stop();
  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  auto after_reopen = feed_message("app_2", from_unix_millis(1'600'000'000'000));
  ASSERT_TRUE(write(*store, [&](Tx& tx) { return tx.insert_message(after_reopen); }).ok());
  EXPECT_GT(after_reopen.id, fresh[1].id);
  store->stop();
}

TEST_F(SqliteStoreTest, PruningAMessageDeletesItsEntryInTheKeyIndex) {
  const auto app = feed_app();
  auto keyed = feed_message(app.id);
  keyed.idempotency_key = "k";
  keyed.request_hash = "h";
  auto other = feed_message(app.id, from_unix_millis(1'900'000'000'000));  // young: stays
  other.idempotency_key = "k2";
  other.request_hash = "h";
  auto store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_message(keyed); !st.ok()) return st;
                return tx.insert_message(other);
              }).ok());
  // As a fold would have put them there (a generation folds only after 32,768 keys).
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                return dynamic_cast<SqliteTx&>(tx).connection().run(
                    "INSERT INTO message_keys SELECT hookwire_key_hash(app_id, idempotency_key), rowid FROM "
                    "messages WHERE idempotency_key IS NOT NULL");
              }).ok());
  const std::string path = (dir_ / "hookwire.db").string();
  ASSERT_EQ(query(path, "SELECT count(*) FROM message_keys"), "2");
  int pruned = -1;
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                auto r = tx.prune_messages(from_unix_millis(1'800'000'000'000), 10);
                if (!r.ok()) return r.take_error();
                pruned = *r;
                return {};
              }).ok());
  EXPECT_EQ(pruned, 1);
  EXPECT_EQ(query(path, "SELECT count(*) FROM message_keys"), "1");
  EXPECT_EQ(query(path, "SELECT count(*) FROM message_keys WHERE msg_rowid = (SELECT rowid FROM messages)"),
            "1");
  store->stop();
}

// A store with memory leases owns its file: leases left in rows (a store opened with row leases before) are
// released at open, due when they would have expired, and claimable then.
TEST_F(SqliteStoreTest, OpeningWithMemoryLeasesReleasesLeasesLeftInRows) {
  const auto app = feed_app();
  auto msg = feed_message(app.id);
  const TimePoint t0 = msg.created_at;
  SqliteOptions rows;
  rows.row_leases = true;
  auto store = open_in(dir_.string(), rows);
  ASSERT_NE(store, nullptr);
  Delivery d;
  d.id = "dlv_1";
  d.app_id = app.id;
  d.endpoint_id = "ep_gone";
  d.next_attempt_at = d.created_at = d.updated_at = t0;
  ASSERT_TRUE(write(*store, [&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_message(msg); !st.ok()) return st;
                d.msg_id = msg.id;
                return tx.insert_delivery(d);
              }).ok());
  auto claim = [](Store& s, TimePoint now) {
    std::promise<Result<std::vector<Claim>>> p;
    s.delivery_queue().claim(ClaimRequest{now, now + std::chrono::seconds(60), 10, 10},
                             [&p](Result<std::vector<Claim>> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->size() : size_t{99};
  };
  ASSERT_EQ(claim(*store, t0), 1u);
  store->stop();
  store.reset();
  const std::string path = (dir_ / "hookwire.db").string();
  ASSERT_EQ(query(path, "SELECT status FROM deliveries"), "3");

  store = open_in(dir_.string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query(path, "SELECT status || ',' || (claim_id IS NULL) FROM deliveries"), "1,1");
  EXPECT_EQ(claim(*store, t0 + std::chrono::seconds(59)), 0u) << "due when the lease would have expired";
  EXPECT_EQ(claim(*store, t0 + std::chrono::seconds(60)), 1u);
  store->stop();
}

}  // namespace
}  // namespace hookwire::store
