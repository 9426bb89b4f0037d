// PgTx: inbound sources; background tasks and the usage statistics.
#include <fmt/format.h>

#include "store/postgres/pg_tx_parts.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

// ---- Inbound sources
// -----------------------------------------------------------------------------------------

Result<Source> PgTx::get_source(std::string_view id_or_uid) {
  static const std::string by_id = fmt::format("SELECT {} FROM sources WHERE id = $1::text", kSourceCols);
  static const std::string by_uid = fmt::format("SELECT {} FROM sources WHERE uid = $1::text", kSourceCols);
  static const Statement kById{"get_source_by_id", by_id};
  static const Statement kByUid{"get_source_by_uid", by_uid};
  const bool looks_like_id = id_or_uid.starts_with("src_");
  Params p;
  p.text(id_or_uid);
  for (const Statement* st : {looks_like_id ? &kById : &kByUid, looks_like_id ? &kByUid : &kById}) {
    auto r = run(*st, p);
    if (!r.ok()) return r.take_error();
    if (r->rows() > 0) return read_source(*r, 0);
  }
  return Error::not_found("source not found");
}

Result<Page<Source>> PgTx::list_sources(const PageQuery& q) {
  return list<Source>(Query(fmt::format("SELECT {} FROM sources WHERE true", kSourceCols)), "id", q,
                      read_source, [](const Source& s) { return s.id; });
}

Status PgTx::insert_source(const Source& src) {
  static constexpr Statement kInsert{
      "insert_source",
      "INSERT INTO sources (id, uid, app_id, config, revision, created_at, updated_at) VALUES ($1::text, "
      "$2::text, $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(src.id).text(src.uid).text(src.app_id).text(src.config).int64(src.revision);
  p.int64(unix_millis(src.created_at)).int64(unix_millis(src.updated_at));
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 1) return {};
  if (src.uid) {
    auto taken = uid_taken("sources", std::nullopt, *src.uid, src.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("source uid already exists");
  }
  return Error::conflict("source id already exists");
}

Status PgTx::update_source(const Source& src) {
  if (src.uid) {
    auto taken = uid_taken("sources", std::nullopt, *src.uid, src.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("source uid already exists");
  }
  static constexpr Statement kUpdate{
      "update_source",
      "UPDATE sources SET uid = $1::text, app_id = $2::text, config = $3::text, revision = $4::bigint, "
      "created_at = $5::bigint, updated_at = $6::bigint WHERE id = $7::text"};
  Params p;
  p.text(src.uid).text(src.app_id).text(src.config).int64(src.revision).int64(unix_millis(src.created_at));
  p.int64(unix_millis(src.updated_at)).text(src.id);
  auto n = change(kUpdate, p);
  if (!n.ok())
    return n.error().code == Errc::kConflict ? Error::conflict("source uid already exists") : n.take_error();
  if (*n == 0) return Error::not_found("source not found");
  return {};
}

Status PgTx::delete_source(std::string_view id) {
  static constexpr Statement kDelete{"delete_source", "DELETE FROM sources WHERE id = $1::text"};
  static constexpr Statement kDeleteRequests{"delete_source_requests",
                                             "DELETE FROM source_requests WHERE source_id = $1::text"};
  Params p;
  p.text(id);
  auto n = change(kDelete, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("source not found");
  auto requests = change(kDeleteRequests, p);
  if (!requests.ok()) return requests.take_error();
  return {};
}

// ---- The requests a source was sent (inbound/request_log.h)
// -----------------------------------------------------------------------------------------
namespace {

constexpr const char* kSourceRequestCols =
    "id, source_id, received_at, status, outcome, code, reason, client_address, method, path, headers, body, "
    "body_truncated, body_base64, message_id";

Result<SourceRequest> read_source_request(const PgResult& r, int row) {
  SourceRequest q;
  q.id = r.text(row, 0);
  q.source_id = r.text(row, 1);
  q.received_at = time(r, row, 2);
  q.status = static_cast<int>(r.int64(row, 3));
  q.outcome = r.text(row, 4);
  q.code = opt_text(r, row, 5);
  q.reason = opt_text(r, row, 6);
  q.client_address = r.text(row, 7);
  q.method = r.text(row, 8);
  q.path = r.text(row, 9);
  q.headers = r.text(row, 10);
  q.body = r.text(row, 11);
  q.body_truncated = r.boolean(row, 12);
  q.body_base64 = r.boolean(row, 13);
  q.message_id = opt_text(r, row, 14);
  return q;
}

}  // namespace

Status PgTx::insert_source_request(const SourceRequest& r, int keep) {
  static constexpr Statement kInsert{
      "insert_source_request",
      "INSERT INTO source_requests (id, source_id, received_at, status, outcome, code, reason, "
      "client_address, method, path, headers, body, body_truncated, body_base64, message_id) VALUES "
      "($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::text, $7::text, $8::text, $9::text, "
      "$10::text, $11::text, $12::text, $13::boolean, $14::boolean, $15::text) ON CONFLICT DO NOTHING"};
  // The newest `keep` stay: everything below the keep-th newest id goes (nothing while there are fewer).
  static constexpr Statement kBound{
      "bound_source_requests",
      "DELETE FROM source_requests WHERE source_id = $1::text AND id < (SELECT id FROM source_requests WHERE "
      "source_id = $1::text ORDER BY id DESC LIMIT 1 OFFSET $2::bigint)"};
  Params p;
  p.text(r.id).text(r.source_id).int64(unix_millis(r.received_at)).int64(int64_t{r.status}).text(r.outcome);
  p.text(r.code).text(r.reason).text(r.client_address).text(r.method).text(r.path).text(r.headers);
  p.text(r.body).boolean(r.body_truncated).boolean(r.body_base64).text(r.message_id);
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::conflict("source request id already exists");
  Params b;
  b.text(r.source_id).int64(int64_t{std::max(1, keep) - 1});
  auto bound = change(kBound, b);
  if (!bound.ok()) return bound.take_error();
  return {};
}

Result<SourceRequest> PgTx::get_source_request(std::string_view source_id, std::string_view id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM source_requests WHERE id = $1::text AND source_id = $2::text", kSourceRequestCols);
  static const Statement kGet{"get_source_request", sql};
  Params p;
  p.text(id).text(source_id);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("source request not found");
  return read_source_request(*r, 0);
}

Result<Page<SourceRequest>> PgTx::list_source_requests(std::string_view source_id,
                                                       const SourceRequestQuery& q) {
  Query query(fmt::format("SELECT {} FROM source_requests WHERE source_id = ", kSourceRequestCols));
  query.text(source_id);
  if (q.outcome) {
    query << " AND outcome = ";
    query.text(*q.outcome);
  }
  return list<SourceRequest>(std::move(query), "id", q.page, read_source_request,
                             [](const SourceRequest& r) { return r.id; });
}

Result<int> PgTx::prune_source_requests(int limit) {
  static constexpr Statement kPrune{"prune_source_requests",
                                    "DELETE FROM source_requests WHERE id IN (SELECT r.id FROM "
                                    "source_requests r WHERE NOT EXISTS (SELECT 1 "
                                    "FROM sources s WHERE s.id = r.source_id) LIMIT $1::bigint)"};
  Params p;
  p.int64(int64_t{std::max(1, limit)});
  auto n = change(kPrune, p);
  if (!n.ok()) return n.take_error();
  return static_cast<int>(*n);
}

// ---- Background tasks and the usage statistics
// ---------------------------------------------------------------

namespace {
constexpr const char* kTaskCols = "id, task, status, data, created_at, updated_at";

Result<BackgroundTask> read_task(const PgResult& r, int row) {
  BackgroundTask t;
  t.id = r.text(row, 0);
  t.task = r.text(row, 1);
  t.status = r.text(row, 2);
  t.data = r.text(row, 3);
  t.created_at = time(r, row, 4);
  t.updated_at = time(r, row, 5);
  return t;
}
}  // namespace

Status PgTx::insert_background_task(const BackgroundTask& t) {
  static constexpr Statement kInsert{
      "insert_background_task",
      "INSERT INTO background_tasks (id, task, status, data, created_at, updated_at) VALUES ($1::text, "
      "$2::text, $3::text, $4::text, $5::bigint, $6::bigint) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(t.id).text(t.task).text(t.status).text(t.data).int64(unix_millis(t.created_at));
  p.int64(unix_millis(t.updated_at));
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::conflict("background task id already exists");
  return {};
}

Result<BackgroundTask> PgTx::get_background_task(std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM background_tasks WHERE id = $1::text", kTaskCols);
  static const Statement kGet{"get_background_task", sql};
  Params p;
  p.text(id);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("background task not found");
  return read_task(*r, 0);
}

Result<Page<BackgroundTask>> PgTx::list_background_tasks(const BackgroundTaskQuery& q) {
  Query query(fmt::format("SELECT {} FROM background_tasks WHERE true", kTaskCols));
  if (q.status) {
    query << " AND status = ";
    query.text(*q.status);
  }
  if (q.task) {
    query << " AND task = ";
    query.text(*q.task);
  }
  return list<BackgroundTask>(std::move(query), "id", q.page, read_task,
                              [](const BackgroundTask& t) { return t.id; });
}

Result<int> PgTx::prune_background_tasks(TimePoint cutoff, int limit) {
  static constexpr Statement kPrune{"prune_background_tasks",
                                    "DELETE FROM background_tasks WHERE id IN (SELECT id FROM "
                                    "background_tasks WHERE created_at < $1::bigint "
                                    "ORDER BY created_at LIMIT $2::bigint)"};
  Params p;
  p.int64(unix_millis(cutoff)).int64(std::max(1, limit));
  auto n = change(kPrune, p);
  if (!n.ok()) return n.take_error();
  return static_cast<int>(*n);
}

Result<AppUsage> PgTx::app_usage(std::string_view app_id, TimePoint since, TimePoint until) {
  static constexpr Statement kUsage{
      "app_usage",
      "SELECT (SELECT count(*) FROM messages WHERE app_id = $1::text AND created_at >= $2::bigint AND "
      "created_at < $3::bigint), (SELECT count(*) FROM deliveries WHERE app_id = $1::text AND created_at >= "
      "$2::bigint AND created_at < $3::bigint)"};
  Params p;
  p.text(app_id).int64(unix_millis(since)).int64(unix_millis(until));
  auto r = run(kUsage, p);
  if (!r.ok()) return r.take_error();
  return AppUsage{r->int64(0, 0), r->int64(0, 1)};
}

Result<std::vector<EventTypeUsage>> PgTx::event_type_usage() {
  static constexpr Statement kUsage{"event_type_usage",
                                    "SELECT event_type, count(*), count(DISTINCT app_id), max(created_at) "
                                    "FROM messages GROUP BY event_type "
                                    "ORDER BY event_type"};
  auto r = run(kUsage, Params());
  if (!r.ok()) return r.take_error();
  std::vector<EventTypeUsage> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back(EventTypeUsage{std::string(r->text(i, 0)), r->int64(i, 1), r->int64(i, 2), time(*r, i, 3)});
  return out;
}

}  // namespace hookwire::store::postgres
