// Connection: one SQLite connection plus its cache of prepared statements, and Stmt, a scoped use of one
// cached statement. Internal to the SQLite store.
//
// Thread-safety: none. A Connection is opened with SQLITE_OPEN_NOMUTEX and is used by exactly one thread at a
// time (the writer thread, or one reader thread); that is what lets SQLite skip its own locking.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/sqlite/fault_log.h"

namespace hookwire::store {

// The pointer type of a sorted std::vector<int64_t> of rowids passed to the held_row(rows, rowid) SQL
// function that every connection has (see Stmt::bind_rows).
inline constexpr const char* kRowsPointer = "hookwire.rows";

class Connection {
 public:
  struct Options {
    bool read_only = false;
    bool full_sync = true;  // synchronous=FULL (else NORMAL)
    int busy_timeout_ms = 5000;
    int cache_kib = 2000;        // page cache size (SQLite's default is 2000 KiB)
    FaultLog* faults = nullptr;  // where error() reports; must outlive the connection
  };

  // Opens `path` (creating it unless read_only) and applies the per-connection pragmas. The journal mode
  // (WAL) is a property of the database file and is set by the store when it creates/migrates the schema.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  // Where error() reports from now on (the store sets it once its start-up checks are done).
  void set_fault_log(FaultLog* faults) { faults_ = faults; }

  // The cached prepared statement for `sql` (prepared on first use, kept until the connection closes).
  // Statements built at run time (list queries) are cached too: their shapes are few.
  Result<sqlite3_stmt*> prepare(std::string_view sql);

  // Runs one or more statements that return no rows (pragmas, DDL). Not cached.
  Status exec(const char* sql);
  // Runs a cached statement without parameters that returns no rows (BEGIN, COMMIT, SAVEPOINT...).
  Status run(std::string_view sql);

  // The error to return for the last failure on this connection, fit for an API client: kUnavailable
  // "storage full ..." / "storage error ..." for storage failures, "store busy" for a lock held too long,
  // kInternal otherwise; never SQLite's text, which goes (with `what`) to the FaultLog, if any.
  Error error(std::string_view what) const;
  // kInternal naming what failed and SQLite's message: for start-up errors, shown to the operator.
  Error detailed_error(std::string_view what) const;

 private:
  Connection(sqlite3* db, FaultLog* faults) : db_(db), faults_(faults) {}

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_;
  FaultLog* faults_;
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> cache_;
};

// A use of one cached statement: parameters are bound without copying (the caller's strings must outlive the
// Stmt), and the statement is reset when the Stmt goes away so the next user finds it clean. Parameter and
// column indexes follow SQLite: parameters from 1, columns from 0.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_reset(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void bind(int i, const std::string& v) { bind(i, std::string_view(v)); }
  void bind(int i, const char* v) { bind(i, std::string_view(v)); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, int v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, bool v) { sqlite3_bind_int64(s_, i, v ? 1 : 0); }
  void bind(int i, TimePoint t) { sqlite3_bind_int64(s_, i, unix_millis(t)); }
  void bind_null(int i) { sqlite3_bind_null(s_, i); }
  // A sorted set of rowids for held_row(?, rowid); `rows` must outlive the Stmt.
  void bind_rows(int i, const std::vector<int64_t>& rows) {
    sqlite3_bind_pointer(s_, i, const_cast<std::vector<int64_t>*>(&rows), kRowsPointer, nullptr);
  }
  template <class T>
  void bind(int i, const std::optional<T>& v) {
    if (v) {
      bind(i, *v);
    } else {
      bind_null(i);
    }
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(s_); }

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t int64(int c) const { return sqlite3_column_int64(s_, c); }
  bool boolean(int c) const { return sqlite3_column_int64(s_, c) != 0; }
  TimePoint time(int c) const { return from_unix_millis(sqlite3_column_int64(s_, c)); }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  // The column's text without a copy: valid until the next step, reset or column call of another type.
  std::string_view view(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string_view();
  }
  std::optional<std::string> opt_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
  }
  std::optional<int64_t> opt_int64(int c) const {
    if (is_null(c)) return std::nullopt;
    return int64(c);
  }

 private:
  sqlite3_stmt* s_;
};

}  // namespace hookwire::store
