// Test-only: one throwaway PostgreSQL cluster for a whole test binary (started at first use, stopped at exit)
// and a database of its own for each test in it: cheaper than a cluster per test (initdb takes seconds).
// Tests that only open stores can share one database instead, emptied for each of them
// (store_database_url()).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "store/postgres/connection.h"
#include "store/postgres/schema.h"
#include "store/postgres/store_schema.h"
#include "store/testing/pg_cluster.h"
#include "store/testing/test_dir.h"

namespace hookwire::store::testing {

// The binary's cluster (nullptr, with a test failure, when it cannot be started).
inline PgCluster* shared_cluster() {
  struct Shared {
    Shared() : dir("hookwire-pg-shared"), cluster(PgCluster::start(dir.path())) {}
    TestDir dir;
    std::unique_ptr<PgCluster> cluster;  // declared after dir: stopped before its directory goes
  };
  static Shared shared;
  return shared.cluster.get();
}

// A database name for a key (a test's directory): the same key, the same database.
inline std::string database_name(const std::string& key) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return fmt::format("hw_{:016x}", h);
}

// The URL of the key's database in the shared cluster, created unless it exists; "" (with a test failure)
// when it cannot be.
inline std::string database_url(const std::string& key) {
  PgCluster* cluster = shared_cluster();
  if (!cluster) return "";
  const std::string db = database_name(key);
  auto admin = postgres::PgConnection::connect(cluster->url());
  if (!admin.ok()) {
    ADD_FAILURE() << admin.error().detail;
    return "";
  }
  auto exists = admin->exec("SELECT 1 FROM pg_database WHERE datname = $1", {db});
  if (!exists.ok()) {
    ADD_FAILURE() << exists.error().detail;
    return "";
  }
  if (exists->rows() == 0) {
    // A name cannot be a parameter; this one is made of hex digits.
    if (auto made = admin->exec(fmt::format("CREATE DATABASE {}", db)); !made.ok()) {
      ADD_FAILURE() << made.error().detail;
      return "";
    }
  }
  return cluster->url(db);
}

inline void drop_database(const std::string& key) {
  PgCluster* cluster = shared_cluster();
  if (!cluster) return;
  auto admin = postgres::PgConnection::connect(cluster->url());
  if (admin.ok())
    (void)admin->exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", database_name(key)));
}

// A fresh database for the running test, dropped at the end of its scope.
class TestDatabase {
 public:
  TestDatabase() : dir_("hookwire-pg-db"), url_(database_url(dir_.path().string())) {}
  ~TestDatabase() { drop_database(dir_.path().string()); }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& url() const { return url_; }  // "" when it could not be made
  std::string name() const { return database_name(dir_.path().string()); }

 private:
  TestDir dir_;
  std::string url_;
};

// The URL of the binary's store database, put back to the state the store's migration left it in: every
// connection still on it ended, every table emptied and given back the rows the migration wrote, every
// sequence where the migration left it. For tests that open stores (one test at a time), not for tests of
// migrations or of databases: made and migrated once, then reset per test, ~0.01 s (a database made,
// migrated and dropped per test cost ~0.25 s more a test under ASan: 23 dispatcher tests, 19.7 s -> 13.6 s).
// "" (with a test failure) when it cannot be.
inline std::string store_database_url() {
  PgCluster* cluster = shared_cluster();
  if (!cluster) return "";
  const std::string url = cluster->url("hw_store");
  auto fail = [](const Error& e) {
    ADD_FAILURE() << "the store test database: " << e.detail;
    return std::string();
  };
  static std::optional<std::string> reset;  // the script that resets it, once the database is made
  if (!reset) {
    auto admin = postgres::PgConnection::connect(cluster->url());
    if (!admin.ok()) return fail(admin.error());
    if (auto made = admin->exec("CREATE DATABASE hw_store"); !made.ok()) return fail(made.error());
    auto conn = postgres::PgConnection::connect(url);
    if (!conn.ok()) return fail(conn.error());
    if (auto st = postgres::migrate(*conn, postgres::store_schema()); !st.ok()) return fail(st.error());
    // What the migration wrote is kept in the schema hw_seed; the reset copies it back.
    auto tables = conn->exec(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
    if (!tables.ok()) return fail(tables.error());
    auto sequences = conn->exec(
        "SELECT quote_ident(sequencename), last_value FROM pg_sequences WHERE schemaname = 'public'");
    if (!sequences.ok()) return fail(sequences.error());
    std::string seed = "CREATE SCHEMA hw_seed;", empty, refill;
    for (int i = 0; i < tables->rows(); ++i) {
      const std::string table(tables->text(i, 0));
      seed += fmt::format("CREATE TABLE hw_seed.{0} AS TABLE public.{0};", table);
      empty += fmt::format("DELETE FROM public.{};", table);  // for a few rows, cheaper than TRUNCATE
      refill += fmt::format("INSERT INTO public.{0} SELECT * FROM hw_seed.{0};", table);
    }
    for (int i = 0; i < sequences->rows(); ++i) {  // last_value is NULL for one never used
      const std::string sequence(sequences->text(i, 0));
      refill += sequences->is_null(i, 1)
                    ? fmt::format("ALTER SEQUENCE public.{} RESTART;", sequence)
                    : fmt::format("SELECT setval('public.{}', {});", sequence, sequences->text(i, 1));
    }
    if (auto seeded = conn->exec_script(seed); !seeded.ok()) return fail(seeded.error());
    reset =
        "BEGIN;"
        // Not waiting for them (the wait is polled every 0.1 s): their locks go when they do, and the
        // DELETEs wait for those.
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid();" +
        empty + refill + "COMMIT;";
  }
  // Kept from one test to the next (a connection costs about what the reset does), made again once lost.
  static std::unique_ptr<postgres::PgConnection> conn;
  for (int attempt = 0;; ++attempt) {
    if (!conn || !conn->ok()) {
      auto made = postgres::PgConnection::connect(url);
      if (!made.ok()) return fail(made.error());
      conn = std::make_unique<postgres::PgConnection>(std::move(*made));
    }
    auto done = conn->exec_script(*reset);
    if (done.ok()) return url;
    if (conn->ok() || attempt > 0) return fail(done.error());
  }
}

// Starts the shared cluster again when the scope ends, whatever happened in it (a test that stops it).
struct RestartAtEnd {
  PgCluster* cluster;
  ~RestartAtEnd() {
    if (cluster) cluster->start_server();
  }
};

}  // namespace hookwire::store::testing
