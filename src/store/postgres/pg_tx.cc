// PgTx: running statements, the function hooks, the feed sequence; applications and event types. The other
// entities are in pg_endpoints.cc, pg_messages.cc, pg_deliveries.cc, pg_sources.cc and pg_feed.cc.
#include <fmt/format.h>

#include <algorithm>

#include "store/postgres/pg_tx_parts.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

// ---- Statements
// ----------------------------------------------------------------------------------------------

Result<PgResult> PgTx::note(Result<PgResult> r) {
  if (!r.ok() && !failure_) {
    failure_ = r.error();
    failure_sqlstate_ = conn_.last_sqlstate();
  }
  return r;
}

Result<PgResult> PgTx::run(const Statement& st, const Params& params) {
  const std::string name(st.name);
  if (!conn_.prepared(name)) {
    if (auto prepared = conn_.prepare(name, st.sql); !prepared.ok()) {
      if (!failure_) {
        failure_ = prepared.error();
        failure_sqlstate_ = conn_.last_sqlstate();
      }
      return prepared.take_error();
    }
  }
  return note(conn_.exec_prepared(name, params));
}

Result<PgResult> PgTx::run(const Query& q) { return note(conn_.exec(q.sql(), q.params())); }

Result<int64_t> PgTx::change(const Statement& st, const Params& params) {
  auto r = run(st, params);
  if (!r.ok()) return r.take_error();
  changes_ += r->affected();
  return r->affected();
}

Result<int64_t> PgTx::change(const Query& q) {
  auto r = run(q);
  if (!r.ok()) return r.take_error();
  changes_ += r->affected();
  return r->affected();
}

// ---- The store's hooks
// ---------------------------------------------------------------------------------------

void PgTx::begin_function() {
  sequence_mark_ = sequence_;
  feed_apps_mark_ = feed_apps_.size();
  feed_max_mark_ = feed_max_;
}

void PgTx::function_rolled_back() {
  applications_.clear();
  enabled_endpoints_.clear();
  failure_.reset();
  failure_sqlstate_.clear();
  // A lock taken inside the function went with its savepoint: the row is read again when next needed.
  sequence_ = sequence_mark_.locked ? sequence_mark_ : Sequence{};
  feed_apps_.resize(feed_apps_mark_);
  feed_max_ = feed_max_mark_;
}

void PgTx::feed_apps_dedup() {
  if (feed_apps_.size() <= kFeedAppsScan) return;  // kept distinct as they came
  std::sort(feed_apps_.begin(), feed_apps_.end());
  feed_apps_.erase(std::unique(feed_apps_.begin(), feed_apps_.end()), feed_apps_.end());
}

void PgTx::note_feed_insert(std::string_view app_id, int64_t position) {
  if (position > feed_max_) feed_max_ = position;
  if (!feed_apps_.empty() && feed_apps_.back() == app_id) return;
  if (feed_apps_.size() <= kFeedAppsScan) {
    for (const auto& a : feed_apps_)
      if (a == app_id) return;
  }
  feed_apps_.emplace_back(app_id);
}

Status PgTx::lock_sequence() {
  if (sequence_.locked) return {};
  static constexpr Statement kLock{"lock_feed_sequence",
                                   "SELECT head, last_id FROM feed_sequence WHERE id = 0 FOR UPDATE"};
  auto r = run(kLock, Params());
  if (!r.ok()) return r.take_error();
  if (r->rows() != 1) return Error::internal("postgres: feed_sequence must hold one row");
  sequence_.locked = true;
  sequence_.head = sequence_.start = r->int64(0, 0);
  sequence_.last_id = std::string(r->text(0, 1));
  sequence_.changed = false;
  return {};
}

Status PgTx::finish_sequence() {
  if (!sequence_.changed) return {};
  static constexpr Statement kWrite{
      "write_feed_sequence", "UPDATE feed_sequence SET head = $1::bigint, last_id = $2::text WHERE id = 0"};
  Params p;
  p.int64(sequence_.head).text(sequence_.last_id);
  auto r = run(kWrite, p);
  if (!r.ok()) return r.take_error();
  return {};
}

// ---- Applications
// --------------------------------------------------------------------------------------------

Result<Application> PgTx::get_application(std::string_view id_or_uid) {
  static const std::string by_id = fmt::format("SELECT {} FROM applications WHERE id = $1::text", kAppCols);
  static const std::string by_uid = fmt::format("SELECT {} FROM applications WHERE uid = $1::text", kAppCols);
  static const Statement kById{"get_application_by_id", by_id};
  static const Statement kByUid{"get_application_by_uid", by_uid};
  std::string key(id_or_uid);
  if (auto it = applications_.find(key); it != applications_.end()) return it->second;
  const bool looks_like_id = id_or_uid.starts_with("app_");
  Params p;
  p.text(id_or_uid);
  for (const Statement* st : {looks_like_id ? &kById : &kByUid, looks_like_id ? &kByUid : &kById}) {
    auto r = run(*st, p);
    if (!r.ok()) return r.take_error();
    if (r->rows() == 0) continue;
    auto app = read_app(*r, 0);
    if (app.ok()) applications_.emplace(std::move(key), *app);
    return app;
  }
  return Error::not_found("application not found");
}

Result<Page<Application>> PgTx::list_applications(const PageQuery& q) {
  return list<Application>(Query(fmt::format("SELECT {} FROM applications WHERE true", kAppCols)), "id", q,
                           read_app, [](const Application& a) { return a.id; });
}

Result<bool> PgTx::uid_taken(std::string_view table, std::optional<std::string_view> app_id,
                             std::string_view uid, std::string_view id) {
  Query q(fmt::format("SELECT EXISTS (SELECT 1 FROM {} WHERE uid = ", table));
  q.text(uid);
  if (app_id) {
    q << " AND app_id = ";
    q.text(*app_id);
  }
  q << " AND id <> ";
  q.text(id);
  q << ")";
  auto r = run(q);
  if (!r.ok()) return r.take_error();
  return r->boolean(0, 0);
}

Status PgTx::insert_application(const Application& app) {
  applications_.clear();
  static constexpr Statement kInsert{
      "insert_application",
      "INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) VALUES "
      "($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::bigint, $7::bigint) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(app.id).text(app.uid).text(app.name).int64(app.throttle_rate).text(app.metadata);
  p.int64(unix_millis(app.created_at)).int64(unix_millis(app.updated_at));
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 1) return {};
  if (app.uid) {
    auto taken = uid_taken("applications", std::nullopt, *app.uid, app.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("application uid already exists");
  }
  return Error::conflict("application id already exists");
}

Status PgTx::update_application(const Application& app) {
  applications_.clear();
  if (app.uid) {
    auto taken = uid_taken("applications", std::nullopt, *app.uid, app.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("application uid already exists");
  }
  static constexpr Statement kUpdate{
      "update_application",
      "UPDATE applications SET uid = $1::text, name = $2::text, throttle_rate = $3::bigint, metadata = "
      "$4::text, created_at = $5::bigint, updated_at = $6::bigint WHERE id = $7::text"};
  Params p;
  p.text(app.uid).text(app.name).int64(app.throttle_rate).text(app.metadata);
  p.int64(unix_millis(app.created_at)).int64(unix_millis(app.updated_at)).text(app.id);
  auto n = change(kUpdate, p);
  if (!n.ok())
    return n.error().code == Errc::kConflict ? Error::conflict("application uid already exists")
                                             : n.take_error();
  if (*n == 0) return Error::not_found("application not found");
  return {};
}

Status PgTx::delete_application(std::string_view id) {
  applications_.clear();
  enabled_endpoints_.clear();
  // Dependants first; the application row last, so "not found" is decided by it. Positions of the deleted
  // messages are never given again: feed_sequence.head does not go down.
  Params p;
  p.text(id);
  for (const Statement& st :
       {Statement{"delete_application_attempts", "DELETE FROM attempts WHERE app_id = $1::text"},
        Statement{"delete_application_deliveries", "DELETE FROM deliveries WHERE app_id = $1::text"},
        Statement{"delete_application_messages", "DELETE FROM messages WHERE app_id = $1::text"},
        Statement{"delete_application_endpoints", "DELETE FROM endpoints WHERE app_id = $1::text"},
        Statement{"delete_application_consumers", "DELETE FROM feed_consumers WHERE app_id = $1::text"},
        Statement{"delete_application_tokens", "DELETE FROM api_tokens WHERE app_id = $1::text"}}) {
    if (auto n = change(st, p); !n.ok()) return n.take_error();
  }
  static constexpr Statement kApp{"delete_application", "DELETE FROM applications WHERE id = $1::text"};
  auto n = change(kApp, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("application not found");
  return {};
}

// ---- Event types
// ---------------------------------------------------------------------------------------------

Result<EventType> PgTx::get_event_type(std::string_view name) {
  static const std::string sql =
      fmt::format("SELECT {} FROM event_types WHERE name = $1::text", kEventTypeCols);
  static const Statement kGet{"get_event_type", sql};
  Params p;
  p.text(name);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("event type not found");
  return read_event_type(*r, 0);
}

Result<Page<EventType>> PgTx::list_event_types(const PageQuery& q, bool include_archived) {
  return list<EventType>(Query(fmt::format("SELECT {} FROM event_types WHERE {}", kEventTypeCols,
                                           include_archived ? "true" : "NOT archived")),
                         "name", q, read_event_type, [](const EventType& e) { return e.name; });
}

Status PgTx::insert_event_type(const EventType& et) {
  static constexpr Statement kInsert{
      "insert_event_type",
      "INSERT INTO event_types (name, description, archived, deprecated, feature_flag, schemas, created_at, "
      "updated_at) VALUES ($1::text, $2::text, $3::boolean, $4::boolean, $5::text, $6::text, $7::bigint, "
      "$8::bigint) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(et.name).text(et.description).boolean(et.archived).boolean(et.deprecated).text(et.feature_flag);
  p.text(et.schemas).int64(unix_millis(et.created_at)).int64(unix_millis(et.updated_at));
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::conflict("event type name already exists");
  return {};
}

Status PgTx::update_event_type(const EventType& et) {
  static constexpr Statement kUpdate{
      "update_event_type",
      "UPDATE event_types SET description = $1::text, archived = $2::boolean, deprecated = $3::boolean, "
      "feature_flag = $4::text, schemas = $5::text, created_at = $6::bigint, updated_at = $7::bigint WHERE "
      "name = $8::text"};
  Params p;
  p.text(et.description).boolean(et.archived).boolean(et.deprecated).text(et.feature_flag).text(et.schemas);
  p.int64(unix_millis(et.created_at)).int64(unix_millis(et.updated_at)).text(et.name);
  auto n = change(kUpdate, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("event type not found");
  return {};
}

Status PgTx::delete_event_type(std::string_view name) {
  static constexpr Statement kDelete{"delete_event_type", "DELETE FROM event_types WHERE name = $1::text"};
  Params p;
  p.text(name);
  auto n = change(kDelete, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("event type not found");
  return {};
}

Result<bool> PgTx::try_lock_job(std::string_view job) {
  static constexpr Statement kLock{
      "try_lock_job", "SELECT pg_try_advisory_xact_lock(hashtextextended('hookwire job ' || $1::text, 0))"};
  Params p;
  p.text(job);
  auto r = run(kLock, p);
  if (!r.ok()) return r.take_error();
  return r->text(0, 0) == "t";
}

Result<std::string> PgTx::setting_or_put(std::string_view name, std::string_view value) {
  // One statement: the insert (nothing when the name is taken, by this or another node's committed or
  // in-flight transaction, which it then waits for) and the stored value.
  static constexpr Statement kPut{"setting_or_put",
                                  "WITH put AS (INSERT INTO hookwire_settings (name, value) VALUES "
                                  "($1::text, $2::text) ON CONFLICT (name) DO "
                                  "NOTHING RETURNING value) SELECT value FROM put UNION ALL SELECT value "
                                  "FROM hookwire_settings WHERE name = "
                                  "$1::text LIMIT 1"};
  Params p;
  p.text(name).text(value);
  auto r = run(kPut, p);
  if (!r.ok()) return r.take_error();
  ++changes_;
  if (r->rows() == 1) return std::string(r->text(0, 0));
  // Another node's transaction inserted it while this statement ran (the insert waited for it): not in this
  // statement's snapshot, but in the next one's.
  static constexpr Statement kGet{"setting_get", "SELECT value FROM hookwire_settings WHERE name = $1::text"};
  Params g;
  g.text(name);
  auto again = run(kGet, g);
  if (!again.ok()) return again.take_error();
  if (again->rows() != 1)
    return Error::internal("setting_or_put: no value stored under " + std::string(name));
  return std::string(again->text(0, 0));
}

}  // namespace hookwire::store::postgres
