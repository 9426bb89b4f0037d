// PgTx: running statements, the function hooks, the feed sequence; applications and event types. The other
// entities are in pg_endpoints.cc, pg_messages.cc, pg_deliveries.cc, pg_sources.cc and pg_feed.cc.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

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
  if (auto flushed = flush_inserts(); !flushed.ok()) return flushed.take_error();
  return exec(st, params);
}

Result<PgResult> PgTx::exec(const Statement& st, const Params& params) {
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

Result<PgResult> PgTx::run(const Query& q) {
  if (auto flushed = flush_inserts(); !flushed.ok()) return flushed.take_error();
  return note(conn_.exec(q.sql(), q.params()));
}

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

// ---- Batched inserts
// -----------------------------------------------------------------------------------------

namespace {
using Element = BinaryArray::Element;
constexpr Element kText = Element::kText, kBigint = Element::kBigint, kInteger = Element::kInteger,
                  kBoolean = Element::kBoolean;
}  // namespace

PgTx::WaitingRows::WaitingRows(std::initializer_list<BinaryArray::Element> types) {
  columns.reserve(types.size());
  for (auto t : types) columns.emplace_back(t);
}

// The columns of insert_message's and insert_delivery's rows, in their statements' order (pg_messages.cc,
// pg_deliveries.cc).
PgTx::PgTx(PgConnection& conn, Mode mode)
    : conn_(conn),
      mode_(mode),
      waiting_messages_{kText, kText,   kBigint, kText, kText,   kText,
                        kText, kBigint, kText,   kText, kBigint, kText},
      waiting_deliveries_{kText,    kText,   kText,   kText,   kInteger,
                          kInteger, kBigint, kBigint, kBigint, kBoolean} {}

namespace {
constexpr std::string_view kMessageColumns =
    "messages (id, app_id, position, event_id, event_type, payload, channels, created_at, idempotency_key, "
    "request_hash, payload_expires_at, headers) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
    "$4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], "
    "$12::text[])";
constexpr std::string_view kDeliveryColumns =
    "deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, "
    "manual) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], "
    "$6::integer[], $7::bigint[], $8::bigint[], $9::bigint[], $10::boolean[])";
}  // namespace

const Statement& PgTx::take(WaitingRows& rows, bool messages, Params& params, std::vector<std::string>& ids,
                            std::vector<size_t>& functions) {
  static const std::string plain_messages = fmt::format("INSERT INTO {}", kMessageColumns);
  static const std::string checked_messages =
      fmt::format("INSERT INTO {} ON CONFLICT DO NOTHING RETURNING id", kMessageColumns);
  static const std::string plain_deliveries = fmt::format("INSERT INTO {}", kDeliveryColumns);
  static const std::string checked_deliveries =
      fmt::format("INSERT INTO {} ON CONFLICT DO NOTHING RETURNING id", kDeliveryColumns);
  static const Statement kPlainMessages{"insert_messages", plain_messages};
  static const Statement kCheckedMessages{"insert_messages_checked", checked_messages};
  static const Statement kPlainDeliveries{"insert_deliveries", plain_deliveries};
  static const Statement kCheckedDeliveries{"insert_deliveries_checked", checked_deliveries};
  for (auto& column : rows.columns) params.binary(column.take());
  ids = std::move(rows.ids);
  functions = std::move(rows.functions);
  rows.ids.clear();
  rows.functions.clear();
  if (inserts_ == Inserts::kPlain) return messages ? kPlainMessages : kPlainDeliveries;
  return messages ? kCheckedMessages : kCheckedDeliveries;
}

Status PgTx::flush_inserts() {
  if (auto st = flush(waiting_messages_, true); !st.ok()) return st;
  return flush(waiting_deliveries_, false);
}

Status PgTx::flush(WaitingRows& rows, bool messages) {
  if (rows.ids.empty()) return {};
  Params p;
  std::vector<std::string> ids;
  std::vector<size_t> functions;
  const Statement& insert = take(rows, messages, p, ids, functions);
  auto inserted = exec(insert, p);
  if (!inserted.ok()) {
    unbatch_.insert(unbatch_.end(), functions.begin(), functions.end());
    return inserted.take_error();
  }
  if (inserts_ == Inserts::kPlain || static_cast<size_t>(inserted->rows()) == ids.size()) return {};
  std::unordered_set<std::string_view> in;
  for (int r = 0; r < inserted->rows(); ++r) in.insert(inserted->text(r, 0));
  for (size_t i = 0; i < ids.size(); ++i)
    if (!in.contains(ids[i])) unbatch_.push_back(functions[i]);
  return {};
}

Status PgTx::commit() {
  static constexpr Statement kWriteSequence{
      "write_feed_sequence", "UPDATE feed_sequence SET head = $1::bigint, last_id = $2::text WHERE id = 0"};
  if (inserts_ == Inserts::kChecked) {
    if (auto st = flush_inserts(); !st.ok()) return st;
    if (!unbatch_.empty()) return Error::conflict("postgres: batched rows did not go in");
  }
  // Up to four steps: the messages, the deliveries, the sequence row, COMMIT; the functions of each insert.
  std::vector<Params> params(3);
  std::vector<std::string> names;
  names.reserve(3);
  std::vector<std::vector<size_t>> functions;
  std::vector<PgConnection::PipelineStep> steps;
  auto add = [&](const Statement& st, Params& p) -> Status {
    names.emplace_back(st.name);
    if (auto prepared = conn_.prepare(names.back(), st.sql); !prepared.ok()) {
      (void)note(prepared.error());
      return prepared;
    }
    steps.push_back({&names.back(), nullptr, &p});
    return {};
  };
  for (bool messages : {true, false}) {
    WaitingRows& rows = messages ? waiting_messages_ : waiting_deliveries_;
    if (rows.ids.empty()) continue;
    Params& p = params[functions.size()];
    std::vector<std::string> ids;
    functions.emplace_back();
    const Statement& insert = take(rows, messages, p, ids, functions.back());
    if (auto st = add(insert, p); !st.ok()) return st;
  }
  if (sequence_.changed) {
    params[2].int64(sequence_.head).text(sequence_.last_id);
    if (auto st = add(kWriteSequence, params[2]); !st.ok()) return st;
  }
  steps.push_back({nullptr, "COMMIT", nullptr});
  auto results = conn_.exec_pipeline(steps);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) continue;
    if (i < functions.size()) unbatch_.insert(unbatch_.end(), functions[i].begin(), functions[i].end());
    (void)note(std::move(results[i]));
    return *failure_;
  }
  return {};
}

// ---- The store's hooks
// ---------------------------------------------------------------------------------------

void PgTx::begin_function(size_t index, bool batch_inserts) {
  function_ = index;
  batch_inserts_ = batch_inserts;
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
