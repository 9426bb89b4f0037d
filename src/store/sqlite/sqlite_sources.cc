// SqliteTx: inbound sources; background tasks and the usage statistics.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store {
namespace json = boost::json;
using namespace sqlite_rows;  // NOLINT: the files of one implementation

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
  if (!st.ok()) return st;
  auto requests = conn_.prepare("DELETE FROM source_requests WHERE source_id = ?");
  if (!requests.ok()) return requests.take_error();
  Stmt r(*requests);
  r.bind(1, id);
  return finish_write(r, "delete_source (its requests)");
}

// ---- The requests a source was sent (inbound/request_log.h)
// -----------------------------------------------------------------------------------------
namespace {

constexpr const char* kSourceRequestCols =
    "id, source_id, received_at, status, outcome, code, reason, client_address, method, path, headers, body, "
    "body_truncated, body_base64, message_id";

Result<SourceRequest> read_source_request(const Stmt& s) {
  SourceRequest r;
  r.id = s.text(0);
  r.source_id = s.text(1);
  r.received_at = s.time(2);
  r.status = static_cast<int>(s.int64(3));
  r.outcome = s.text(4);
  r.code = s.opt_text(5);
  r.reason = s.opt_text(6);
  r.client_address = s.text(7);
  r.method = s.text(8);
  r.path = s.text(9);
  r.headers = s.text(10);
  r.body = s.text(11);
  r.body_truncated = s.boolean(12);
  r.body_base64 = s.boolean(13);
  r.message_id = s.opt_text(14);
  return r;
}

}  // namespace

Status SqliteTx::insert_source_request(const SourceRequest& r, int keep) {
  {
    auto stmt = conn_.prepare(
        "INSERT OR FAIL INTO source_requests (id, source_id, received_at, status, outcome, code, reason, "
        "client_address, method, path, headers, body, body_truncated, body_base64, message_id) VALUES (?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, r.id);
    s.bind(2, r.source_id);
    s.bind(3, r.received_at);
    s.bind(4, r.status);
    s.bind(5, r.outcome);
    s.bind(6, r.code);
    s.bind(7, r.reason);
    s.bind(8, r.client_address);
    s.bind(9, r.method);
    s.bind(10, r.path);
    s.bind(11, r.headers);
    s.bind(12, r.body);
    s.bind(13, r.body_truncated);
    s.bind(14, r.body_base64);
    s.bind(15, r.message_id);
    if (auto st = finish_write(s, "insert_source_request",
                               [] { return Error::conflict("source request id already exists"); });
        !st.ok())
      return st;
  }
  // The newest `keep` stay: everything below the keep-th newest id goes (nothing while there are fewer).
  auto stmt = conn_.prepare(
      "DELETE FROM source_requests WHERE source_id = ?1 AND id < (SELECT id FROM source_requests WHERE "
      "source_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, r.source_id);
  s.bind(2, int64_t{std::max(1, keep) - 1});
  return finish_write(s, "insert_source_request (bound)");
}

Result<SourceRequest> SqliteTx::get_source_request(std::string_view source_id, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM source_requests WHERE id = ? AND source_id = ?", kSourceRequestCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, id);
  s.bind(2, source_id);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_source_request(s);
  if (rc != SQLITE_DONE) return conn_.error("get_source_request");
  return Error::not_found("source request not found");
}

Result<Page<SourceRequest>> SqliteTx::list_source_requests(std::string_view source_id,
                                                           const SourceRequestQuery& q) {
  ListQuery lq{fmt::format("SELECT {} FROM source_requests WHERE source_id = ?", kSourceRequestCols),
               {source_id},
               "id"};
  if (q.outcome) {
    lq.select += " AND outcome = ?";
    lq.binds.emplace_back(std::string_view(*q.outcome));
  }
  return list<SourceRequest>(std::move(lq), q.page, read_source_request,
                             [](const SourceRequest& r) { return r.id; });
}

Result<int> SqliteTx::prune_source_requests(int limit) {
  auto stmt = conn_.prepare(
      "DELETE FROM source_requests WHERE id IN (SELECT r.id FROM source_requests r WHERE NOT EXISTS (SELECT "
      "1 FROM sources s WHERE s.id = r.source_id) LIMIT ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, int64_t{std::max(1, limit)});
  if (auto st = finish_write(s, "prune_source_requests"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
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

Result<std::string> SqliteTx::setting_or_put(std::string_view name, std::string_view value) {
  {
    auto stmt = conn_.prepare("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, name);
    s.bind(2, value);
    if (auto st = finish_write(s, "setting_or_put"); !st.ok()) return st.take_error();
  }
  auto stmt = conn_.prepare("SELECT value FROM settings WHERE name = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, name);
  if (s.step() != SQLITE_ROW) return conn_.error("setting_or_put");
  return std::string(s.text(0));
}

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
