// SqliteTx: deliveries (the queue the dispatcher claims from, and the status listings).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"
#include "store/lease_tokens.h"
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store {
namespace json = boost::json;
using namespace sqlite_rows;  // NOLINT: the files of one implementation

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

Result<std::vector<Settled>> SqliteTx::settle_deliveries(std::span<const Settlement> batch) {
  // By rowid (checked against the id: no lookup in the id's index), with the fence checked in memory (memory
  // leases) or in the row (claim_id).
  auto stmt = conn_.prepare(
      memory_leases_ ? "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
                       "updated_at = ?, manual = ? WHERE rowid = ? AND id = ?"
                     : "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
                       "updated_at = ?, manual = ?, claim_id = NULL WHERE rowid = ? AND id = ? AND "
                       "claim_id = ?");
  if (!stmt.ok()) return stmt.take_error();
  std::vector<Settled> out;
  out.reserve(batch.size());
  for (const Settlement& settlement : batch) {
    const Delivery& d = *settlement.next;
    const LeaseToken& lease = *settlement.lease;
    const int64_t row = LeaseTokens::handle(lease), fence = LeaseTokens::fence(lease);
    int changed = 0;
    if (!memory_leases_ || memory_leases_->holds(row, fence)) {
      Stmt s(*stmt);
      s.bind(1, d.status);
      s.bind(2, d.attempts);
      s.bind(3, d.next_attempt_at);
      s.bind(4, d.updated_at);
      s.bind(5, d.manual);
      s.bind(6, row);
      s.bind(7, lease.delivery_id());
      if (!memory_leases_) s.bind(8, fence);
      if (auto st = finish_write(s, "settle_deliveries"); !st.ok()) return st.take_error();
      changed = sqlite3_changes(conn_.handle());
    }
    if (changed == 1) {
      out.push_back(Settled::kDone);
      continue;
    }
    auto exists = conn_.prepare("SELECT 1 FROM deliveries WHERE id = ?");
    if (!exists.ok()) return exists.take_error();
    Stmt e(*exists);
    e.bind(1, lease.delivery_id());
    const int rc = e.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("settle_deliveries");
    out.push_back(rc == SQLITE_ROW ? Settled::kFenced : Settled::kGone);
  }
  return out;
}

Result<std::vector<Claim>> SqliteTx::lease_due(const ClaimRequest& r, std::atomic<int64_t>& next_claim_id) {
  static const std::vector<int64_t> none;
  auto scan = scan_due(r.now, r.limit, r.per_endpoint, none);
  if (!scan.ok()) return scan.take_error();
  if (auto st = move_behind(scan->passed_over, r.now); !st.ok()) return st.take_error();
  auto stmt = conn_.prepare(
      "UPDATE deliveries SET status = 3, next_attempt_at = ?, updated_at = ?, claim_id = ? WHERE rowid = ?");
  if (!stmt.ok()) return stmt.take_error();
  for (size_t i = 0; i < scan->due.size(); ++i) {
    Claim& c = scan->due[i];
    const int64_t fence = next_claim_id.fetch_add(1);
    Stmt s(*stmt);
    s.bind(1, r.lease_until);
    s.bind(2, r.now);
    s.bind(3, fence);
    s.bind(4, scan->rows[i]);
    if (auto st = finish_write(s, "lease_due"); !st.ok()) return st.take_error();
    c.lease = LeaseTokens::make(c.delivery.id, scan->rows[i], fence);
  }
  return std::move(scan->due);
}

Result<std::vector<bool>> SqliteTx::renew_row_leases(const std::vector<LeaseToken>& leases, TimePoint until) {
  auto stmt = conn_.prepare(
      "UPDATE deliveries SET next_attempt_at = ? WHERE rowid = ? AND id = ? AND status = 3 AND claim_id = ?");
  if (!stmt.ok()) return stmt.take_error();
  std::vector<bool> out;
  out.reserve(leases.size());
  for (const LeaseToken& lease : leases) {
    Stmt s(*stmt);
    s.bind(1, until);
    s.bind(2, LeaseTokens::handle(lease));
    s.bind(3, lease.delivery_id());
    s.bind(4, LeaseTokens::fence(lease));
    if (auto st = finish_write(s, "renew_row_leases"); !st.ok()) return st.take_error();
    out.push_back(sqlite3_changes(conn_.handle()) == 1);
  }
  return out;
}

Status SqliteTx::move_behind(const std::vector<RowRef>& rows, TimePoint now) {
  if (rows.empty()) return {};
  auto stmt = conn_.prepare("UPDATE deliveries SET next_attempt_at = ? WHERE rowid = ? AND id = ?");
  if (!stmt.ok()) return stmt.take_error();
  for (const RowRef& r : rows) {
    Stmt s(*stmt);
    s.bind(1, now);
    s.bind(2, r.row);
    s.bind(3, r.id);
    if (auto st = finish_write(s, "move_behind"); !st.ok()) return st;
  }
  return {};
}

Result<SqliteTx::DueScan> SqliteTx::scan_due(TimePoint now, int limit, int per_endpoint,
                                             const std::vector<int64_t>& held) {
  // Walks the due deliveries oldest first through the live-deliveries index, taking at most `per_endpoint`
  // of any one endpoint, and reads at most a bounded window of them (so a claim costs the same whatever the
  // backlog). Each row comes with its message (one statement, not one lookup per row; NULL when the message
  // is gone) and its rowid. Rows held in memory are skipped on the index entry, before their table row is
  // read.
  static const std::string sql = fmt::format(
      "SELECT d.rowid, {}, {} FROM deliveries d LEFT JOIN messages m ON m.app_id = d.app_id AND m.id = "
      "d.msg_id WHERE d.status IN (1, 3) AND d.next_attempt_at <= ?1 AND NOT held_row(?3, d.rowid) ORDER BY "
      "d.next_attempt_at LIMIT ?2",
      prefixed(kDeliveryCols, "d"), prefixed(kMessageCols, "m"));
  constexpr int kDeliveryColCount = 10;
  const int64_t window = int64_t{limit} * 4 + per_endpoint;
  DueScan out;
  // One lookup per endpoint per scan; its deliveries share the result (null: deleted).
  std::unordered_map<std::string, std::shared_ptr<const Endpoint>> endpoints;
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
    const int64_t row = s.int64(0);
    if (++taken[d.endpoint_id] > per_endpoint) {
      if (d.next_attempt_at < now) out.passed_over.push_back(RowRef{row, std::move(d.id)});
      continue;
    }
    auto cached = endpoints.find(d.endpoint_id);
    if (cached == endpoints.end()) {
      auto read = get_endpoint(d.app_id, d.endpoint_id);
      if (!read.ok() && read.error().code != Errc::kNotFound) return read.take_error();
      cached = endpoints
                   .emplace(d.endpoint_id,
                            read.ok() ? std::make_shared<const Endpoint>(std::move(*read)) : nullptr)
                   .first;
    }
    Claim c;
    if (!s.is_null(1 + kDeliveryColCount)) {
      auto msg = read_message(s, 1 + kDeliveryColCount);
      if (!msg.ok()) return msg.take_error();
      c.message = std::move(*msg);
    }
    c.endpoint = cached->second;
    c.delivery = std::move(d);
    out.due.push_back(std::move(c));
    out.rows.push_back(row);
  }
  if (static_cast<int>(out.due.size()) < limit && rc != SQLITE_DONE) return conn_.error("scan_due");
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
      "SELECT first_failure_at, last_success_at, consecutive_failures, disabled_reason, disabled_at FROM "
      "endpoint_health WHERE endpoint_id = ?");
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
  h.disabled_reason = s.opt_text(3);
  if (!s.is_null(4)) h.disabled_at = s.time(4);
  return h;
}

Status SqliteTx::put_endpoint_health(std::string_view endpoint_id, const EndpointHealthRecord& h) {
  auto stmt = conn_.prepare(
      "INSERT INTO endpoint_health (endpoint_id, first_failure_at, last_success_at, consecutive_failures) "
      "VALUES (?, ?, ?, ?) ON CONFLICT (endpoint_id) DO UPDATE SET first_failure_at = "
      "excluded.first_failure_at, "
      "last_success_at = excluded.last_success_at, consecutive_failures = excluded.consecutive_failures");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, endpoint_id);
  s.bind(2, h.first_failure_at);
  s.bind(3, h.last_success_at);
  s.bind(4, h.consecutive_failures);
  return finish_write(s, "put_endpoint_health");
}

Status SqliteTx::set_endpoint_disabled(std::string_view endpoint_id, std::optional<std::string> reason,
                                       std::optional<TimePoint> at) {
  auto stmt = conn_.prepare(
      "INSERT INTO endpoint_health (endpoint_id, consecutive_failures, disabled_reason, disabled_at) "
      "VALUES (?, 0, ?, ?) ON CONFLICT (endpoint_id) DO UPDATE SET disabled_reason = "
      "excluded.disabled_reason, "
      "disabled_at = excluded.disabled_at");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, endpoint_id);
  s.bind(2, reason);
  s.bind(3, at);
  return finish_write(s, "set_endpoint_disabled");
}

Result<std::vector<AttemptSummary>> SqliteTx::recent_endpoint_attempts(std::string_view app_id,
                                                                       std::string_view endpoint_id,
                                                                       TimePoint since, int limit) {
  auto stmt = conn_.prepare(
      "SELECT id, msg_id, status, response_status_code, CASE WHEN status = 0 THEN '' ELSE substr(response, "
      "1, "
      "200) END, created_at FROM attempts WHERE app_id = ? AND endpoint_id = ? AND id >= ? ORDER BY id DESC "
      "LIMIT ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  const std::string floor = min_id_at(id_prefix::kAttempt, since);
  s.bind(1, app_id);
  s.bind(2, endpoint_id);
  s.bind(3, floor);
  s.bind(4, int64_t{std::max(0, limit)});
  std::vector<AttemptSummary> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    AttemptSummary a;
    a.id = s.text(0);
    a.msg_id = s.text(1);
    a.status = static_cast<int>(s.int64(2));
    a.response_status_code = static_cast<int>(s.int64(3));
    a.response = s.text(4);
    a.created_at = s.time(5);
    if (a.created_at >= since) out.push_back(std::move(a));  // ids carry whole seconds
  }
  if (rc != SQLITE_DONE) return conn_.error("recent_endpoint_attempts");
  return out;
}

Result<int> SqliteTx::release_row_leases() {
  // `status IN (1, 3)` lets SQLite use the due index (which covers status) instead of the whole table.
  auto stmt = conn_.prepare(
      "UPDATE deliveries SET status = 1, claim_id = NULL WHERE status IN (1, 3) AND status = 3");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  if (auto st = finish_write(s, "release_row_leases"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
}

Result<DeliveryQueueStats> SqliteTx::queue_stats(TimePoint now, const std::vector<int64_t>& held) {
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
    if (s.step() != SQLITE_ROW) return conn_.error("queue_stats");
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
    if (s.step() != SQLITE_ROW) return conn_.error("queue_stats");
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
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("queue_stats");
  }
  auto stmt = conn_.prepare("SELECT status, next_attempt_at FROM deliveries WHERE rowid = ?");
  if (!stmt.ok()) return stmt.take_error();
  for (const int64_t row : held) {
    Stmt s(*stmt);
    s.bind(1, row);
    const int rc = s.step();
    if (rc == SQLITE_DONE) continue;  // deleted meanwhile
    if (rc != SQLITE_ROW) return conn_.error("queue_stats");
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

}  // namespace hookwire::store
