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

#include "store/sqlite/sqlite_tx.h"

namespace hookwire::store {
namespace sqlite_rows {
namespace json = boost::json;

// ---- JSON columns (endpoint lists, secrets and headers; message channels)
// ----------------------------------
std::string to_json(const std::vector<std::string>& v);

std::string to_json(const std::map<std::string, std::string>& m);

std::string to_json(const std::vector<EndpointSecret>& secrets);

std::optional<std::string> to_json(const std::optional<std::vector<std::string>>& v);

// The store wrote these columns itself, so anything unparsable is corruption: report it, don't guess.
Result<json::value> parse(const std::string& text, std::string_view column);

Result<std::vector<std::string>> strings_from_json(const std::string& text, std::string_view column);

Result<std::optional<std::vector<std::string>>> opt_strings(const Stmt& s, int c, std::string_view column);

// ---- Rows
// ----------------------------------------------------------------------------------------------------

inline constexpr const char* kAppCols = "id, uid, name, throttle_rate, metadata, created_at, updated_at";

Result<Application> read_app(const Stmt& s);

inline constexpr const char* kEventTypeCols =
    "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at";

Result<EventType> read_event_type(const Stmt& s);

inline constexpr const char* kEndpointCols =
    "id, app_id, uid, url, description, disabled, rate_limit, event_types, channels, metadata, secrets, "
    "headers, created_at, updated_at, pull_only, thin, signature_headers";

Result<Endpoint> read_endpoint(const Stmt& s, int c = 0);

// `rowid` is the message's position in the feed.
inline constexpr const char* kMessageCols =
    "id, app_id, event_id, event_type, payload, channels, created_at, payload_expires_at, headers, rowid";

Result<Message> read_message(const Stmt& s, int c = 0);

inline constexpr const char* kAttemptCols =
    "id, app_id, msg_id, endpoint_id, url, status, response_status_code, response, response_duration_ms, "
    "trigger_type, created_at";

Result<Attempt> read_attempt(const Stmt& s);

inline constexpr const char* kDeliveryCols =
    "id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, manual";

Delivery read_delivery(const Stmt& s, int c = 0);

inline constexpr const char* kSourceCols = "id, uid, app_id, config, revision, created_at, updated_at";

Result<Source> read_source(const Stmt& s);

inline bool is_constraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

// Which unique key a constraint error names ("UNIQUE constraint failed: messages.app_id, messages.event_id").
bool names_column(sqlite3* db, std::string_view column);

// "a, b" with alias "t" -> "t.a, t.b": column lists of joined tables.
std::string prefixed(std::string_view cols, std::string_view alias);

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
const char* reported_status_sql(int status);

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
