// SqliteTx: applications and event types. The statement helpers are in sqlite_tx_parts.h; the other
// entities in sqlite_endpoints.cc, sqlite_messages.cc (messages, attempts, idempotency),
// sqlite_deliveries.cc, sqlite_sources.cc (inbound sources, background tasks and usage) and sqlite_feed.cc.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store {
namespace json = boost::json;
using namespace sqlite_rows;  // NOLINT: the files of one implementation

Status SqliteTx::finish_write(Stmt& s, std::string_view what) {
  const int rc = s.step();
  if (rc == SQLITE_DONE) return {};
  return conn_.error(what);
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

}  // namespace hookwire::store
