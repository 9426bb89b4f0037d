#include "store/sqlite/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "store/sqlite/recent_keys.h"

namespace hookwire::store {

namespace {
// held_row(rows, rowid): whether `rowid` is in `rows`, a sorted std::vector<int64_t> bound with
// Stmt::bind_rows (SQLite's pointer-passing interface; a NULL or foreign pointer is the empty set). Lets a
// query skip the rows the caller holds while walking an index, before the table row is read.
void held_row(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto* rows = static_cast<const std::vector<int64_t>*>(sqlite3_value_pointer(argv[0], kRowsPointer));
  const int64_t rowid = sqlite3_value_int64(argv[1]);
  sqlite3_result_int(ctx, rows && std::binary_search(rows->begin(), rows->end(), rowid) ? 1 : 0);
}

// hookwire_key_hash(app_id, key): what message_keys stores of a key (RecentKeys::hash), as a signed integer.
void key_hash(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto text = [](sqlite3_value* v) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
    return std::string_view(p ? p : "", static_cast<size_t>(sqlite3_value_bytes(v)));
  };
  const uint64_t h = RecentKeys::hash(RecentKeys::entry_key(text(argv[0]), text(argv[1])));
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(h));
}
}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, const Options& options) {
  // SQLite's memory statistics (on by default) take a global mutex around every one of its allocations, which
  // cost the writer about 5 % of its instructions; nothing reads them. A process-wide setting that only takes
  // effect before SQLite initialises, i.e. before the first connection is opened (later calls are refused,
  // harmlessly).
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  sqlite3* db = nullptr;
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error::internal(fmt::format("cannot open database {}: {}", path, msg));
  }
  std::unique_ptr<Connection> conn(new Connection(db, options.faults));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  sqlite3_create_function_v2(db, "held_row", 2, SQLITE_UTF8 | SQLITE_INNOCUOUS, nullptr, held_row, nullptr,
                             nullptr, nullptr);
  sqlite3_create_function_v2(db, "hookwire_key_hash", 2,
                             SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, nullptr, key_hash,
                             nullptr, nullptr, nullptr);
  // Foreign keys stay off: the store deletes dependants explicitly (delete_application), and the hot insert
  // path should not pay for parent lookups.
  const std::string pragmas =
      fmt::format("PRAGMA synchronous={}; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{};",
                  options.full_sync ? "FULL" : "NORMAL", options.cache_kib);
  if (auto st = conn->exec(pragmas.c_str()); !st.ok()) {
    return Error::internal(fmt::format("cannot configure database {}: {}", path, st.error().detail));
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Result<sqlite3_stmt*> Connection::prepare(std::string_view sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
    return error(fmt::format("prepare \"{}\"", sql));
  }
  cache_.emplace(std::string(sql), stmt);
  return stmt;
}

Status Connection::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    Error e = Error::internal(msg ? msg : sqlite3_errmsg(db_));
    sqlite3_free(msg);
    return e;
  }
  return {};
}

Status Connection::run(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  const int rc = s.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return error(sql);
  return {};
}

Error Connection::error(std::string_view what) const {
  const int code = sqlite3_extended_errcode(db_);
  const FaultLog::Kind kind = FaultLog::classify(code);
  if (faults_) faults_->failed(kind, what, sqlite3_errmsg(db_));
  switch (kind) {
    case FaultLog::Kind::kFull:
      return Error::unavailable(
          "storage full: the server cannot store anything more until disk space is freed");
    case FaultLog::Kind::kStorage:
      return Error::unavailable("storage error: the server cannot read or write its database (see its log)");
    case FaultLog::Kind::kOther:
      break;
  }
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
    return Error::unavailable("store busy: try again");
  return Error::internal("internal store error (see the server log)");
}

Error Connection::detailed_error(std::string_view what) const {
  return Error::internal(fmt::format("sqlite: {}: {}", what, sqlite3_errmsg(db_)));
}

}  // namespace hookwire::store
