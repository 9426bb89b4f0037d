// What the SqliteTx files share (sqlite_tx.cc, sqlite_endpoints.cc, sqlite_messages.cc, sqlite_deliveries.cc,
// sqlite_sources.cc, sqlite_feed.cc): each table's column list and row reader, the JSON columns, SQL
// fragments, and SqliteTx's statement helpers (paging, writes that map constraint errors). Internal to the
// SQLite store.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/json_columns.h"
#include "store/sqlite/sqlite_tx.h"

namespace hookwire::store {
namespace sqlite_rows {
namespace json = boost::json;

// ---- JSON columns (endpoint lists, secrets and headers; message channels): store/json_columns.h
// ----------------------------------
using json_columns::parse;
using json_columns::strings_from_json;
using json_columns::to_json;

inline Result<std::optional<std::vector<std::string>>> opt_strings(const Stmt& s, int c,
                                                                   std::string_view column) {
  if (s.is_null(c)) return std::optional<std::vector<std::string>>();
  auto v = strings_from_json(s.text(c), column);
  if (!v.ok()) return v.take_error();
  return std::optional<std::vector<std::string>>(std::move(*v));
}

// ---- Rows
// ----------------------------------------------------------------------------------------------------

inline constexpr const char* kAppCols = "id, uid, name, throttle_rate, metadata, created_at, updated_at";

inline Result<Application> read_app(const Stmt& s) {
  Application a;
  a.id = s.text(0);
  a.uid = s.opt_text(1);
  a.name = s.text(2);
  a.throttle_rate = s.opt_int64(3);
  a.metadata = s.text(4);
  a.created_at = s.time(5);
  a.updated_at = s.time(6);
  return a;
}

inline constexpr const char* kEventTypeCols =
    "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at";

inline Result<EventType> read_event_type(const Stmt& s) {
  EventType e;
  e.name = s.text(0);
  e.description = s.text(1);
  e.archived = s.boolean(2);
  e.deprecated = s.boolean(3);
  e.feature_flag = s.opt_text(4);
  e.schemas = s.opt_text(5);
  e.created_at = s.time(6);
  e.updated_at = s.time(7);
  return e;
}

inline constexpr const char* kEndpointCols =
    "id, app_id, uid, url, description, disabled, rate_limit, event_types, channels, metadata, secrets, "
    "headers, created_at, updated_at, pull_only, thin, signature_headers";

inline Result<Endpoint> read_endpoint(const Stmt& s, int c = 0) {
  Endpoint e;
  e.id = s.text(c + 0);
  e.app_id = s.text(c + 1);
  e.uid = s.opt_text(c + 2);
  e.url = s.text(c + 3);
  e.description = s.text(c + 4);
  e.disabled = s.boolean(c + 5);
  e.rate_limit = s.opt_int64(c + 6);
  auto event_types = opt_strings(s, c + 7, "endpoints.event_types");
  if (!event_types.ok()) return event_types.take_error();
  e.event_types = std::move(*event_types);
  auto channels = opt_strings(s, c + 8, "endpoints.channels");
  if (!channels.ok()) return channels.take_error();
  e.channels = std::move(*channels);
  e.metadata = s.text(c + 9);
  auto secrets = json_columns::secrets_from_json(s.view(c + 10));
  if (!secrets.ok()) return secrets.take_error();
  e.secrets = std::move(*secrets);
  auto headers = json_columns::headers_from_json(s.view(c + 11));
  if (!headers.ok()) return headers.take_error();
  e.headers = std::move(*headers);
  e.created_at = s.time(c + 12);
  e.updated_at = s.time(c + 13);
  e.pull_only = s.boolean(c + 14);
  e.thin = s.boolean(c + 15);
  e.signature_headers = s.opt_text(c + 16);
  return e;
}

// `rowid` is the message's position in the feed.
inline constexpr const char* kMessageCols =
    "id, app_id, event_id, event_type, payload, channels, created_at, payload_expires_at, headers, rowid";

inline Result<Message> read_message(const Stmt& s, int c = 0) {
  Message m;
  m.id = s.text(c + 0);
  m.app_id = s.text(c + 1);
  m.event_id = s.opt_text(c + 2);
  m.event_type = s.text(c + 3);
  m.payload = s.text(c + 4);
  auto channels = opt_strings(s, c + 5, "messages.channels");
  if (!channels.ok()) return channels.take_error();
  m.channels = std::move(*channels);
  m.created_at = s.time(c + 6);
  if (!s.is_null(c + 7)) m.payload_expires_at = s.time(c + 7);
  m.headers = s.opt_text(c + 8);
  m.position = s.int64(c + 9);
  return m;
}

inline constexpr const char* kAttemptCols =
    "id, app_id, msg_id, endpoint_id, url, status, response_status_code, response, response_duration_ms, "
    "trigger_type, created_at, request_headers";

inline Result<Attempt> read_attempt(const Stmt& s) {
  Attempt a;
  a.id = s.text(0);
  a.app_id = s.text(1);
  a.msg_id = s.text(2);
  a.endpoint_id = s.text(3);
  a.url = s.text(4);
  a.status = static_cast<int>(s.int64(5));
  a.response_status_code = static_cast<int>(s.int64(6));
  a.response = s.text(7);
  a.response_duration_ms = s.int64(8);
  a.trigger_type = static_cast<int>(s.int64(9));
  a.created_at = s.time(10);
  a.request_headers = s.text(11);  // NULL (none) reads as empty
  return a;
}

inline constexpr const char* kDeliveryCols =
    "id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, manual";

inline Delivery read_delivery(const Stmt& s, int c = 0) {
  Delivery d;
  d.id = s.text(c + 0);
  d.app_id = s.text(c + 1);
  d.msg_id = s.text(c + 2);
  d.endpoint_id = s.text(c + 3);
  d.status = static_cast<int>(s.int64(c + 4));
  d.attempts = static_cast<int>(s.int64(c + 5));
  d.next_attempt_at = s.time(c + 6);
  d.created_at = s.time(c + 7);
  d.updated_at = s.time(c + 8);
  d.manual = s.boolean(c + 9);
  return d;
}

inline constexpr const char* kSourceCols = "id, uid, app_id, config, revision, created_at, updated_at";

inline Result<Source> read_source(const Stmt& s) {
  Source src;
  src.id = s.text(0);
  src.uid = s.opt_text(1);
  src.app_id = s.text(2);
  src.config = s.text(3);
  src.revision = s.int64(4);
  src.created_at = s.time(5);
  src.updated_at = s.time(6);
  return src;
}

inline bool is_constraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

// Which unique key a constraint error names ("UNIQUE constraint failed: messages.app_id, messages.event_id").
inline bool names_column(sqlite3* db, std::string_view column) {
  return std::string_view(sqlite3_errmsg(db)).find(column) != std::string_view::npos;
}

// "a, b" with alias "t" -> "t.a, t.b": column lists of joined tables.
inline std::string prefixed(std::string_view cols, std::string_view alias) {
  std::string out;
  while (!cols.empty()) {
    auto comma = cols.find(',');
    auto col = cols.substr(0, comma);
    while (col.starts_with(' ')) col.remove_prefix(1);
    if (!out.empty()) out += ", ";
    fmt::format_to(std::back_inserter(out), "{}.{}", alias, col);
    cols = comma == std::string_view::npos ? std::string_view{} : cols.substr(comma + 1);
  }
  return out;
}

inline constexpr int kMessageColCount = 10;

inline constexpr int kEndpointColCount = 17;

// Only the latest delivery (highest id) of its (message, endpoint) pair; `d` is the deliveries alias.
inline constexpr const char* kLatestDelivery =
    " AND d.id = (SELECT MAX(x.id) FROM deliveries x WHERE x.app_id = d.app_id AND x.endpoint_id = "
    "d.endpoint_id AND x.msg_id = d.msg_id)";

// Appends the filters the delivery and attempt listings share: `time_column` before/after, and the message's
// (alias `m`) event type and channel.
template <class Binds>
void add_time_and_message_filters(std::string& sql, Binds& binds, std::string_view time_column,
                                  const std::optional<TimePoint>& before,
                                  const std::optional<TimePoint>& after,
                                  const std::vector<std::string>& event_types,
                                  const std::optional<std::string>& channel) {
  if (before) {
    fmt::format_to(std::back_inserter(sql), " AND {} < ?", time_column);
    binds.emplace_back(unix_millis(*before));
  }
  if (after) {
    fmt::format_to(std::back_inserter(sql), " AND {} > ?", time_column);
    binds.emplace_back(unix_millis(*after));
  }
  if (!event_types.empty()) {
    sql += " AND m.event_type IN (";
    for (size_t i = 0; i < event_types.size(); ++i) {
      sql += i ? ", ?" : "?";
      binds.emplace_back(std::string_view(event_types[i]));
    }
    sql += ")";
  }
  if (channel) {
    sql += " AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE json_each.value = ?)";
    binds.emplace_back(std::string_view(*channel));
  }
}

// Appends the message filters of a DeliveryQuery (messages alias `m`, deliveries `d`).
template <class Binds>
void add_message_filters(std::string& sql, Binds& binds, const DeliveryQuery& q) {
  add_time_and_message_filters(sql, binds, "m.created_at", q.before, q.after, q.event_types, q.channel);
}

// The SQL condition for a reported status (see reported_status in model.h) of deliveries alias `d`.
inline const char* reported_status_sql(int status) {
  switch (status) {
    case Delivery::kPending:
      return " AND d.status IN (1, 3) AND d.attempts = 0";
    case Delivery::kSending:
      return " AND d.status IN (1, 3) AND d.attempts > 0";
    case Delivery::kSuccess:
      return " AND d.status = 0";
    default:
      return " AND d.status = 2";
  }
}

// A point lookup by id, then by uid — or uid first when the key does not carry the id prefix. Two indexed
// lookups rather than one `id = ? OR uid = ?` query: the OR form needs a sorter to prefer the id match, which
// cost more than both lookups together on the ingest path. `scope` (an application id) is bound first when
// the queries take one.
template <class Read>
auto get_by_id_or_uid(Connection& conn, std::string_view id_or_uid, std::string_view id_prefix,
                      const std::string& by_id, const std::string& by_uid,
                      std::optional<std::string_view> scope, Read read, std::string_view what)
    -> decltype(read(std::declval<const Stmt&>())) {
  const bool looks_like_id = id_or_uid.starts_with(id_prefix);
  for (const std::string* sql : {looks_like_id ? &by_id : &by_uid, looks_like_id ? &by_uid : &by_id}) {
    auto stmt = conn.prepare(*sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    int param = 1;
    if (scope) s.bind(param++, *scope);
    s.bind(param, id_or_uid);
    const int rc = s.step();
    if (rc == SQLITE_ROW) return read(s);
    if (rc != SQLITE_DONE) return conn.error(fmt::format("get_{}", what));
  }
  return Error::not_found(fmt::format("{} not found", what));
}

// The message columns under the names sqlite_feed.cc uses.
inline constexpr const char* kMessageColumns = kMessageCols;
inline constexpr int kMessageColumnCount = kMessageColCount;

}  // namespace sqlite_rows

template <class Conflict>
Status SqliteTx::finish_write(Stmt& s, std::string_view what, Conflict conflict) {
  const int rc = s.step();
  if (rc == SQLITE_DONE) return {};
  if (sqlite_rows::is_constraint(rc)) return conflict();
  return conn_.error(what);
}

// Cursor paging (see PageQuery): a plain iterator is an exclusive bound in the list's order; "-key" asks for
// the page just before `key`, which is read in reverse order and flipped back. One extra row tells whether
// more items lie beyond the page in the direction of travel (`done`).
template <class T, class ReadRow, class KeyOf>
Result<Page<T>> SqliteTx::list(ListQuery lq, const PageQuery& q, ReadRow read_row, KeyOf key_of) {
  const int limit = std::max(1, q.limit);
  const bool backward = q.iterator && !q.iterator->empty() && (*q.iterator)[0] == '-';
  std::string_view bound;
  if (q.iterator) bound = backward ? std::string_view(*q.iterator).substr(1) : std::string_view(*q.iterator);
  const bool ascending = (q.order == Order::kAscending) != backward;  // the order rows are read in
  std::string& sql = lq.select;
  if (q.iterator) {
    fmt::format_to(std::back_inserter(sql), " AND {} {} ?", lq.key, ascending ? ">" : "<");
    lq.binds.emplace_back(bound);
  }
  fmt::format_to(std::back_inserter(sql), " ORDER BY {} {} LIMIT ?", lq.key, ascending ? "ASC" : "DESC");
  lq.binds.emplace_back(int64_t{limit} + 1);

  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  for (size_t i = 0; i < lq.binds.size(); ++i) {
    std::visit([&](auto v) { s.bind(static_cast<int>(i + 1), v); }, lq.binds[i]);
  }
  Page<T> page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (page.items.size() == static_cast<size_t>(limit)) {
      page.done = false;
      break;
    }
    auto row = read_row(s);
    if (!row.ok()) return row.take_error();
    page.items.push_back(std::move(*row));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("list");
  if (backward) std::reverse(page.items.begin(), page.items.end());
  if (!page.items.empty()) {
    page.iterator = key_of(page.items.back());
    page.prev_iterator = "-" + key_of(page.items.front());
  }
  return page;
}

}  // namespace hookwire::store
