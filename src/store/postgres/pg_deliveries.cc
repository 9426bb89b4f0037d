// PgTx: deliveries (the queue the dispatcher claims from, and the status listings).
//
// The queue figures (queue_stats) count the live deliveries through the due index, which holds
// exactly them and includes their status: exact, and free for the write path, at a cost per call that grows
// with the queue (a scrape of a large backlog reads the whole index). SQLite keeps counter rows up to date by
// triggers instead; on PostgreSQL such rows are taken by every writer of every node, each delivery insert
// rewriting one (many row versions per batch, and a lock held to COMMIT that orders writers against each
// other and against the feed sequence: deadlocks). Counters per writer (one row each, summed) are the way if
// the count ever costs too much.
#include <fmt/format.h>

#include <unordered_map>

#include "core/ids.h"
#include "store/lease_tokens.h"
#include "store/postgres/pg_tx_parts.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

Status PgTx::insert_delivery(const Delivery& d) {
  if (batch_inserts_) {
    // The row waits for flush_inserts(), in the columns of its statement (pg_tx.cc).
    auto& c = waiting_deliveries_.columns;
    c[0].text(d.id);
    c[1].text(d.app_id);
    c[2].text(d.msg_id);
    c[3].text(d.endpoint_id);
    c[4].int32(d.status);
    c[5].int32(d.attempts);
    c[6].int64(unix_millis(d.next_attempt_at));
    c[7].int64(unix_millis(d.created_at));
    c[8].int64(unix_millis(d.updated_at));
    c[9].boolean(d.manual);
    waiting_deliveries_.ids.push_back(d.id);
    waiting_deliveries_.functions.push_back(function_);
    ++changes_;
    return {};
  }
  static constexpr Statement kInsert{
      "insert_delivery",
      "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, "
      "created_at, "
      "updated_at, manual) VALUES ($1::text, $2::text, $3::text, $4::text, $5::integer, $6::integer, "
      "$7::bigint, $8::bigint, $9::bigint, $10::boolean) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(d.id).text(d.app_id).text(d.msg_id).text(d.endpoint_id).int64(d.status).int64(d.attempts);
  p.int64(unix_millis(d.next_attempt_at)).int64(unix_millis(d.created_at)).int64(unix_millis(d.updated_at));
  p.boolean(d.manual);
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::conflict("delivery id already exists");
  return {};
}

Result<std::vector<Settled>> PgTx::settle_deliveries(std::span<const Settlement> batch) {
  static constexpr Statement kSettle{
      "settle_delivery",
      "UPDATE deliveries SET status = $1::integer, attempts = $2::integer, next_attempt_at = $3::bigint, "
      "updated_at = $4::bigint, manual = $5::boolean, claim_id = NULL WHERE id = $6::text AND claim_id = "
      "$7::bigint"};
  static constexpr Statement kExists{"delivery_exists", "SELECT 1 FROM deliveries WHERE id = $1::text"};
  std::vector<Settled> out;
  out.reserve(batch.size());
  for (const Settlement& s : batch) {
    const Delivery& d = *s.next;
    const LeaseToken& lease = *s.lease;
    Params p;
    p.int64(d.status)
        .int64(d.attempts)
        .int64(unix_millis(d.next_attempt_at))
        .int64(unix_millis(d.updated_at));
    p.boolean(d.manual).text(lease.delivery_id()).int64(LeaseTokens::fence(lease));
    auto n = change(kSettle, p);
    if (!n.ok()) return n.take_error();
    if (*n == 1) {
      out.push_back(Settled::kDone);
      continue;
    }
    Params e;
    e.text(lease.delivery_id());
    auto exists = run(kExists, e);
    if (!exists.ok()) return exists.take_error();
    out.push_back(exists->rows() > 0 ? Settled::kFenced : Settled::kGone);
  }
  return out;
}

namespace {
// The claim in one statement (docs/plans/21-delivery-queue-seam.md §3), with the rules of SQLite's scan
// (SqliteTx::scan_due): the window (the oldest 4 * limit + share due rows) is locked FOR UPDATE SKIP LOCKED
// in a materialized CTE, so it can never grow past its LIMIT and rows another claimer holds are passed by.
// Walking the window oldest first, at most `share` rows of an endpoint are leased, until `limit` are; a row
// past its endpoint's share that is overdue is moved behind (due at now), up to where the walk stopped. Each
// leased row gets its own claim_id (the lease's fence) and is returned as it was before, with its message
// and endpoint (NULL when deleted: judging is the dispatcher's). Parameters: $1 now, $2 window, $3 share,
// $4 limit, $5 lease end.
const std::string& claim_sql() {
  static const std::string sql = fmt::format(
      R"sql(WITH cand AS MATERIALIZED (
  SELECT {} FROM deliveries
  WHERE status IN (1, 3) AND next_attempt_at <= $1::bigint
  ORDER BY next_attempt_at LIMIT $2::bigint FOR UPDATE SKIP LOCKED),
ranked AS MATERIALIZED (
  SELECT id, next_attempt_at,
         row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS nth,
         row_number() OVER (ORDER BY next_attempt_at, id) AS pos
  FROM cand),
chosen AS MATERIALIZED (
  SELECT id, pos FROM ranked WHERE nth <= $3::bigint ORDER BY pos LIMIT $4::bigint),
stop AS MATERIALIZED (
  SELECT CASE WHEN count(*) < $4::bigint THEN 9223372036854775807 ELSE max(pos) END AS pos FROM chosen),
behind AS (
  UPDATE deliveries d SET next_attempt_at = $1::bigint FROM ranked r, stop s
  WHERE d.id = r.id AND r.nth > $3::bigint AND r.next_attempt_at < $1::bigint AND r.pos < s.pos),
leased AS (
  UPDATE deliveries d SET status = 3, next_attempt_at = $5::bigint, updated_at = $1::bigint,
         claim_id = nextval('delivery_claims')
  FROM chosen c WHERE d.id = c.id
  RETURNING d.id, d.claim_id)
SELECT {}, l.claim_id, {}, {} FROM leased l
JOIN cand c ON c.id = l.id
JOIN chosen ch ON ch.id = l.id
LEFT JOIN messages m ON m.app_id = c.app_id AND m.id = c.msg_id
LEFT JOIN endpoints e ON e.app_id = c.app_id AND e.id = c.endpoint_id
ORDER BY ch.pos)sql",
      kDeliveryCols, prefixed(kDeliveryCols, "c"), prefixed(kMessageCols, "m"), prefixed(kEndpointCols, "e"));
  return sql;
}
}  // namespace

Result<std::vector<Claim>> PgTx::lease_due(const ClaimRequest& req) {
  static const Statement kClaim{"lease_due", claim_sql()};
  const int limit = std::max(1, req.limit);
  const int per_endpoint = std::max(1, req.per_endpoint);
  Params p;
  p.int64(unix_millis(req.now)).int64(int64_t{limit} * 4 + per_endpoint).int64(per_endpoint).int64(limit);
  p.int64(unix_millis(req.lease_until));
  auto r = run(kClaim, p);
  if (!r.ok()) return r.take_error();
  ++changes_;  // rows may have been moved behind even when none was leased
  constexpr int kMessageAt = kDeliveryColCount + 1;
  constexpr int kEndpointAt = kMessageAt + kMessageColCount;
  std::unordered_map<std::string, std::shared_ptr<const Endpoint>> endpoints;  // one per endpoint per claim
  std::vector<Claim> out;
  out.reserve(static_cast<size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) {
    Claim c;
    c.delivery = read_delivery(*r, i);
    c.lease = LeaseTokens::make(c.delivery.id, 0, r->int64(i, kDeliveryColCount));
    if (r->get(i, kMessageAt)) {
      auto msg = read_message(*r, i, kMessageAt);
      if (!msg.ok()) return msg.take_error();
      c.message = std::move(*msg);
    }
    if (r->get(i, kEndpointAt)) {
      auto& ep = endpoints[c.delivery.endpoint_id];
      if (!ep) {
        auto read = read_endpoint(*r, i, kEndpointAt);
        if (!read.ok()) return read.take_error();
        ep = std::make_shared<const Endpoint>(std::move(*read));
      }
      c.endpoint = ep;
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<bool>> PgTx::renew_leases(const std::vector<LeaseToken>& leases, TimePoint until) {
  static constexpr Statement kRenew{
      "renew_lease",
      "UPDATE deliveries SET next_attempt_at = $1::bigint WHERE id = $2::text AND claim_id = $3::bigint AND "
      "status = 3"};
  std::vector<bool> out;
  out.reserve(leases.size());
  for (const LeaseToken& lease : leases) {
    Params p;
    p.int64(unix_millis(until)).text(lease.delivery_id()).int64(LeaseTokens::fence(lease));
    auto n = change(kRenew, p);
    if (!n.ok()) return n.take_error();
    out.push_back(*n == 1);
  }
  return out;
}

Result<DeliveryQueueStats> PgTx::queue_stats(TimePoint now) {
  static constexpr Statement kStats{
      "queue_stats",
      "SELECT count(*) FILTER (WHERE status = 1), count(*) FILTER (WHERE status = 3), (SELECT count(*) FROM "
      "(SELECT 1 FROM deliveries WHERE status IN (1, 3) AND next_attempt_at <= $1::bigint LIMIT $2::bigint) "
      "due), (SELECT min(next_attempt_at) FROM deliveries WHERE status IN (1, 3) AND next_attempt_at <= "
      "$1::bigint) FROM deliveries WHERE status IN (1, 3)"};
  Params p;
  p.int64(unix_millis(now)).int64(kDueCountLimit);
  auto r = run(kStats, p);
  if (!r.ok()) return r.take_error();
  DeliveryQueueStats out;
  out.pending = r->int64(0, 0);
  out.sending = r->int64(0, 1);
  out.due = r->int64(0, 2);
  out.oldest_due = opt_time(*r, 0, 3);
  return out;
}

Result<int> PgTx::requeue_failed_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                            TimePoint since, TimePoint until, TimePoint now) {
  Query q("UPDATE deliveries AS d SET status = 1, attempts = 0, next_attempt_at = ");
  q.time(now);
  q << ", updated_at = ";
  q.time(now);
  q << ", manual = true WHERE d.app_id = ";
  q.text(app_id);
  q << " AND d.endpoint_id = ";
  q.text(endpoint_id);
  q << " AND d.status = 2 AND d.created_at >= ";
  q.time(since);
  q << " AND d.created_at < ";
  q.time(until);
  q << kLatestDelivery;
  auto n = change(q);
  if (!n.ok()) return n.take_error();
  return static_cast<int>(*n);
}

Result<EndpointHealthRecord> PgTx::get_endpoint_health(std::string_view endpoint_id) {
  static constexpr Statement kGet{"get_endpoint_health",
                                  "SELECT first_failure_at, last_success_at, consecutive_failures, "
                                  "disabled_reason, disabled_at FROM endpoint_health WHERE endpoint_id = "
                                  "$1::text"};
  static constexpr Statement kGetForUpdate{"get_endpoint_health_for_update",
                                           "SELECT first_failure_at, last_success_at, consecutive_failures, "
                                           "disabled_reason, disabled_at FROM endpoint_health WHERE "
                                           "endpoint_id = $1::text FOR UPDATE"};
  Params p;
  p.text(endpoint_id);
  auto r = run(mode_ == Mode::kWrite ? kGetForUpdate : kGet, p);
  if (!r.ok()) return r.take_error();
  EndpointHealthRecord h;
  if (r->rows() == 0) return h;
  h.first_failure_at = opt_time(*r, 0, 0);
  h.last_success_at = opt_time(*r, 0, 1);
  h.consecutive_failures = r->int64(0, 2);
  h.disabled_reason = opt_text(*r, 0, 3);
  h.disabled_at = opt_time(*r, 0, 4);
  return h;
}

Status PgTx::put_endpoint_health(std::string_view endpoint_id, const EndpointHealthRecord& h) {
  static constexpr Statement kPut{
      "put_endpoint_health",
      "INSERT INTO endpoint_health (endpoint_id, first_failure_at, last_success_at, consecutive_failures) "
      "VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint) ON CONFLICT (endpoint_id) DO UPDATE SET "
      "first_failure_at = EXCLUDED.first_failure_at, last_success_at = EXCLUDED.last_success_at, "
      "consecutive_failures = EXCLUDED.consecutive_failures"};
  Params p;
  p.text(endpoint_id);
  if (h.first_failure_at) {
    p.int64(unix_millis(*h.first_failure_at));
  } else {
    p.null();
  }
  if (h.last_success_at) {
    p.int64(unix_millis(*h.last_success_at));
  } else {
    p.null();
  }
  p.int64(h.consecutive_failures);
  auto n = change(kPut, p);
  if (!n.ok()) return n.take_error();
  return {};
}

Status PgTx::set_endpoint_disabled(std::string_view endpoint_id, std::optional<std::string> reason,
                                   std::optional<TimePoint> at) {
  static constexpr Statement kSet{
      "set_endpoint_disabled",
      "INSERT INTO endpoint_health (endpoint_id, consecutive_failures, disabled_reason, disabled_at) VALUES "
      "($1::text, 0, $2::text, $3::bigint) ON CONFLICT (endpoint_id) DO UPDATE SET disabled_reason = "
      "EXCLUDED.disabled_reason, disabled_at = EXCLUDED.disabled_at"};
  Params p;
  p.text(endpoint_id);
  if (reason) {
    p.text(*reason);
  } else {
    p.null();
  }
  if (at) {
    p.int64(unix_millis(*at));
  } else {
    p.null();
  }
  auto n = change(kSet, p);
  if (!n.ok()) return n.take_error();
  return {};
}

Result<std::vector<AttemptSummary>> PgTx::recent_endpoint_attempts(std::string_view app_id,
                                                                   std::string_view endpoint_id,
                                                                   TimePoint since, int limit) {
  static constexpr Statement kRecent{
      "recent_endpoint_attempts",
      "SELECT id, msg_id, status, response_status_code, CASE WHEN status = 0 THEN '' ELSE substr(response, "
      "1, "
      "200) END, created_at FROM attempts WHERE app_id = $1::text AND endpoint_id = $2::text AND id >= "
      "$3::text ORDER BY id DESC LIMIT $4::bigint"};
  const std::string floor = min_id_at(id_prefix::kAttempt, since);  // Params keep views: it must outlive them
  Params p;
  p.text(app_id).text(endpoint_id).text(floor).int64(std::max(0, limit));
  auto r = run(kRecent, p);
  if (!r.ok()) return r.take_error();
  std::vector<AttemptSummary> out;
  for (int i = 0; i < r->rows(); ++i) {
    AttemptSummary a;
    a.id = std::string(r->text(i, 0));
    a.msg_id = std::string(r->text(i, 1));
    a.status = static_cast<int>(r->int64(i, 2));
    a.response_status_code = static_cast<int>(r->int64(i, 3));
    a.response = std::string(r->text(i, 4));
    a.created_at = time(*r, i, 5);
    if (a.created_at >= since) out.push_back(std::move(a));  // ids carry whole seconds
  }
  return out;
}

Result<std::vector<Delivery>> PgTx::list_deliveries_by_message(std::string_view app_id,
                                                               std::string_view msg_id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM deliveries WHERE app_id = $1::text AND msg_id = $2::text ORDER BY id", kDeliveryCols);
  static const Statement kList{"list_deliveries_by_message", sql};
  Params p;
  p.text(app_id).text(msg_id);
  auto r = run(kList, p);
  if (!r.ok()) return r.take_error();
  std::vector<Delivery> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(read_delivery(*r, i));
  return out;
}

namespace {
Result<MessageDelivery> read_message_delivery(const PgResult& r, int row) {
  auto m = read_message(r, row);
  if (!m.ok()) return m.take_error();
  return MessageDelivery{std::move(*m), read_delivery(r, row, kMessageColCount)};
}
}  // namespace

Result<Page<MessageDelivery>> PgTx::list_endpoint_messages(std::string_view app_id,
                                                           std::string_view endpoint_id,
                                                           const DeliveryQuery& q) {
  Query query(
      fmt::format("SELECT {}, {} FROM deliveries d JOIN messages m ON m.app_id = d.app_id AND m.id = "
                  "d.msg_id WHERE d.app_id = ",
                  prefixed(kMessageCols, "m"), prefixed(kDeliveryCols, "d")));
  query.text(app_id);
  query << " AND d.endpoint_id = ";
  query.text(endpoint_id);
  query << kLatestDelivery;
  if (q.status) query << reported_status_sql(*q.status);
  add_time_and_message_filters(query, "m.created_at", q.before, q.after, q.event_types, q.channel);
  return list<MessageDelivery>(std::move(query), "d.msg_id", q.page, read_message_delivery,
                               [](const MessageDelivery& md) { return md.message.id; });
}

Result<Page<EndpointDelivery>> PgTx::list_message_endpoints(std::string_view app_id, std::string_view msg_id,
                                                            const PageQuery& q) {
  Query query(
      fmt::format("SELECT {}, {} FROM deliveries d JOIN endpoints e ON e.app_id = d.app_id AND e.id = "
                  "d.endpoint_id WHERE d.app_id = ",
                  prefixed(kEndpointCols, "e"), prefixed(kDeliveryCols, "d")));
  query.text(app_id);
  query << " AND d.msg_id = ";
  query.text(msg_id);
  query << kLatestDelivery;
  return list<EndpointDelivery>(
      std::move(query), "d.endpoint_id", q,
      [](const PgResult& r, int row) -> Result<EndpointDelivery> {
        auto e = read_endpoint(r, row);
        if (!e.ok()) return e.take_error();
        return EndpointDelivery{std::move(*e), read_delivery(r, row, kEndpointColCount)};
      },
      [](const EndpointDelivery& ed) { return ed.endpoint.id; });
}

Result<DeliveryCounts> PgTx::count_endpoint_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                                       std::optional<TimePoint> since,
                                                       std::optional<TimePoint> until) {
  Query q(
      "SELECT count(*) FILTER (WHERE d.status = 0), count(*) FILTER (WHERE d.status IN (1, 3) AND d.attempts "
      "= "
      "0), count(*) FILTER (WHERE d.status IN (1, 3) AND d.attempts > 0), count(*) FILTER (WHERE d.status = "
      "2) "
      "FROM deliveries d WHERE d.app_id = ");
  q.text(app_id);
  q << " AND d.endpoint_id = ";
  q.text(endpoint_id);
  q << kLatestDelivery;
  if (since) {
    q << " AND d.created_at >= ";
    q.time(*since);
  }
  if (until) {
    q << " AND d.created_at < ";
    q.time(*until);
  }
  auto r = run(q);
  if (!r.ok()) return r.take_error();
  return DeliveryCounts{r->int64(0, 0), r->int64(0, 1), r->int64(0, 2), r->int64(0, 3)};
}

Result<Page<MessageDelivery>> PgTx::list_failed_deliveries(std::string_view app_id, const DeliveryQuery& q) {
  Query query(
      fmt::format("SELECT {}, {} FROM deliveries d JOIN messages m ON m.app_id = d.app_id AND m.id = "
                  "d.msg_id WHERE d.app_id = ",
                  prefixed(kMessageCols, "m"), prefixed(kDeliveryCols, "d")));
  query.text(app_id);
  query << " AND d.status = 2" << kLatestDelivery;
  add_time_and_message_filters(query, "m.created_at", q.before, q.after, q.event_types, q.channel);
  return list<MessageDelivery>(std::move(query), "d.id", q.page, read_message_delivery,
                               [](const MessageDelivery& md) { return md.delivery.id; });
}

}  // namespace hookwire::store::postgres
