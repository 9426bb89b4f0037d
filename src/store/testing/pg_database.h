// Test-only: one throwaway PostgreSQL cluster for a whole test binary (started at first use, stopped at exit)
// and a database of its own for each test in it: cheaper than a cluster per test (initdb takes seconds).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "store/postgres/connection.h"
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

// Starts the shared cluster again when the scope ends, whatever happened in it (a test that stops it).
struct RestartAtEnd {
  PgCluster* cluster;
  ~RestartAtEnd() {
    if (cluster) cluster->start_server();
  }
};

}  // namespace hookwire::store::testing
