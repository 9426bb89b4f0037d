// The PostgreSQL migration runner against a real server: steps applied in order and once, three nodes
// migrating at the same time, a failing step rolled back whole, a newer database refused.
#include "store/postgres/schema.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

#include "store/testing/pg_database.h"

namespace hookwire::store::postgres {
namespace {

using testing::TestDatabase;

// Each step records itself in `applied`, so a step run twice shows; the second sleeps to widen the window in
// which nodes starting together would race without the lock.
constexpr std::array<std::string_view, 3> kSteps = {
    "CREATE TABLE applied (version INT NOT NULL); INSERT INTO applied VALUES (1)",
    "SELECT pg_sleep(0.3); CREATE TABLE apps (id TEXT PRIMARY KEY); INSERT INTO applied VALUES (2)",
    "ALTER TABLE apps ADD COLUMN name TEXT; INSERT INTO applied VALUES (3)",
};

std::vector<std::string> applied(PgConnection& conn) {
  std::vector<std::string> out;
  auto rows = conn.exec("SELECT version FROM applied ORDER BY version");
  EXPECT_TRUE(rows.ok()) << rows.error().detail;
  for (int i = 0; rows.ok() && i < rows->rows(); ++i) out.emplace_back(rows->text(i, 0));
  return out;
}

TEST(PgSchema, ThreeNodesMigratingTogetherApplyEachStepOnce) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  std::vector<Status> results(3);
  std::vector<std::thread> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.emplace_back([&, i] {
      auto conn = PgConnection::connect(db.url());
      results[i] = conn ? migrate(*conn, kSteps) : Status(conn.error());
    });
  for (auto& t : nodes) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error().detail;

  auto conn = PgConnection::connect(db.url());
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(schema_version(*conn).value(), 3);
  EXPECT_EQ(applied(*conn), (std::vector<std::string>{"1", "2", "3"}));
  // Again: nothing to do.
  ASSERT_TRUE(migrate(*conn, kSteps).ok());
  EXPECT_EQ(applied(*conn), (std::vector<std::string>{"1", "2", "3"}));
  // The lock is released: another session takes it at once.
  auto other = PgConnection::connect(db.url());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->exec(fmt::format("SELECT pg_try_advisory_lock({})", kMigrationLock))->text(0, 0), "t");
}

TEST(PgSchema, AFailingStepIsRolledBackWholeAndANewerDatabaseIsRefused) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  auto conn = PgConnection::connect(db.url());
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(schema_version(*conn).value(), 0);
  ASSERT_TRUE(migrate(*conn, kSteps, 1).ok());
  EXPECT_EQ(schema_version(*conn).value(), 1);

  const std::array<std::string_view, 3> broken = {kSteps[0], kSteps[1], "CREATE TABLE half (n INT); SELEC 1"};
  auto st = migrate(*conn, broken);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInternal);
  EXPECT_NE(st.error().detail.find("schema step 3 failed"), std::string::npos) << st.error().detail;
  EXPECT_EQ(schema_version(*conn).value(), 2) << "step 2 committed, step 3 not";
  EXPECT_EQ(conn->exec("SELECT to_regclass('half') IS NULL")->text(0, 0), "t") << "step 3 left nothing";
  EXPECT_TRUE(conn->exec("SELECT 1").ok()) << "the connection is usable after the failed step";

  ASSERT_TRUE(migrate(*conn, kSteps).ok());
  const std::array<std::string_view, 2> older = {kSteps[0], kSteps[1]};
  st = migrate(*conn, older);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().detail.find("schema is version 3, newer than this hookwire knows (2)"),
            std::string::npos)
      << st.error().detail;
  EXPECT_EQ(schema_version(*conn).value(), 3);
}

}  // namespace
}  // namespace hookwire::store::postgres
