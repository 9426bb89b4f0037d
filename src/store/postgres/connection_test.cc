// PgConnection against a real PostgreSQL 15 (a database per test in the binary's cluster): parameters and
// NULLs, prepared
// statements, the error map (unique violation, syntax, statement timeout), and a server that goes away and
// comes back.
#include "store/postgres/connection.h"

#include <gtest/gtest.h>

#include "store/postgres/binary_array.h"
#include "store/testing/pg_database.h"
#include "store/testing/test_dir.h"

namespace hookwire::store::postgres {
namespace {

using testing::shared_cluster;
using testing::TestDatabase;

TEST(PgConnection, RunsParameterizedAndPreparedStatementsAndMapsErrors) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  auto conn = PgConnection::connect(db.url());
  ASSERT_TRUE(conn.ok()) << conn.error().detail;
  ASSERT_TRUE(conn->exec("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)").ok());

  const std::string tricky = "it's \"quoted\", ü, and a backslash \\";
  auto inserted =
      conn->exec("INSERT INTO t (id, v) VALUES ($1, $2), ($3, $4)", {"a", tricky, "b", std::nullopt});
  ASSERT_TRUE(inserted.ok()) << inserted.error().detail;
  EXPECT_EQ(inserted->affected(), 2);
  auto rows = conn->exec("SELECT id, v FROM t ORDER BY id");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows(), 2);
  EXPECT_EQ(rows->text(0, 0), "a");
  EXPECT_EQ(rows->get(0, 1), std::optional<std::string_view>(tricky));
  EXPECT_EQ(rows->get(1, 1), std::nullopt);

  // Prepared once (a second prepare of the name is a no-op), run many times.
  ASSERT_TRUE(conn->prepare("count_t", "SELECT count(*) FROM t WHERE id >= $1").ok());
  ASSERT_TRUE(conn->prepare("count_t", "SELECT count(*) FROM t WHERE id >= $1").ok());
  auto counted = conn->exec_prepared("count_t", {"b"});
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->text(0, 0), "1");

  // A unique violation is a conflict, and changes nothing.
  auto duplicate = conn->exec("INSERT INTO t (id, v) VALUES ($1, 'again')", {"a"});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, Errc::kConflict);
  EXPECT_EQ(conn->exec("SELECT v FROM t WHERE id = 'a'")->get(0, 0), std::optional<std::string_view>(tricky));
  // A bug in a statement is internal, with the server's words and SQLSTATE.
  auto broken = conn->exec("SELEC 1");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, Errc::kInternal);
  EXPECT_NE(broken.error().detail.find("42601"), std::string::npos) << broken.error().detail;
  EXPECT_TRUE(conn->ok()) << "an error in a statement leaves the connection usable";
}

// A pipeline sends its steps at once and answers each in order; binary arrays carry any text (quotes,
// backslashes, braces, NULLs) into a multi-row statement. A failing step makes the server skip the rest of
// the pipeline (a COMMIT among them: nothing is committed), and the connection takes work again after a
// ROLLBACK.
TEST(PgConnection, APipelineAnswersEachStepAndAFailedStepSkipsTheRest) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  auto conn = PgConnection::connect(db.url());
  ASSERT_TRUE(conn.ok()) << conn.error().detail;
  ASSERT_TRUE(conn->exec("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT, n BIGINT, b BOOLEAN)").ok());
  const std::string insert = "insert_t";
  ASSERT_TRUE(conn->prepare(insert,
                            "INSERT INTO t SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
                            "$4::boolean[])")
                  .ok());
  BinaryArray ids(BinaryArray::Element::kText), vs(BinaryArray::Element::kText);
  BinaryArray ns(BinaryArray::Element::kBigint), bs(BinaryArray::Element::kBoolean);
  const std::string tricky = "{\"a\",\\b} NULL, ü";
  ids.text("x");
  vs.text(tricky);
  ns.int64(-5'000'000'000);
  bs.boolean(true);
  ids.text("y");
  vs.null();
  ns.int64(std::nullopt);
  bs.boolean(false);
  Params rows;
  rows.binary(ids.take()).binary(vs.take()).binary(ns.take()).binary(bs.take());
  auto done = conn->exec_pipeline(
      {{nullptr, "BEGIN", nullptr}, {&insert, nullptr, &rows}, {nullptr, "COMMIT", nullptr}});
  ASSERT_EQ(done.size(), 3u);
  for (auto& r : done) EXPECT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(done[1]->affected(), 2);
  auto read = conn->exec("SELECT v, n, b FROM t ORDER BY id");
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->rows(), 2);
  EXPECT_EQ(read->get(0, 0), std::optional<std::string_view>(tricky));
  EXPECT_EQ(read->int64(0, 1), -5'000'000'000);
  EXPECT_TRUE(read->boolean(0, 2));
  EXPECT_TRUE(read->is_null(1, 0));
  EXPECT_TRUE(read->is_null(1, 1));
  EXPECT_FALSE(read->boolean(1, 2));

  // The same ids again: the insert fails (a conflict), the step after it and COMMIT are skipped.
  ids.text("z");
  ids.text("x");
  for (int i = 0; i < 2; ++i) {
    vs.text("again");
    ns.int64(1);
    bs.boolean(true);
  }
  Params again;
  again.binary(ids.take()).binary(vs.take()).binary(ns.take()).binary(bs.take());
  auto failed = conn->exec_pipeline({{nullptr, "BEGIN", nullptr},
                                     {&insert, nullptr, &again},
                                     {nullptr, "UPDATE t SET v = 'changed'", nullptr},
                                     {nullptr, "COMMIT", nullptr}});
  ASSERT_EQ(failed.size(), 4u);
  EXPECT_TRUE(failed[0].ok());
  ASSERT_FALSE(failed[1].ok());
  EXPECT_EQ(failed[1].error().code, Errc::kConflict);
  EXPECT_EQ(conn->last_sqlstate(), "23505");
  EXPECT_FALSE(failed[2].ok());
  EXPECT_FALSE(failed[3].ok());
  EXPECT_TRUE(conn->in_failed_transaction());
  ASSERT_TRUE(conn->exec("ROLLBACK").ok());
  auto count = conn->exec("SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM t");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->int64(0, 0), 2);
  EXPECT_EQ(count->int64(0, 1), 0);
  EXPECT_TRUE(conn->ok());
}

TEST(PgConnection, AStatementOverItsTimeoutIsUnavailable) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  ConnectOptions options;
  options.statement_timeout = std::chrono::milliseconds(100);
  auto conn = PgConnection::connect(db.url(), options);
  ASSERT_TRUE(conn.ok()) << conn.error().detail;
  auto slow = conn->exec("SELECT pg_sleep(30)");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, Errc::kUnavailable) << slow.error().detail;
  EXPECT_TRUE(conn->exec("SELECT 1").ok());
}

TEST(PgConnection, AServerThatGoesAwayIsUnavailableAndANewConnectionWorksWhenItIsBack) {
  TestDatabase db;
  ASSERT_FALSE(db.url().empty());
  auto conn = PgConnection::connect(db.url());
  ASSERT_TRUE(conn.ok()) << conn.error().detail;
  ASSERT_TRUE(conn->exec("CREATE TABLE kept (n INT)").ok());
  ASSERT_TRUE(conn->exec("INSERT INTO kept VALUES (7)").ok());

  auto* cluster = shared_cluster();
  testing::RestartAtEnd restart{cluster};  // the cluster is shared: it runs again whatever happens here
  ASSERT_TRUE(cluster->stop_server());
  auto lost = conn->exec("SELECT n FROM kept");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, Errc::kUnavailable) << lost.error().detail;
  EXPECT_FALSE(conn->ok());
  auto refused = PgConnection::connect(db.url());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kUnavailable);
  EXPECT_NE(refused.error().detail.find("cannot connect"), std::string::npos) << refused.error().detail;

  ASSERT_TRUE(cluster->start_server()) << cluster->server_log();
  auto again = PgConnection::connect(db.url());
  ASSERT_TRUE(again.ok()) << again.error().detail;
  auto n = again->exec("SELECT n FROM kept");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->text(0, 0), "7");
}

}  // namespace
}  // namespace hookwire::store::postgres
