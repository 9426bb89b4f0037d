// PgConnection: one libpq connection to PostgreSQL, and its results, for the PostgreSQL store (issue #21).
//
// Errors are hookwire's: a unique violation (SQLSTATE 23505) is kConflict; a connection that cannot be made
// or is lost, a server shutting down or not accepting connections (classes 08, 57P, 53), a statement over
// its timeout (57014), a serialization failure or a deadlock (40001, 40P01) is kUnavailable
// (the API answers 503 and the caller may retry on a new connection); anything else is kInternal with the
// server's message. Connecting never waits longer than `connect_timeout`, every statement is bounded by the
// server-side `statement_timeout` set at connect, and TCP keepalives (both ends) plus a TCP user timeout
// notice a peer that vanished, so a request never hangs on a dead server.
// Not thread-safe: one thread uses a connection at a time.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/result.h"

struct pg_conn;
struct pg_result;

namespace hookwire::store::postgres {

struct ConnectOptions {
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds statement_timeout{30'000};
  // A session left inside a transaction this long is ended by the server (its locks released): what frees
  // the locks of a node that vanished mid-batch. 0: the server's setting.
  std::chrono::milliseconds idle_in_transaction_timeout{0};
  // TCP keepalives on both ends and the client's TCP user timeout: a dead peer is noticed within about this
  // long even when no statement is running. 0: the system's defaults (hours).
  std::chrono::seconds dead_peer_timeout{10};
  std::string application_name = "hookwire";
};

// The parameters of one statement, without copying what they refer to: text is sent as its bytes (binary
// format: no terminating NUL, no escaping), numbers and booleans as decimal text. A parameter added with
// text() must be of type text in the statement (a column compared with it, or a cast `$1::text`); literal()
// is for the others (an array literal such as `{"a","b"}` for a text[] parameter). Referenced text must
// outlive the statement's execution.
class Params {
 public:
  Params() = default;
  Params(Params&&) = default;  // what it owns keeps its address (a deque's elements stay put)
  Params& operator=(Params&&) = default;
  Params(const Params&) = delete;  // a copy would point into the original's strings
  Params& operator=(const Params&) = delete;
  Params& text(std::string_view v);
  Params& text(const std::string& v) { return text(std::string_view(v)); }
  Params& text(const char* v) { return text(std::string_view(v)); }
  Params& text(const std::optional<std::string>& v);
  Params& int64(int64_t v);
  Params& int64(const std::optional<int64_t>& v);
  Params& boolean(bool v);
  Params& literal(std::string v);  // text format, for a parameter whose type is not text
  // Bytes in the binary format of the parameter's type (a BinaryArray's, for a `$n::text[]` parameter).
  Params& binary(std::string v);
  Params& null();
  int size() const { return static_cast<int>(values_.size()); }

 private:
  friend class PgConnection;
  Params& owned(std::string v);
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::deque<std::string> owned_;  // a deque: its strings never move as it grows
};

// A statement's rows, as text (libpq's text format); a NULL reads as nullopt.
class PgResult {
 public:
  explicit PgResult(pg_result* r) : r_(r) {}
  int rows() const;
  int columns() const;
  std::optional<std::string_view> get(int row, int column) const;
  bool is_null(int row, int column) const;
  // The value of a column known not to be NULL ("" when it is).
  std::string_view text(int row, int column) const;
  int64_t int64(int row, int column) const;  // 0 for NULL or a value that is not a number
  bool boolean(int row, int column) const;   // 't' is true
  // For INSERT/UPDATE/DELETE: how many rows it changed.
  int64_t affected() const;

 private:
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> r_;
};

// Where `url` points, safe to log: "host:port/dbname" (no user, no password); "" when it does not parse.
std::string describe_server(const std::string& url);

class PgConnection {
 public:
  // `url`: a libpq connection URI or key=value string (postgres://user@host:port/db?...).
  static Result<PgConnection> connect(const std::string& url, const ConnectOptions& options = {});

  // A statement with $1.. parameters (text; nullopt is NULL). `sql` is parsed each time; prepare() it when it
  // runs often.
  Result<PgResult> exec(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});
  Result<PgResult> exec(std::string_view sql, const Params& params);
  // Several statements separated by ';' and no parameters (a migration), as one simple query.
  Result<PgResult> exec_script(std::string_view sql);
  // Prepares `sql` under `name` on this connection, once; exec_prepared() runs it.
  Status prepare(const std::string& name, std::string_view sql);
  Result<PgResult> exec_prepared(const std::string& name,
                                 const std::vector<std::optional<std::string>>& params);
  Result<PgResult> exec_prepared(const std::string& name, const Params& params);
  bool prepared(const std::string& name) const { return prepared_.count(name) != 0; }

  // Several statements in one round trip (libpq's pipeline mode): all are sent, then every result is read.
  // A step is a statement prepared on this connection (`prepared` names it) or SQL; `params` may be null.
  // After a step that fails the server skips the rest: theirs are errors saying so (in_failed_transaction()
  // tells whether the transaction can go on). The answer has one result per step, in order.
  struct PipelineStep {
    const std::string* prepared = nullptr;
    const char* sql = nullptr;
    const Params* params = nullptr;
  };
  std::vector<Result<PgResult>> exec_pipeline(const std::vector<PipelineStep>& steps);

  // False once the connection is lost (the caller makes a new one).
  bool ok() const;
  // Inside a transaction that a failed statement aborted (only a rollback is accepted now).
  bool in_failed_transaction() const;
  // The SQLSTATE and the constraint (for a constraint violation) of the last statement that failed; "" when
  // the server sent none (a lost connection).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& last_constraint() const { return last_constraint_; }

  // LISTEN/NOTIFY: the socket to wait on for input, and the notifications received so far (reading what
  // the socket has). An error means the connection is lost.
  struct Notification {
    std::string channel;
    int backend_pid = 0;  // the sender's; backend_pid() is this connection's own
    std::string payload;
  };
  int socket() const;
  int backend_pid() const;
  Result<std::vector<Notification>> notifications();

 private:
  struct Close {
    void operator()(pg_conn* c) const;
  };
  explicit PgConnection(pg_conn* c) : c_(c) {}
  Result<PgResult> finish(pg_result* r, std::string_view what);
  std::unique_ptr<pg_conn, Close> c_;
  std::unordered_set<std::string> prepared_;
  std::string last_sqlstate_;
  std::string last_constraint_;
};

}  // namespace hookwire::store::postgres
