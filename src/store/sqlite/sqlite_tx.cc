#include "store/sqlite/sqlite_tx.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"

namespace hookwire::store {
namespace json = boost::json;
namespace {

// ---- JSON columns (endpoint lists, secrets and headers; message channels)
// ----------------------------------

std::string to_json(const std::vector<std::string>& v) { return json::serialize(json::value_from(v)); }

std::string to_json(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return json::serialize(o);
}

std::string to_json(const std::vector<EndpointSecret>& secrets) {
  json::array a;
  for (const auto& s : secrets) {
    json::object o;
    o["key"] = s.key;
    if (s.expires_at) o["expires_at"] = unix_millis(*s.expires_at);
    a.push_back(std::move(o));
  }
  return json::serialize(a);
}

std::optional<std::string> to_json(const std::optional<std::vector<std::string>>& v) {
  if (!v) return std::nullopt;
  return to_json(*v);
}

// The store wrote these columns itself, so anything unparsable is corruption: report it, don't guess.
Result<json::value> parse(const std::string& text, std::string_view column) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  return v;
}

Result<std::vector<std::string>> strings_from_json(const std::string& text, std::string_view column) {
  auto v = parse(text, column);
  if (!v.ok()) return v.take_error();
  if (!v->is_array()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  std::vector<std::string> out;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
    out.emplace_back(e.as_string());
  }
  return out;
}

Result<std::optional<std::vector<std::string>>> opt_strings(const Stmt& s, int c, std::string_view column) {
  if (s.is_null(c)) return std::optional<std::vector<std::string>>();
  auto v = strings_from_json(s.text(c), column);
  if (!v.ok()) return v.take_error();
  return std::optional<std::vector<std::string>>(std::move(*v));
}

// ---- Rows
// ----------------------------------------------------------------------------------------------------

constexpr const char* kAppCols = "id, uid, name, throttle_rate, metadata, created_at, updated_at";
Result<Application> read_app(const Stmt& s) {
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

constexpr const char* kEventTypeCols =
    "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at";
Result<EventType> read_event_type(const Stmt& s) {
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

constexpr const char* kEndpointCols =
    "id, app_id, uid, url, description, disabled, rate_limit, event_types, channels, metadata, secrets, "
    "headers, created_at, updated_at, pull_only, thin, signature_headers";
Result<Endpoint> read_endpoint(const Stmt& s, int c = 0) {
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
  {
    auto v = parse(s.text(c + 10), "endpoints.secrets");
    if (!v.ok()) return v.take_error();
    if (!v->is_array()) return Error::internal("corrupt JSON in column endpoints.secrets");
    for (const auto& item : v->as_array()) {
      const auto* o = item.if_object();
      const auto* key = o ? o->if_contains("key") : nullptr;
      if (!key || !key->is_string()) return Error::internal("corrupt JSON in column endpoints.secrets");
      EndpointSecret secret;
      secret.key = std::string(key->as_string());
      if (const auto* exp = o->if_contains("expires_at"); exp && exp->is_int64()) {
        secret.expires_at = from_unix_millis(exp->as_int64());
      }
      e.secrets.push_back(std::move(secret));
    }
  }
  {
    auto v = parse(s.text(c + 11), "endpoints.headers");
    if (!v.ok()) return v.take_error();
    if (!v->is_object()) return Error::internal("corrupt JSON in column endpoints.headers");
    for (const auto& [k, val] : v->as_object()) {
      if (!val.is_string()) return Error::internal("corrupt JSON in column endpoints.headers");
      e.headers.emplace(std::string(k), std::string(val.as_string()));
    }
  }
  e.created_at = s.time(c + 12);
  e.updated_at = s.time(c + 13);
  e.pull_only = s.boolean(c + 14);
  e.thin = s.boolean(c + 15);
  e.signature_headers = s.opt_text(c + 16);
  return e;
}

// `rowid` is the message's position in the feed.
constexpr const char* kMessageCols =
    "id, app_id, event_id, event_type, payload, channels, created_at, payload_expires_at, headers, rowid";
Result<Message> read_message(const Stmt& s, int c = 0) {
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

constexpr const char* kAttemptCols =
    "id, app_id, msg_id, endpoint_id, url, status, response_status_code, response, response_duration_ms, "
    "trigger_type, created_at";
Result<Attempt> read_attempt(const Stmt& s) {
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
  return a;
}

constexpr const char* kDeliveryCols =
    "id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, manual";
Delivery read_delivery(const Stmt& s, int c = 0) {
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

constexpr const char* kSourceCols = "id, uid, app_id, config, revision, created_at, updated_at";
Result<Source> read_source(const Stmt& s) {
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

bool is_constraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

// Which unique key a constraint error names ("UNIQUE constraint failed: messages.app_id, messages.event_id").
bool names_column(sqlite3* db, std::string_view column) {
  return std::string_view(sqlite3_errmsg(db)).find(column) != std::string_view::npos;
}

// "a, b" with alias "t" -> "t.a, t.b": column lists of joined tables.
std::string prefixed(std::string_view cols, std::string_view alias) {
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
constexpr int kMessageColCount = 10;
constexpr int kEndpointColCount = 17;

// Only the latest delivery (highest id) of its (message, endpoint) pair; `d` is the deliveries alias.
constexpr const char* kLatestDelivery =
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
const char* reported_status_sql(int status) {
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

}  // namespace

namespace sqlite_rows {
const char* const kMessageColumns = kMessageCols;
static_assert(kMessageColumnCount == kMessageColCount);
Result<Message> read_message(const Stmt& s, int first_column) {
  return ::hookwire::store::read_message(s, first_column);
}
}  // namespace sqlite_rows

// ---- Helpers
// -------------------------------------------------------------------------------------------------

template <class Conflict>
Status SqliteTx::finish_write(Stmt& s, std::string_view what, Conflict conflict) {
  const int rc = s.step();
  if (rc == SQLITE_DONE) return {};
  if (is_constraint(rc)) return conflict();
  return conn_.error(what);
}

Status SqliteTx::finish_write(Stmt& s, std::string_view what) {
  const int rc = s.step();
  if (rc == SQLITE_DONE) return {};
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

// ---- Applications
// --------------------------------------------------------------------------------------------

Result<Application> SqliteTx::get_application(std::string_view id_or_uid) {
  static const std::string by_id = fmt::format("SELECT {} FROM applications WHERE id = ?", kAppCols);
  static const std::string by_uid = fmt::format("SELECT {} FROM applications WHERE uid = ?", kAppCols);
  std::string key(id_or_uid);
  if (auto it = applications_.find(key); it != applications_.end()) return it->second;
  auto app = get_by_id_or_uid(conn_, id_or_uid, "app_", by_id, by_uid, std::nullopt, read_app, "application");
  if (app.ok()) applications_.emplace(std::move(key), *app);
  return app;
}

Result<Page<Application>> SqliteTx::list_applications(const PageQuery& q) {
  return list<Application>({fmt::format("SELECT {} FROM applications WHERE 1 = 1", kAppCols), {}, "id"}, q,
                           read_app, [](const Application& a) { return a.id; });
}

Status SqliteTx::insert_application(const Application& app) {
  forget_cached();
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app.id);
  s.bind(2, app.uid);
  s.bind(3, app.name);
  s.bind(4, app.throttle_rate);
  s.bind(5, app.metadata);
  s.bind(6, app.created_at);
  s.bind(7, app.updated_at);
  return finish_write(s, "insert_application", [&] {
    return names_column(conn_.handle(), ".uid") ? Error::conflict("application uid already exists")
                                                : Error::conflict("application id already exists");
  });
}

Status SqliteTx::update_application(const Application& app) {
  forget_cached();
  auto stmt = conn_.prepare(
      "UPDATE applications SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, created_at = ?, "
      "updated_at = ? "
      "WHERE id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app.uid);
  s.bind(2, app.name);
  s.bind(3, app.throttle_rate);
  s.bind(4, app.metadata);
  s.bind(5, app.created_at);
  s.bind(6, app.updated_at);
  s.bind(7, app.id);
  auto st =
      finish_write(s, "update_application", [] { return Error::conflict("application uid already exists"); });
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("application not found");
  return st;
}

Status SqliteTx::delete_application(std::string_view id) {
  forget_cached();
  // Positions of the deleted messages are never given again, even after a reopen (feed_state.high_water).
  // Only when it has messages: a function that fails (unknown application) must change nothing, or its batch
  // is run again with savepoints.
  {
    auto stmt = conn_.prepare(
        "UPDATE feed_state SET high_water = max(high_water, (SELECT max(rowid) FROM messages)) WHERE EXISTS "
        "(SELECT 1 FROM messages WHERE app_id = ?)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, id);
    if (auto st = finish_write(s, "delete_application"); !st.ok()) return st;
  }
  // Dependants first; the application row last, so "not found" is decided by it.
  for (const char* sql :
       {"DELETE FROM attempts WHERE app_id = ?", "DELETE FROM deliveries WHERE app_id = ?",
        // message_keys holds hashes: its entries are found through the keys of the application's messages,
        // also those left pointing at an earlier holder of a key used again.
        "DELETE FROM message_keys WHERE hash IN (SELECT hookwire_key_hash(app_id, idempotency_key) FROM "
        "messages WHERE app_id = ?1 AND idempotency_key IS NOT NULL) AND (SELECT app_id FROM messages "
        "WHERE rowid = msg_rowid) = ?1",
        "DELETE FROM messages WHERE app_id = ?", "DELETE FROM endpoints WHERE app_id = ?",
        "DELETE FROM feed_consumers WHERE app_id = ?", "DELETE FROM api_tokens WHERE app_id = ?",
        "DELETE FROM applications WHERE id = ?"}) {
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, id);
    if (auto st = finish_write(s, "delete_application"); !st.ok()) return st;
  }
  if (sqlite3_changes(conn_.handle()) == 0) return Error::not_found("application not found");
  return {};
}

// ---- Event types
// ---------------------------------------------------------------------------------------------

Result<EventType> SqliteTx::get_event_type(std::string_view name) {
  static const std::string sql = fmt::format("SELECT {} FROM event_types WHERE name = ?", kEventTypeCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, name);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_event_type(s);
  if (rc == SQLITE_DONE) return Error::not_found("event type not found");
  return conn_.error("get_event_type");
}

Result<Page<EventType>> SqliteTx::list_event_types(const PageQuery& q, bool include_archived) {
  return list<EventType>({fmt::format("SELECT {} FROM event_types WHERE {}", kEventTypeCols,
                                      include_archived ? "1 = 1" : "archived = 0"),
                          {},
                          "name"},
                         q, read_event_type, [](const EventType& e) { return e.name; });
}

Status SqliteTx::insert_event_type(const EventType& et) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO event_types (name, description, archived, deprecated, feature_flag, schemas, "
      "created_at, "
      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, et.name);
  s.bind(2, et.description);
  s.bind(3, et.archived);
  s.bind(4, et.deprecated);
  s.bind(5, et.feature_flag);
  s.bind(6, et.schemas);
  s.bind(7, et.created_at);
  s.bind(8, et.updated_at);
  return finish_write(s, "insert_event_type",
                      [] { return Error::conflict("event type name already exists"); });
}

Status SqliteTx::update_event_type(const EventType& et) {
  auto stmt = conn_.prepare(
      "UPDATE event_types SET description = ?, archived = ?, deprecated = ?, feature_flag = ?, schemas = ?, "
      "created_at = ?, updated_at = ? WHERE name = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, et.description);
  s.bind(2, et.archived);
  s.bind(3, et.deprecated);
  s.bind(4, et.feature_flag);
  s.bind(5, et.schemas);
  s.bind(6, et.created_at);
  s.bind(7, et.updated_at);
  s.bind(8, et.name);
  auto st = finish_write(s, "update_event_type");
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("event type not found");
  return st;
}

Status SqliteTx::delete_event_type(std::string_view name) {
  auto stmt = conn_.prepare("DELETE FROM event_types WHERE name = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, name);
  auto st = finish_write(s, "delete_event_type");
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("event type not found");
  return st;
}

// ---- Endpoints
// -----------------------------------------------------------------------------------------------

Result<Endpoint> SqliteTx::get_endpoint(std::string_view app_id, std::string_view id_or_uid) {
  static const std::string by_id =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND id = ?", kEndpointCols);
  static const std::string by_uid =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND uid = ?", kEndpointCols);
  return get_by_id_or_uid(
      conn_, id_or_uid, "ep_", by_id, by_uid, app_id, [](const Stmt& s) { return read_endpoint(s); },
      "endpoint");
}

Result<std::vector<Endpoint>> SqliteTx::list_enabled_endpoints(std::string_view app_id) {
  std::string key(app_id);
  if (auto it = enabled_endpoints_.find(key); it != enabled_endpoints_.end()) return it->second;
  static const std::string sql =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND disabled = 0 ORDER BY id", kEndpointCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  std::vector<Endpoint> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto ep = read_endpoint(s);
    if (!ep.ok()) return ep.take_error();
    out.push_back(std::move(*ep));
  }
  if (rc != SQLITE_DONE) return conn_.error("list_enabled_endpoints");
  enabled_endpoints_.emplace(std::move(key), out);
  return out;
}

Result<Page<Endpoint>> SqliteTx::list_endpoints(std::string_view app_id, const PageQuery& q) {
  return list<Endpoint>(
      {fmt::format("SELECT {} FROM endpoints WHERE app_id = ?", kEndpointCols), {app_id}, "id"}, q,
      [](const Stmt& s) { return read_endpoint(s); }, [](const Endpoint& e) { return e.id; });
}

namespace {
// The endpoint columns after (id, app_id), in the order both statements below list them. The JSON texts live
// here because parameters are bound without copying: keep this alive until the statement has run.
struct EndpointColumns {
  explicit EndpointColumns(const Endpoint& ep)
      : ep(ep),
        event_types(to_json(ep.event_types)),
        channels(to_json(ep.channels)),
        secrets(to_json(ep.secrets)),
        headers(to_json(ep.headers)) {}
  // Binds the 15 columns to parameters first .. first + 14.
  void bind(Stmt& s, int first) const {
    s.bind(first, ep.uid);
    s.bind(first + 1, ep.url);
    s.bind(first + 2, ep.description);
    s.bind(first + 3, ep.disabled);
    s.bind(first + 4, ep.rate_limit);
    s.bind(first + 5, event_types);
    s.bind(first + 6, channels);
    s.bind(first + 7, ep.metadata);
    s.bind(first + 8, secrets);
    s.bind(first + 9, headers);
    s.bind(first + 10, ep.created_at);
    s.bind(first + 11, ep.updated_at);
    s.bind(first + 12, ep.pull_only);
    s.bind(first + 13, ep.thin);
    s.bind(first + 14, ep.signature_headers);
  }
  const Endpoint& ep;
  const std::optional<std::string> event_types, channels;  // nullopt: no filter (NULL)
  const std::string secrets, headers;
};
}  // namespace

Status SqliteTx::insert_endpoint(const Endpoint& ep) {
  forget_cached();
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO endpoints (id, app_id, uid, url, description, disabled, rate_limit, event_types, "
      "channels, metadata, secrets, headers, created_at, updated_at, pull_only, thin, signature_headers) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  const EndpointColumns columns(ep);
  Stmt s(*stmt);
  s.bind(1, ep.id);
  s.bind(2, ep.app_id);
  columns.bind(s, 3);
  return finish_write(s, "insert_endpoint", [&] {
    return names_column(conn_.handle(), ".uid")
               ? Error::conflict("endpoint uid already exists in this application")
               : Error::conflict("endpoint id already exists");
  });
}

Status SqliteTx::update_endpoint(const Endpoint& ep) {
  forget_cached();
  auto stmt = conn_.prepare(
      "UPDATE endpoints SET uid = ?, url = ?, description = ?, disabled = ?, rate_limit = ?, event_types = "
      "?, "
      "channels = ?, metadata = ?, secrets = ?, headers = ?, created_at = ?, updated_at = ?, pull_only = ?, "
      "thin = ?, signature_headers = ? WHERE id = ? AND app_id = ?");
  if (!stmt.ok()) return stmt.take_error();
  const EndpointColumns columns(ep);
  Stmt s(*stmt);
  columns.bind(s, 1);
  s.bind(16, ep.id);
  s.bind(17, ep.app_id);
  auto st = finish_write(s, "update_endpoint",
                         [] { return Error::conflict("endpoint uid already exists in this application"); });
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("endpoint not found");
  return st;
}

Status SqliteTx::delete_endpoint(std::string_view app_id, std::string_view id) {
  forget_cached();
  // The endpoint's attempts stay: they are part of its messages' delivery history. Its feed consumers and
  // the poller tokens that read it go with it.
  bool first = true;
  for (const char* sql : {"DELETE FROM endpoints WHERE app_id = ? AND id = ?",
                          "DELETE FROM feed_consumers WHERE app_id = ? AND endpoint_id = ?",
                          "DELETE FROM api_tokens WHERE app_id = ? AND endpoint_id = ?"}) {
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, id);
    if (auto st = finish_write(s, "delete_endpoint"); !st.ok()) return st;
    if (first && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("endpoint not found");
    first = false;
  }
  return {};
}

// ---- Messages
// ------------------------------------------------------------------------------------------------

// Single-row inserts say OR FAIL: SQLite checks every constraint of a row before writing any of it, so a
// conflict changes nothing, exactly as with the default ABORT; but ABORT makes SQLite open a statement
// journal (a copy of every page the statement touches) for inserts that write a table and its indexes, which
// was the largest cost of the write path.
std::string MessageSequence::next_id(TimePoint created_at) {
  std::string id = new_id(id_prefix::kMessage, created_at);
  if (id <= last_id) id = id_after(last_id);
  last_id = id;
  return id;
}

Status SqliteTx::insert_message(Message& msg) {
  if (msg.idempotency_key) {
    // Keys are not in a unique index (see recent_keys.h): a held key is found first.
    auto held = get_message_by_idempotency_key(msg.app_id, *msg.idempotency_key);
    if (held.ok()) return Error::conflict("message idempotency key already used in this application");
    if (held.error().code != Errc::kNotFound) return held.take_error();
  }
  // The hot path: one cached statement, parameters bound in place, JSON only when channels are present.
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO messages (id, app_id, event_id, event_type, payload, channels, created_at, "
      "idempotency_key, request_hash, rowid, payload_expires_at, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
      "?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  std::optional<std::string> channels;
  if (msg.channels) channels = to_json(*msg.channels);
  Stmt s(*stmt);
  std::string id =
      sequence_ ? sequence_->next_id(msg.created_at) : new_id(id_prefix::kMessage, msg.created_at);
  s.bind(1, id);
  s.bind(2, msg.app_id);
  s.bind(3, msg.event_id);
  s.bind(4, msg.event_type);
  s.bind(5, msg.payload);
  s.bind(6, channels);
  s.bind(7, msg.created_at);
  s.bind(8, msg.idempotency_key);
  if (msg.idempotency_key) {
    s.bind(9, msg.request_hash);
  } else {
    s.bind_null(9);
  }
  // The writer's rowids only increase, even past deleted rows (SQLite's own choice, one above the largest,
  // would reuse them): the keys above the fold's mark are what a restart reads back (recent_keys.h).
  if (sequence_) {
    s.bind(10, sequence_->next_rowid++);
  } else {
    s.bind_null(10);
  }
  s.bind(11, msg.payload_expires_at);
  s.bind(12, msg.headers);
  auto st = finish_write(s, "insert_message", [&] {
    if (names_column(conn_.handle(), ".event_id"))
      return Error::conflict("message eventId already exists in this application");
    return Error::conflict("message id already exists");
  });
  if (!st.ok()) return st;
  msg.id = std::move(id);
  const int64_t msg_rowid = sqlite3_last_insert_rowid(conn_.handle());
  note_feed_insert(msg.app_id, msg_rowid);
  if (!msg.idempotency_key) return {};
  pending_keys_.push_back({RecentKeys::entry_key(msg.app_id, *msg.idempotency_key), msg_rowid});
  return {};
}

Result<std::vector<int64_t>> SqliteTx::key_hints(std::string_view app_id, std::string_view key) {
  using Hints = std::vector<int64_t>;
  const std::string k = RecentKeys::entry_key(app_id, key);
  const uint64_t hash = RecentKeys::hash(k);  // the filter's and the index's
  if (keys_) {
    for (auto it = pending_keys_.rbegin(); it != pending_keys_.rend(); ++it)
      if (it->entry_key == k) return Hints{it->msg_rowid};
    if (auto rowid = keys_->find(k)) return Hints{*rowid};
    if (!keys_->maybe_indexed(hash)) return Hints{};
  } else {
    // Not the writer, so no memory of the keys not folded yet: look among the messages above the fold's mark
    // (a scan of the newest rows, but no hot path reads keys off the writer).
    auto stmt = conn_.prepare(
        "SELECT rowid FROM messages WHERE rowid > (SELECT folded_up_to FROM message_keys_state) AND "
        "app_id = ?1 AND idempotency_key = ?2 ORDER BY rowid DESC LIMIT 1");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, key);
    const int rc = s.step();
    if (rc == SQLITE_ROW) return Hints{s.int64(0)};
    if (rc != SQLITE_DONE) return conn_.error("get_message_by_idempotency_key");
  }
  // The index: every message whose key hashes alike, newest first (one, unless the key was used again after
  // its TTL or two keys share a hash).
  auto stmt = conn_.prepare("SELECT msg_rowid FROM message_keys WHERE hash = ? ORDER BY msg_rowid DESC");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, static_cast<int64_t>(hash));
  Hints hints;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) hints.push_back(s.int64(0));
  if (rc != SQLITE_DONE) return conn_.error("get_message_by_idempotency_key");
  return hints;
}

Result<Message> SqliteTx::get_message_by_idempotency_key(std::string_view app_id, std::string_view key) {
  auto hints = key_hints(app_id, key);
  if (!hints.ok()) return hints.take_error();
  // A hint holds only if the row still has this application and key.
  static const std::string sql = fmt::format(
      "SELECT {}, idempotency_key, request_hash FROM messages WHERE rowid = ? AND app_id = ? AND "
      "idempotency_key = ?",
      kMessageCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  for (const int64_t rowid : *hints) {
    Stmt s(*stmt);
    s.bind(1, rowid);
    s.bind(2, app_id);
    s.bind(3, key);
    const int rc = s.step();
    if (rc == SQLITE_DONE) continue;
    if (rc != SQLITE_ROW) return conn_.error("get_message_by_idempotency_key");
    auto msg = read_message(s);
    if (!msg.ok()) return msg;
    msg->idempotency_key = s.opt_text(kMessageColCount);
    msg->request_hash = s.text(kMessageColCount + 1);
    return msg;
  }
  return Error::not_found("no message with this idempotency key");
}

Status SqliteTx::fold_keys(const RecentKeys::FoldStep& step) {
  if (step.folded_up_to) {
    auto stmt = conn_.prepare("UPDATE message_keys_state SET folded_up_to = max(folded_up_to, ?)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, *step.folded_up_to);
    if (auto st = finish_write(s, "fold_keys"); !st.ok()) return st;
  }
  if (step.begin == step.end) return {};
  // OR IGNORE: a step offered again after its transaction failed may find some of its entries there.
  auto stmt = conn_.prepare("INSERT OR IGNORE INTO message_keys (hash, msg_rowid) VALUES (?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  for (auto it = step.begin; it != step.end; ++it) {
    Stmt s(*stmt);
    s.bind(1, static_cast<int64_t>(it->hash));
    s.bind(2, it->entry->second);
    if (auto st = finish_write(s, "fold_keys"); !st.ok()) return st;
  }
  return {};
}

Status SqliteTx::clear_message_idempotency_key(std::string_view app_id, std::string_view msg_id) {
  auto stmt = conn_.prepare(
      "UPDATE messages SET idempotency_key = NULL, request_hash = NULL WHERE app_id = ? AND id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, msg_id);
  return finish_write(s, "clear_message_idempotency_key");
}

Result<Tx::ExpungeBatch> SqliteTx::expunge_payloads_after(std::string_view app_id, std::string_view after_id,
                                                          int limit) {
  ExpungeBatch out;
  // The batch's last id first (the primary key in id order), then the payloads up to it that still have one.
  auto last = conn_.prepare(
      "SELECT max(id) FROM (SELECT id FROM messages WHERE app_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3)");
  if (!last.ok()) return last.take_error();
  {
    Stmt s(*last);
    s.bind(1, app_id);
    s.bind(2, after_id);
    s.bind(3, static_cast<int64_t>(std::max(1, limit)));
    if (s.step() != SQLITE_ROW) return conn_.error("expunge_payloads_after");
    if (s.is_null(0)) return out;  // no message after `after_id`: done
    out.last_id = s.text(0);
  }
  auto stmt = conn_.prepare(
      "UPDATE messages SET payload = '' WHERE app_id = ?1 AND id > ?2 AND id <= ?3 AND payload <> ''");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, after_id);
  s.bind(3, *out.last_id);
  if (auto st = finish_write(s, "expunge_payloads_after"); !st.ok()) return st.error();
  out.expunged = static_cast<int>(sqlite3_changes(conn_.handle()));
  return out;
}

Status SqliteTx::expunge_message_payload(std::string_view app_id, std::string_view msg_id) {
  auto stmt = conn_.prepare("UPDATE messages SET payload = '' WHERE app_id = ? AND id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, msg_id);
  if (auto st = finish_write(s, "expunge_message_payload"); !st.ok()) return st;
  if (sqlite3_changes(conn_.handle()) == 0) return Error::not_found("message not found");
  return {};
}

Result<Message> SqliteTx::get_message(std::string_view app_id, std::string_view id_or_event_id) {
  static const std::string by_id =
      fmt::format("SELECT {} FROM messages WHERE app_id = ? AND id = ?", kMessageCols);
  static const std::string by_event_id =
      fmt::format("SELECT {} FROM messages WHERE app_id = ? AND event_id = ?", kMessageCols);
  for (const std::string* sql : {&by_id, &by_event_id}) {
    auto stmt = conn_.prepare(*sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, id_or_event_id);
    const int rc = s.step();
    if (rc == SQLITE_ROW) return read_message(s);
    if (rc != SQLITE_DONE) return conn_.error("get_message");
  }
  return Error::not_found("message not found");
}

Result<Page<Message>> SqliteTx::list_messages(std::string_view app_id, const MessageQuery& q) {
  ListQuery lq{fmt::format("SELECT {} FROM messages WHERE app_id = ?", kMessageCols), {app_id}, "id"};
  if (q.before) {
    lq.select += " AND created_at < ?";
    lq.binds.emplace_back(unix_millis(*q.before));
  }
  if (q.after) {
    lq.select += " AND created_at > ?";
    lq.binds.emplace_back(unix_millis(*q.after));
  }
  if (!q.event_types.empty()) {
    lq.select += " AND event_type IN (";
    for (size_t i = 0; i < q.event_types.size(); ++i) {
      lq.select += i ? ", ?" : "?";
      lq.binds.emplace_back(std::string_view(q.event_types[i]));
    }
    lq.select += ")";
  }
  if (q.channel) {
    lq.select += " AND EXISTS (SELECT 1 FROM json_each(messages.channels) WHERE json_each.value = ?)";
    lq.binds.emplace_back(std::string_view(*q.channel));
  }
  return list<Message>(
      std::move(lq), q.page, [](const Stmt& s) { return read_message(s); },
      [](const Message& m) { return m.id; });
}

// ---- Attempts
// ------------------------------------------------------------------------------------------------

Status SqliteTx::insert_attempt(const Attempt& a) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code, "
      "response, "
      "response_duration_ms, trigger_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, a.id);
  s.bind(2, a.app_id);
  s.bind(3, a.msg_id);
  s.bind(4, a.endpoint_id);
  s.bind(5, a.url);
  s.bind(6, a.status);
  s.bind(7, a.response_status_code);
  s.bind(8, a.response);
  s.bind(9, a.response_duration_ms);
  s.bind(10, a.trigger_type);
  s.bind(11, a.created_at);
  return finish_write(s, "insert_attempt", [] { return Error::conflict("attempt id already exists"); });
}

Result<Attempt> SqliteTx::get_attempt(std::string_view app_id, std::string_view msg_id,
                                      std::string_view attempt_id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM attempts WHERE app_id = ? AND msg_id = ? AND id = ?", kAttemptCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, msg_id);
  s.bind(3, attempt_id);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_attempt(s);
  if (rc != SQLITE_DONE) return conn_.error("get_attempt");
  return Error::not_found("attempt not found");
}

Status SqliteTx::expunge_attempt_response(std::string_view app_id, std::string_view msg_id,
                                          std::string_view attempt_id) {
  auto stmt = conn_.prepare("UPDATE attempts SET response = '' WHERE app_id = ? AND msg_id = ? AND id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, msg_id);
  s.bind(3, attempt_id);
  if (auto st = finish_write(s, "expunge_attempt_response"); !st.ok()) return st;
  if (sqlite3_changes(conn_.handle()) == 0) return Error::not_found("attempt not found");
  return {};
}

namespace {
// The attempt listings' SQL: attempts `a`, joined to their messages `m` only when a filter needs them.
void add_attempt_filters(std::string& sql, std::vector<std::variant<std::string_view, int64_t>>& binds,
                         const AttemptQuery& q) {
  if (q.status) {
    sql += " AND a.status = ?";
    binds.emplace_back(int64_t{*q.status});
  }
  if (q.status_code_class) {
    if (*q.status_code_class == 0) {
      sql += " AND a.response_status_code = 0";
    } else {
      sql += " AND a.response_status_code >= ? AND a.response_status_code < ?";
      binds.emplace_back(int64_t{*q.status_code_class});
      binds.emplace_back(int64_t{*q.status_code_class} + 100);
    }
  }
  add_time_and_message_filters(sql, binds, "a.created_at", q.before, q.after, q.event_types, q.channel);
}

std::string attempt_select(const AttemptQuery& q) {
  const bool join = !q.event_types.empty() || q.channel;
  return fmt::format("SELECT {} FROM attempts a{} WHERE a.app_id = ?", prefixed(kAttemptCols, "a"),
                     join ? " JOIN messages m ON m.app_id = a.app_id AND m.id = a.msg_id" : "");
}
}  // namespace

Result<Page<Attempt>> SqliteTx::list_attempts_by_message(std::string_view app_id, std::string_view msg_id,
                                                         const AttemptQuery& q) {
  ListQuery lq{attempt_select(q) + " AND a.msg_id = ?", {app_id, msg_id}, "a.id"};
  if (q.endpoint_id) {
    lq.select += " AND a.endpoint_id = ?";
    lq.binds.emplace_back(std::string_view(*q.endpoint_id));
  }
  add_attempt_filters(lq.select, lq.binds, q);
  return list<Attempt>(std::move(lq), q.page, read_attempt, [](const Attempt& a) { return a.id; });
}

Result<Page<Attempt>> SqliteTx::list_attempts_by_endpoint(std::string_view app_id,
                                                          std::string_view endpoint_id,
                                                          const AttemptQuery& q) {
  ListQuery lq{attempt_select(q) + " AND a.endpoint_id = ?", {app_id, endpoint_id}, "a.id"};
  add_attempt_filters(lq.select, lq.binds, q);
  return list<Attempt>(std::move(lq), q.page, read_attempt, [](const Attempt& a) { return a.id; });
}

// ---- Idempotency
// ---------------------------------------------------------------------------------------------

Result<IdempotencyRecord> SqliteTx::get_idempotency(std::string_view key) {
  auto stmt =
      conn_.prepare("SELECT key, request_hash, status, body, created_at FROM idempotency WHERE key = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, key);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return Error::not_found("idempotency record not found");
  if (rc != SQLITE_ROW) return conn_.error("get_idempotency");
  IdempotencyRecord r;
  r.key = s.text(0);
  r.request_hash = s.text(1);
  r.status = static_cast<int>(s.int64(2));
  r.body = s.text(3);
  r.created_at = s.time(4);
  return r;
}

Status SqliteTx::put_idempotency(const IdempotencyRecord& rec) {
  auto stmt = conn_.prepare(
      "INSERT OR REPLACE INTO idempotency (key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, "
      "?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, rec.key);
  s.bind(2, rec.request_hash);
  s.bind(3, rec.status);
  s.bind(4, rec.body);
  s.bind(5, rec.created_at);
  return finish_write(s, "put_idempotency");
}

// ---- Deliveries
// ---------------------------------------------------------------------------------------------

Status SqliteTx::insert_delivery(const Delivery& d) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, "
      "created_at, updated_at, manual) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, d.id);
  s.bind(2, d.app_id);
  s.bind(3, d.msg_id);
  s.bind(4, d.endpoint_id);
  s.bind(5, d.status);
  s.bind(6, d.attempts);
  s.bind(7, d.next_attempt_at);
  s.bind(8, d.created_at);
  s.bind(9, d.updated_at);
  s.bind(10, d.manual);
  return finish_write(s, "insert_delivery", [] { return Error::conflict("delivery id already exists"); });
}

Status SqliteTx::update_delivery(const Delivery& d) {
  // By rowid when the delivery carries one (checked against the id: a rowid is only a hint), else by id.
  auto update = [&](bool by_row) -> Result<int> {
    auto stmt = conn_.prepare(by_row ? "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
                                       "updated_at = ?, manual = ? WHERE id = ? AND rowid = ?"
                                     : "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
                                       "updated_at = ?, manual = ? WHERE id = ?");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, d.status);
    s.bind(2, d.attempts);
    s.bind(3, d.next_attempt_at);
    s.bind(4, d.updated_at);
    s.bind(5, d.manual);
    s.bind(6, d.id);
    if (by_row) s.bind(7, d.row);
    if (auto st = finish_write(s, "update_delivery"); !st.ok()) return st.take_error();
    return sqlite3_changes(conn_.handle());
  };
  if (d.row != 0) {
    auto changed = update(true);
    if (!changed.ok()) return changed.take_error();
    if (*changed == 1) return {};
  }
  auto changed = update(false);
  if (!changed.ok()) return changed.take_error();
  if (*changed == 0) return Error::not_found("delivery not found");
  return {};
}

Result<std::vector<DueDelivery>> SqliteTx::claim_due_deliveries(TimePoint now, TimePoint lease_until,
                                                                int limit, int per_endpoint) {
  static const std::vector<int64_t> none;
  auto scan = find_due_deliveries(now, limit, per_endpoint, none);
  if (!scan.ok()) return scan.take_error();
  // Every row is written by its rowid (no lookup of the id in the primary key's index).
  auto stmt =
      conn_.prepare("UPDATE deliveries SET status = ?, next_attempt_at = ?, updated_at = ? WHERE rowid = ?");
  if (!stmt.ok()) return stmt.take_error();
  auto write_row = [&](const Delivery& d) -> Status {
    Stmt s(*stmt);
    s.bind(1, d.status);
    s.bind(2, d.next_attempt_at);
    s.bind(3, d.updated_at);
    s.bind(4, d.row);
    return finish_write(s, "claim_due_deliveries");
  };
  for (Delivery& d : scan->passed_over) {
    d.next_attempt_at = now;  // behind the queue; updated_at unchanged
    if (auto st = write_row(d); !st.ok()) return st.take_error();
  }
  for (Delivery& d : scan->orphaned) {
    d.status = Delivery::kFailed;
    d.updated_at = now;
    if (auto st = write_row(d); !st.ok()) return st.take_error();
  }
  for (DueDelivery& due : scan->due) {
    Delivery& d = due.delivery;
    d.status = Delivery::kSending;
    d.next_attempt_at = lease_until;
    d.updated_at = now;
    if (auto st = write_row(d); !st.ok()) return st.take_error();
  }
  return std::move(scan->due);
}

Result<DueScan> SqliteTx::find_due_deliveries(TimePoint now, int limit, int per_endpoint,
                                              const std::vector<int64_t>& held) {
  // Walks the due deliveries oldest first through the live-deliveries index, taking at most `per_endpoint`
  // of any one endpoint, and reads at most a bounded window of them (so a claim costs the same whatever the
  // backlog). Each row comes with its message (one statement, not one lookup per row; NULL when the message
  // is gone; an expunged payload counts as gone) and its rowid. Rows the caller holds are skipped on the
  // index entry, before their table row is read.
  static const std::string sql = fmt::format(
      "SELECT d.rowid, {}, {} FROM deliveries d LEFT JOIN messages m ON m.app_id = d.app_id AND m.id = "
      "d.msg_id WHERE d.status IN (1, 3) AND d.next_attempt_at <= ?1 AND NOT held_row(?3, d.rowid) ORDER BY "
      "d.next_attempt_at LIMIT ?2",
      prefixed(kDeliveryCols, "d"), prefixed(kMessageCols, "m"));
  constexpr int kDeliveryColCount = 10;
  const int64_t window = int64_t{limit} * 4 + per_endpoint;
  DueScan out;
  // One lookup per endpoint per scan; its deliveries share the result.
  std::unordered_map<std::string, Result<std::shared_ptr<const Endpoint>>> endpoints;
  auto endpoint = [&](const Delivery& d) -> const Result<std::shared_ptr<const Endpoint>>& {
    auto cached = endpoints.find(d.endpoint_id);
    if (cached == endpoints.end()) {
      auto read = get_endpoint(d.app_id, d.endpoint_id);
      auto shared =
          read.ok()
              ? Result<std::shared_ptr<const Endpoint>>(std::make_shared<const Endpoint>(std::move(*read)))
              : Result<std::shared_ptr<const Endpoint>>(read.error());
      cached = endpoints.emplace(d.endpoint_id, std::move(shared)).first;
    }
    return cached->second;
  };
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, now);
  s.bind(2, window);
  s.bind_rows(3, held);
  std::unordered_map<std::string, int> taken;
  int rc = SQLITE_DONE;
  while (static_cast<int>(out.due.size()) < limit && (rc = s.step()) == SQLITE_ROW) {
    Delivery d = read_delivery(s, 1);
    d.row = s.int64(0);
    if (++taken[d.endpoint_id] > per_endpoint) {
      if (d.next_attempt_at < now) out.passed_over.push_back(std::move(d));
      continue;
    }
    const auto& ep = endpoint(d);
    if (s.is_null(1 + kDeliveryColCount) || !ep.ok()) {
      if (!ep.ok() && ep.error().code != Errc::kNotFound) return ep.error();
      out.orphaned.push_back(std::move(d));  // its message or endpoint was deleted: nothing left to send
      continue;
    }
    if ((*ep)->disabled) {  // Svix: attempts to a disabled endpoint stop (recover them once it is enabled)
      out.orphaned.push_back(std::move(d));
      continue;
    }
    auto msg = read_message(s, 1 + kDeliveryColCount);
    if (!msg.ok()) return msg.take_error();
    if (msg->payload.empty()) {  // expunged: nothing left to send either
      out.orphaned.push_back(std::move(d));
      continue;
    }
    out.due.push_back(DueDelivery{std::move(d), std::move(*msg), *ep});
  }
  if (static_cast<int>(out.due.size()) < limit && rc != SQLITE_DONE)
    return conn_.error("find_due_deliveries");
  return out;
}

Result<int> SqliteTx::requeue_failed_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                                TimePoint since, TimePoint until, TimePoint now) {
  auto stmt = conn_.prepare(
      "UPDATE deliveries AS d SET status = 1, attempts = 0, next_attempt_at = ?, updated_at = ?, manual = 1 "
      "WHERE d.app_id = ? AND d.endpoint_id = ? AND d.status = 2 AND d.created_at >= ? AND d.created_at < ?" +
      std::string(kLatestDelivery));
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, now);
  s.bind(2, now);
  s.bind(3, app_id);
  s.bind(4, endpoint_id);
  s.bind(5, since);
  s.bind(6, until);
  if (auto st = finish_write(s, "requeue_failed_deliveries"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
}

Result<EndpointHealthRecord> SqliteTx::get_endpoint_health(std::string_view endpoint_id) {
  auto stmt = conn_.prepare(
      "SELECT first_failure_at, last_success_at, consecutive_failures FROM endpoint_health WHERE endpoint_id "
      "= ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, endpoint_id);
  EndpointHealthRecord h;
  const int rc = s.step();
  if (rc == SQLITE_DONE) return h;
  if (rc != SQLITE_ROW) return conn_.error("get_endpoint_health");
  if (!s.is_null(0)) h.first_failure_at = s.time(0);
  if (!s.is_null(1)) h.last_success_at = s.time(1);
  h.consecutive_failures = s.int64(2);
  return h;
}

Status SqliteTx::put_endpoint_health(std::string_view endpoint_id, const EndpointHealthRecord& h) {
  auto stmt = conn_.prepare(
      "INSERT OR REPLACE INTO endpoint_health (endpoint_id, first_failure_at, last_success_at, "
      "consecutive_failures) VALUES (?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, endpoint_id);
  s.bind(2, h.first_failure_at);
  s.bind(3, h.last_success_at);
  s.bind(4, h.consecutive_failures);
  return finish_write(s, "put_endpoint_health");
}

Result<int> SqliteTx::release_all_leases(TimePoint now) {
  auto stmt =
      // `status IN (1, 3)` lets SQLite use the due index (which covers status) instead of the whole table.
      conn_.prepare(
          "UPDATE deliveries SET status = 1, next_attempt_at = ?, updated_at = ? WHERE status IN (1, 3) AND "
          "status = 3");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, now);
  s.bind(2, now);
  if (auto st = finish_write(s, "release_all_leases"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
}

Result<DeliveryQueueStats> SqliteTx::delivery_queue_stats(TimePoint now, const std::vector<int64_t>& held) {
  // O(1) in the queue's size: pending and sending are the counters the triggers of `delivery_counts` keep
  // (schema 12), the due count stops at kDueCountLimit (plus the held rows it must not count), the oldest due
  // is the due index's first entry not held; then the held rows (a few hundred at most) are looked up one by
  // one and moved from pending and due to sending.
  DeliveryQueueStats out;
  {
    auto stmt = conn_.prepare(
        "SELECT (SELECT n FROM delivery_counts WHERE status = 1), (SELECT n FROM delivery_counts WHERE "
        "status = 3)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    if (s.step() != SQLITE_ROW) return conn_.error("delivery_queue_stats");
    out.pending = s.int64(0);
    out.sending = s.int64(1);
  }
  {
    auto stmt = conn_.prepare(
        "SELECT count(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_due WHERE status IN (1, 3) AND "
        "next_attempt_at <= ?1 LIMIT ?2)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, now);
    s.bind(2, kDueCountLimit + static_cast<int64_t>(held.size()));
    if (s.step() != SQLITE_ROW) return conn_.error("delivery_queue_stats");
    out.due = s.int64(0);
  }
  {
    auto stmt = conn_.prepare(
        "SELECT next_attempt_at FROM deliveries INDEXED BY deliveries_due WHERE status IN (1, 3) AND "
        "next_attempt_at <= ?1 AND NOT held_row(?2, rowid) ORDER BY next_attempt_at LIMIT 1");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, now);
    s.bind_rows(2, held);
    const int rc = s.step();
    if (rc == SQLITE_ROW) out.oldest_due = s.time(0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("delivery_queue_stats");
  }
  auto stmt = conn_.prepare("SELECT status, next_attempt_at FROM deliveries WHERE rowid = ?");
  if (!stmt.ok()) return stmt.take_error();
  for (const int64_t row : held) {
    Stmt s(*stmt);
    s.bind(1, row);
    const int rc = s.step();
    if (rc == SQLITE_DONE) continue;  // deleted meanwhile
    if (rc != SQLITE_ROW) return conn_.error("delivery_queue_stats");
    if (s.int64(0) != Delivery::kPending) continue;  // recorded meanwhile (or leased in the store: counted)
    --out.pending;
    ++out.sending;
    if (s.time(1) <= now) --out.due;
  }
  // A count that reached its limit says "at least kDueCountLimit" (held rows or not).
  out.due = std::min(out.due, kDueCountLimit);
  return out;
}

Result<std::vector<Delivery>> SqliteTx::list_deliveries_by_message(std::string_view app_id,
                                                                   std::string_view msg_id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM deliveries WHERE app_id = ? AND msg_id = ? ORDER BY id", kDeliveryCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, msg_id);
  std::vector<Delivery> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_delivery(s));
  if (rc != SQLITE_DONE) return conn_.error("list_deliveries_by_message");
  return out;
}

namespace {
Result<MessageDelivery> read_message_delivery(const Stmt& s) {
  auto m = read_message(s);
  if (!m.ok()) return m.take_error();
  return MessageDelivery{std::move(*m), read_delivery(s, kMessageColCount)};
}
}  // namespace

Result<Page<MessageDelivery>> SqliteTx::list_endpoint_messages(std::string_view app_id,
                                                               std::string_view endpoint_id,
                                                               const DeliveryQuery& q) {
  ListQuery lq{
      fmt::format("SELECT {}, {} FROM deliveries d JOIN messages m ON m.app_id = d.app_id AND m.id = "
                  "d.msg_id WHERE d.app_id = ? AND d.endpoint_id = ?{}",
                  prefixed(kMessageCols, "m"), prefixed(kDeliveryCols, "d"), kLatestDelivery),
      {app_id, endpoint_id},
      "d.msg_id"};
  if (q.status) lq.select += reported_status_sql(*q.status);
  add_message_filters(lq.select, lq.binds, q);
  return list<MessageDelivery>(std::move(lq), q.page, read_message_delivery,
                               [](const MessageDelivery& md) { return md.message.id; });
}

Result<Page<EndpointDelivery>> SqliteTx::list_message_endpoints(std::string_view app_id,
                                                                std::string_view msg_id, const PageQuery& q) {
  ListQuery lq{
      fmt::format("SELECT {}, {} FROM deliveries d JOIN endpoints e ON e.app_id = d.app_id AND e.id = "
                  "d.endpoint_id WHERE d.app_id = ? AND d.msg_id = ?{}",
                  prefixed(kEndpointCols, "e"), prefixed(kDeliveryCols, "d"), kLatestDelivery),
      {app_id, msg_id},
      "d.endpoint_id"};
  return list<EndpointDelivery>(
      std::move(lq), q,
      [](const Stmt& s) -> Result<EndpointDelivery> {
        auto e = read_endpoint(s);
        if (!e.ok()) return e.take_error();
        return EndpointDelivery{std::move(*e), read_delivery(s, kEndpointColCount)};
      },
      [](const EndpointDelivery& ed) { return ed.endpoint.id; });
}

Result<DeliveryCounts> SqliteTx::count_endpoint_deliveries(std::string_view app_id,
                                                           std::string_view endpoint_id,
                                                           std::optional<TimePoint> since,
                                                           std::optional<TimePoint> until) {
  std::string sql = fmt::format(
      "SELECT COALESCE(SUM(d.status = 0), 0), COALESCE(SUM(d.status IN (1, 3) AND d.attempts = 0), 0), "
      "COALESCE(SUM(d.status IN (1, 3) AND d.attempts > 0), 0), COALESCE(SUM(d.status = 2), 0) "
      "FROM deliveries d WHERE d.app_id = ? AND d.endpoint_id = ?{}{}{}",
      kLatestDelivery, since ? " AND d.created_at >= ?" : "", until ? " AND d.created_at < ?" : "");
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  int i = 1;
  s.bind(i++, app_id);
  s.bind(i++, endpoint_id);
  if (since) s.bind(i++, *since);
  if (until) s.bind(i++, *until);
  if (s.step() != SQLITE_ROW) return conn_.error("count_endpoint_deliveries");
  return DeliveryCounts{s.int64(0), s.int64(1), s.int64(2), s.int64(3)};
}

Result<Page<MessageDelivery>> SqliteTx::list_failed_deliveries(std::string_view app_id,
                                                               const DeliveryQuery& q) {
  ListQuery lq{
      fmt::format("SELECT {}, {} FROM deliveries d JOIN messages m ON m.app_id = d.app_id AND m.id = "
                  "d.msg_id WHERE d.app_id = ? AND d.status = 2{}",
                  prefixed(kMessageCols, "m"), prefixed(kDeliveryCols, "d"), kLatestDelivery),
      {app_id},
      "d.id"};
  add_message_filters(lq.select, lq.binds, q);
  return list<MessageDelivery>(std::move(lq), q.page, read_message_delivery,
                               [](const MessageDelivery& md) { return md.delivery.id; });
}

Status SqliteTx::purge_idempotency(TimePoint created_before) {
  auto stmt = conn_.prepare("DELETE FROM idempotency WHERE created_at < ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, created_before);
  return finish_write(s, "purge_idempotency");
}

// ---- Inbound sources
// -----------------------------------------------------------------------------------------

Result<Source> SqliteTx::get_source(std::string_view id_or_uid) {
  static const std::string by_id = fmt::format("SELECT {} FROM sources WHERE id = ?", kSourceCols);
  static const std::string by_uid = fmt::format("SELECT {} FROM sources WHERE uid = ?", kSourceCols);
  return get_by_id_or_uid(conn_, id_or_uid, "src_", by_id, by_uid, std::nullopt, read_source, "source");
}

Result<Page<Source>> SqliteTx::list_sources(const PageQuery& q) {
  return list<Source>({fmt::format("SELECT {} FROM sources WHERE 1 = 1", kSourceCols), {}, "id"}, q,
                      read_source, [](const Source& src) { return src.id; });
}

Status SqliteTx::insert_source(const Source& src) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO sources (id, uid, app_id, config, revision, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, src.id);
  s.bind(2, src.uid);
  s.bind(3, src.app_id);
  s.bind(4, src.config);
  s.bind(5, src.revision);
  s.bind(6, src.created_at);
  s.bind(7, src.updated_at);
  return finish_write(s, "insert_source", [&] {
    return names_column(conn_.handle(), ".uid") ? Error::conflict("source uid already exists")
                                                : Error::conflict("source id already exists");
  });
}

Status SqliteTx::update_source(const Source& src) {
  auto stmt = conn_.prepare(
      "UPDATE sources SET uid = ?, app_id = ?, config = ?, revision = ?, created_at = ?, updated_at = ? "
      "WHERE id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, src.uid);
  s.bind(2, src.app_id);
  s.bind(3, src.config);
  s.bind(4, src.revision);
  s.bind(5, src.created_at);
  s.bind(6, src.updated_at);
  s.bind(7, src.id);
  auto st = finish_write(s, "update_source", [] { return Error::conflict("source uid already exists"); });
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("source not found");
  return st;
}

Status SqliteTx::delete_source(std::string_view id) {
  auto stmt = conn_.prepare("DELETE FROM sources WHERE id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, id);
  auto st = finish_write(s, "delete_source");
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("source not found");
  return st;
}

// ---- Background tasks (Svix's QueueBackgroundTask, kept with their results) and the usage statistics
// ---------------------------------------------------------------------------------------------------------
namespace {

constexpr const char* kTaskCols = "id, task, status, data, created_at, updated_at";
Result<BackgroundTask> read_task(const Stmt& s) {
  BackgroundTask t;
  t.id = s.text(0);
  t.task = s.text(1);
  t.status = s.text(2);
  t.data = s.text(3);
  t.created_at = s.time(4);
  t.updated_at = s.time(5);
  return t;
}

}  // namespace

Status SqliteTx::insert_background_task(const BackgroundTask& t) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO background_tasks (id, task, status, data, created_at, updated_at) VALUES (?, ?, "
      "?, "
      "?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, t.id);
  s.bind(2, t.task);
  s.bind(3, t.status);
  s.bind(4, t.data);
  s.bind(5, t.created_at);
  s.bind(6, t.updated_at);
  return finish_write(s, "insert_background_task",
                      [] { return Error::conflict("background task id already exists"); });
}

Result<BackgroundTask> SqliteTx::get_background_task(std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM background_tasks WHERE id = ?", kTaskCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, id);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_task(s);
  if (rc != SQLITE_DONE) return conn_.error("get_background_task");
  return Error::not_found("background task not found");
}

Result<Page<BackgroundTask>> SqliteTx::list_background_tasks(const BackgroundTaskQuery& q) {
  ListQuery lq{fmt::format("SELECT {} FROM background_tasks WHERE 1 = 1", kTaskCols), {}, "id"};
  if (q.status) {
    lq.select += " AND status = ?";
    lq.binds.emplace_back(std::string_view(*q.status));
  }
  if (q.task) {
    lq.select += " AND task = ?";
    lq.binds.emplace_back(std::string_view(*q.task));
  }
  return list<BackgroundTask>(std::move(lq), q.page, read_task, [](const BackgroundTask& t) { return t.id; });
}

Result<int> SqliteTx::prune_background_tasks(TimePoint cutoff, int limit) {
  auto stmt = conn_.prepare(
      "DELETE FROM background_tasks WHERE id IN (SELECT id FROM background_tasks WHERE created_at < ? ORDER "
      "BY "
      "created_at LIMIT ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, cutoff);
  s.bind(2, int64_t{std::max(1, limit)});
  if (auto st = finish_write(s, "prune_background_tasks"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
}

Result<AppUsage> SqliteTx::app_usage(std::string_view app_id, TimePoint since, TimePoint until) {
  auto stmt = conn_.prepare(
      "SELECT (SELECT count(*) FROM messages WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3), "
      "(SELECT count(*) FROM deliveries WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, since);
  s.bind(3, until);
  if (s.step() != SQLITE_ROW) return conn_.error("app_usage");
  return AppUsage{s.int64(0), s.int64(1)};
}

Result<std::vector<EventTypeUsage>> SqliteTx::event_type_usage() {
  auto stmt = conn_.prepare(
      "SELECT event_type, count(*), count(DISTINCT app_id), max(created_at) FROM messages GROUP BY "
      "event_type "
      "ORDER BY event_type");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  std::vector<EventTypeUsage> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(EventTypeUsage{s.text(0), s.int64(1), s.int64(2), s.time(3)});
  if (rc != SQLITE_DONE) return conn_.error("event_type_usage");
  return out;
}

}  // namespace hookwire::store
