// Test-only: a suite that runs on both stores. Its fixture takes a Backend as its parameter and opens the
// test's store through a BackendStore; instantiated with
//   INSTANTIATE_TEST_SUITE_P(Stores, SomeTest, both_backends(), backend_name);
// each test runs twice, as Stores/SomeTest.Name/SQLite and Stores/SomeTest.Name/Postgres (on the binary's
// store database in its throwaway cluster, emptied for each test: testing/pg_database.h).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "store/store.h"
#include "store/testing/pg_database.h"
#include "store/testing/test_dir.h"

namespace hookwire::store::testing {

enum class Backend { kSqlite, kPostgres };

inline auto both_backends() { return ::testing::Values(Backend::kSqlite, Backend::kPostgres); }

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kPostgres ? "Postgres" : "SQLite";
}

// The running test's store on one backend: SQLite at <dir>/hookwire.db; PostgreSQL on the binary's store
// database, emptied at the first open() (a later open finds what the test wrote, as a restart does). One
// test at a time: the next test's first open ends the connections of any store still open on it.
class BackendStore {
 public:
  explicit BackendStore(Backend backend) : backend_(backend) {}
  BackendStore(const BackendStore&) = delete;
  BackendStore& operator=(const BackendStore&) = delete;

  // nullptr (with a test failure) when the store cannot be opened.
  std::unique_ptr<Store> open(const std::filesystem::path& dir, PostgresOptions options = {}) {
    if (backend_ == Backend::kSqlite) return open_test_store(dir);
    if (!url_) url_ = store_database_url();
    if (url_->empty()) return nullptr;  // the failure is reported
    options.url = *url_;
    auto opened = open_postgres_store(options);
    if (!opened.ok()) {
      ADD_FAILURE() << "cannot open a PostgreSQL store: " << opened.error().detail;
      return nullptr;
    }
    return std::move(opened).value();
  }

 private:
  Backend backend_;
  std::optional<std::string> url_;  // PostgreSQL: once emptied for this test
};

}  // namespace hookwire::store::testing
