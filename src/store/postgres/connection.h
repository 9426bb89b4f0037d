// PgConnection: one libpq connection to PostgreSQL, and its results, for the PostgreSQL store (issue #21).
//
// Errors are hookwire's: a unique violation (SQLSTATE 23505) is kConflict; a connection that cannot be made
// or is lost, a server shutting down or not accepting connections (classes 08, 57P, 53), a statement over
// its timeout (57014), a serialization failure or a deadlock (40001, 40P01) is kUnavailable
// (the API answers 503 and the caller may retry on a new connection); anything else is kInternal with the
// server's message. Connecting never waits longer than `connect_timeout`, and every statement is bounded by
// the server-side `statement_timeout` set at connect, so a request never hangs on a dead server.
// Not thread-safe: one thread uses a connection at a time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct pg_conn;
struct pg_result;

namespace hookwire::store::postgres {

struct ConnectOptions {
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds statement_timeout{30'000};
  std::string application_name = "hookwire";
};

// A statement's rows, as text (libpq's text format); a NULL reads as nullopt.
class PgResult {
 public:
  explicit PgResult(pg_result* r) : r_(r) {}
  int rows() const;
  int columns() const;
  std::optional<std::string_view> get(int row, int column) const;
  // The value of a column known not to be NULL ("" when it is).
  std::string_view text(int row, int column) const;
  // For INSERT/UPDATE/DELETE: how many rows it changed.
  int64_t affected() const;

 private:
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> r_;
};

class PgConnection {
 public:
  // `url`: a libpq connection URI or key=value string (postgres://user@host:port/db?...).
  static Result<PgConnection> connect(const std::string& url, const ConnectOptions& options = {});

  // A statement with $1.. parameters (text; nullopt is NULL). `sql` is parsed each time; prepare() it when it
  // runs often.
  Result<PgResult> exec(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});
  // Several statements separated by ';' and no parameters (a migration), as one simple query.
  Result<PgResult> exec_script(std::string_view sql);
  // Prepares `sql` under `name` on this connection, once; exec_prepared() runs it.
  Status prepare(const std::string& name, std::string_view sql);
  Result<PgResult> exec_prepared(const std::string& name,
                                 const std::vector<std::optional<std::string>>& params);

  // False once the connection is lost (the caller makes a new one).
  bool ok() const;

 private:
  struct Close {
    void operator()(pg_conn* c) const;
  };
  explicit PgConnection(pg_conn* c) : c_(c) {}
  Result<PgResult> finish(pg_result* r, std::string_view what);
  std::unique_ptr<pg_conn, Close> c_;
  std::vector<std::string> prepared_;
};

}  // namespace hookwire::store::postgres
