// PgTx: the feed, retention and scoped tokens.
//
// A message's position is given from feed_sequence in commit order, and its id with it (pg_tx.h), so one
// application's messages in id order are in position order: the primary key (app_id, id) reads the feed.
#include <fmt/format.h>

#include "core/ids.h"
#include "store/postgres/pg_tx_parts.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

namespace {

// The SQL condition a message must meet to pass the sink's and the request's filters (true: none).
void add_feed_match(Query& q, const FeedQuery& f) {
  q << "true";
  if (f.event_types) {
    q << " AND event_type = ANY(";
    q.text_array(*f.event_types);
    q << ")";
  }
  if (f.event_type) {
    q << " AND event_type = ";
    q.text(*f.event_type);
  }
  if (f.created_after) {
    q << " AND created_at > ";
    q.time(*f.created_after);
  }
  if (f.channels) {  // any of them
    q << " AND channels IS NOT NULL AND channels::jsonb ?| ";
    q.text_array(*f.channels);
  }
  if (f.channel) add_channel_filter(q, "channels", *f.channel);
}

// How many messages, in id order from the first created after a time, feed_position_at looks at for the
// lowest position (as SqliteTx does: commit order may differ a little from creation order).
constexpr int kPositionWindow = 256;

constexpr const char* kTokenCols =
    "id, kind, app_id, endpoint_id, hash, capabilities, created_at, expires_at, session_id";

Result<ApiToken> read_token(const PgResult& r, int row) {
  ApiToken t;
  t.id = r.text(row, 0);
  t.kind = static_cast<int>(r.int64(row, 1));
  t.app_id = r.text(row, 2);
  t.endpoint_id = opt_text(r, row, 3);
  t.hash = r.text(row, 4);
  auto capabilities = json_columns::strings_from_json(r.text(row, 5), "api_tokens.capabilities");
  if (!capabilities.ok()) return capabilities.take_error();
  t.capabilities = std::move(*capabilities);
  t.created_at = time(r, row, 6);
  t.expires_at = opt_time(r, row, 7);
  t.session_id = opt_text(r, row, 8);
  return t;
}

}  // namespace

// ---- The feed
// ------------------------------------------------------------------------------------------------

Result<FeedPage> PgTx::read_feed(const FeedQuery& f) {
  FeedPage page;
  page.scanned_to = f.after;
  if (f.after >= f.until) return page;  // nothing readable (done)
  const int64_t limit = std::max(1, f.limit);
  const int64_t scan_limit = std::max(1, f.scan_limit);
  // One statement, whose rows stream: the application's messages in id order (their position order) from the
  // one after the newest message at or below `after` up to the newest at or below `until` (index bounds, so
  // the walk stops there), at most scan_limit + 1 of them, each with whether it matches and its number. A
  // read examines them in order and stops before the row at which `limit` items were taken or `scan_limit`
  // rows examined. What comes back is only what that needs: the matches (with their columns), the row after
  // each match (the one the read may stop before) and rows scan_limit and scan_limit + 1; at most
  // 2 * limit + 2 rows, so the walk ends as soon as the page is full.
  Query q("SELECT n.rn, n.position, n.hit, " + prefixed(kMessageCols, "m") +
          " FROM (SELECT s.id, s.position, s.hit, row_number() OVER w AS rn, lag(s.hit, 1, false) OVER w AS "
          "after_hit FROM (SELECT id, position, (");
  add_feed_match(q, f);
  q << ") AS hit FROM messages WHERE app_id = ";
  q.text(f.app_id);
  q << " AND id > COALESCE((SELECT id FROM messages WHERE position <= ";
  q.int64(f.after);
  q << " ORDER BY position DESC LIMIT 1), '') AND id <= (SELECT id FROM messages WHERE position <= ";
  q.int64(f.until);
  q << " ORDER BY position DESC LIMIT 1) AND position <= ";
  q.int64(f.until);
  q << " ORDER BY id LIMIT ";
  q.int64(scan_limit + 1);
  q << ") s WINDOW w AS (ORDER BY s.id)) n LEFT JOIN messages m ON n.hit AND m.app_id = ";
  q.text(f.app_id);
  q << " AND m.id = n.id WHERE n.hit OR n.after_hit OR n.rn >= ";
  q.int64(scan_limit);
  q << " ORDER BY n.id LIMIT ";
  q.int64(2 * limit + 2);
  auto r = run(q);
  if (!r.ok()) return r.take_error();
  bool more = false;
  int64_t last = f.after;
  for (int i = 0; i < r->rows(); ++i) {
    if (page.items.size() == static_cast<size_t>(limit) || r->int64(i, 0) > scan_limit) {
      more = true;  // a row the read does not examine: there is more
      break;
    }
    last = r->int64(i, 1);
    if (!r->boolean(i, 2)) continue;
    auto msg = read_message(*r, i, 3);
    if (!msg.ok()) return msg.take_error();
    page.items.push_back(std::move(*msg));
  }
  page.scanned_to = more ? last : f.until;
  page.done = !more;
  return page;
}

Result<int64_t> PgTx::feed_start() {
  static constexpr Statement kStart{"feed_start", "SELECT pruned_through FROM feed_state WHERE id = 0"};
  auto r = run(kStart, Params());
  if (!r.ok()) return r.take_error();
  if (r->rows() != 1) return Error::internal("postgres: feed_state must hold one row");
  return r->int64(0, 0);
}

Result<int64_t> PgTx::feed_position_at(std::string_view app_id, TimePoint t) {
  auto start = feed_start();
  if (!start.ok()) return start;
  // Message ids begin with their creation second: every message created after `t` has an id at or above the
  // smallest id of t's second. From the first of them (in id order) created after `t`, the lowest position
  // among the next few is where the read must start (commit order may differ a little from creation order).
  const std::string from_id = min_id_at(id_prefix::kMessage, t);
  static constexpr Statement kLowest{
      "feed_position_at",
      "SELECT min(position) FROM (SELECT position FROM messages WHERE app_id = $1::text AND id >= (SELECT id "
      "FROM messages WHERE app_id = $1::text AND id >= $2::text AND created_at > $3::bigint ORDER BY id "
      "LIMIT "
      "1) ORDER BY id LIMIT $4::bigint) w"};
  Params p;
  p.text(app_id).text(from_id).int64(unix_millis(t)).int64(kPositionWindow);
  auto r = run(kLowest, p);
  if (!r.ok()) return r.take_error();
  if (!r->is_null(0, 0)) return std::max(r->int64(0, 0) - 1, *start);
  // None younger: after the application's newest message (or where the log starts, if it has none).
  static constexpr Statement kNewest{
      "feed_position_newest",
      "SELECT position FROM messages WHERE app_id = $1::text ORDER BY id DESC LIMIT 1"};
  Params newest_params;
  newest_params.text(app_id);
  auto newest = run(kNewest, newest_params);
  if (!newest.ok()) return newest.take_error();
  if (newest->rows() == 0) return *start;
  return std::max(newest->int64(0, 0), *start);
}

Result<FeedConsumer> PgTx::get_feed_consumer(std::string_view app_id, std::string_view endpoint_id,
                                             std::string_view consumer_id) {
  static constexpr Statement kGet{
      "get_feed_consumer",
      "SELECT position, leased_through, lease_until, updated_at FROM feed_consumers WHERE app_id = $1::text "
      "AND endpoint_id = $2::text AND consumer_id = $3::text"};
  Params p;
  p.text(app_id).text(endpoint_id).text(consumer_id);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("consumer not found");
  FeedConsumer c;
  c.app_id = std::string(app_id);
  c.endpoint_id = std::string(endpoint_id);
  c.consumer_id = std::string(consumer_id);
  c.position = r->int64(0, 0);
  c.leased_through = r->int64(0, 1);
  c.lease_until = opt_time(*r, 0, 2);
  c.updated_at = time(*r, 0, 3);
  return c;
}

Status PgTx::put_feed_consumer(const FeedConsumer& c) {
  static constexpr Statement kPut{
      "put_feed_consumer",
      "INSERT INTO feed_consumers (app_id, endpoint_id, consumer_id, position, leased_through, lease_until, "
      "updated_at) VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::bigint, $7::bigint) ON "
      "CONFLICT (app_id, endpoint_id, consumer_id) DO UPDATE SET position = EXCLUDED.position, "
      "leased_through "
      "= EXCLUDED.leased_through, lease_until = EXCLUDED.lease_until, updated_at = EXCLUDED.updated_at"};
  Params p;
  p.text(c.app_id).text(c.endpoint_id).text(c.consumer_id).int64(c.position).int64(c.leased_through);
  if (c.lease_until) {
    p.int64(unix_millis(*c.lease_until));
  } else {
    p.null();
  }
  p.int64(unix_millis(c.updated_at));
  auto n = change(kPut, p);
  if (!n.ok()) return n.take_error();
  return {};
}

// ---- Retention
// -----------------------------------------------------------------------------------------------

Result<bool> PgTx::delete_message(std::string_view app_id, std::string_view msg_id) {
  Params p;
  p.text(app_id).text(msg_id);
  for (const Statement& st :
       {Statement{"prune_attempts", "DELETE FROM attempts WHERE app_id = $1::text AND msg_id = $2::text"},
        Statement{"prune_deliveries",
                  "DELETE FROM deliveries WHERE app_id = $1::text AND msg_id = $2::text"}}) {
    if (auto n = change(st, p); !n.ok()) return n.take_error();
  }
  static constexpr Statement kMessage{"prune_message",
                                      "DELETE FROM messages WHERE app_id = $1::text AND id = $2::text"};
  auto n = change(kMessage, p);
  if (!n.ok()) return n.take_error();
  return *n == 1;
}

Result<int> PgTx::prune_messages(TimePoint cutoff, int limit) {
  limit = std::max(1, limit);
  auto start = feed_start();
  if (!start.ok()) return start.take_error();
  // Each row with whether a delivery of it is still live (pending or leased).
  static constexpr const char* kRows =
      "SELECT m.position, m.app_id, m.id, m.created_at, EXISTS (SELECT 1 FROM deliveries d WHERE d.app_id = "
      "m.app_id AND d.msg_id = m.id AND d.status IN (1, 3)) FROM messages m WHERE m.position {} $1::bigint "
      "ORDER BY m.position LIMIT $2::bigint";
  static const std::string kept_sql = fmt::format(kRows, "<=");
  static const std::string next_sql = fmt::format(kRows, ">");
  static const Statement kKept{"prune_kept", kept_sql};
  static const Statement kNext{"prune_next", next_sql};
  int deleted = 0;
  auto remove = [&](const PgResult& r, int row) -> Status {
    auto removed = delete_message(r.text(row, 1), r.text(row, 2));
    if (!removed.ok()) return removed.take_error();
    if (*removed) ++deleted;  // not when another node's janitor deleted it first
    return {};
  };
  const int64_t cutoff_ms = unix_millis(cutoff);

  // 1. Messages kept earlier for their live deliveries (below the start, only they are left): those whose
  // deliveries have finished since. The oldest `limit` of them are looked at.
  Params kept_params;
  kept_params.int64(*start).int64(limit);
  auto kept = run(kKept, kept_params);
  if (!kept.ok()) return kept.take_error();
  for (int i = 0; i < kept->rows() && deleted < limit; ++i) {
    if (kept->int64(i, 3) >= cutoff_ms || kept->boolean(i, 4)) continue;
    if (auto st = remove(*kept, i); !st.ok()) return st.take_error();
  }

  // 2. From the start on, oldest first, up to the first message not older than the cutoff: each is deleted,
  // or kept (passed over) while a delivery of it is still live. The start moves over both: a kept message
  // below it is read by id only, no longer through the feed. At most 4 * limit rows are looked at.
  int64_t new_start = *start;
  if (deleted < limit) {
    Params next_params;
    next_params.int64(*start).int64(int64_t{limit} * 4);
    auto next = run(kNext, next_params);
    if (!next.ok()) return next.take_error();
    for (int i = 0; i < next->rows(); ++i) {
      if (deleted == limit || next->int64(i, 3) >= cutoff_ms) break;
      if (!next->boolean(i, 4)) {
        if (auto st = remove(*next, i); !st.ok()) return st.take_error();
      }
      new_start = next->int64(i, 0);
    }
  }
  if (new_start != *start) {
    static constexpr Statement kStart{
        "prune_start",
        "UPDATE feed_state SET pruned_through = GREATEST(pruned_through, $1::bigint) WHERE id = 0"};
    Params p;
    p.int64(new_start);
    if (auto n = change(kStart, p); !n.ok()) return n.take_error();
  }
  return deleted;
}

Result<int> PgTx::expire_payloads(TimePoint now, int limit) {
  // The partial index holds only the payloads still to expire; an expired one leaves it (payload '').
  static constexpr Statement kExpire{
      "expire_payloads",
      "UPDATE messages SET payload = '' WHERE (app_id, id) IN (SELECT app_id, id FROM messages WHERE "
      "payload_expires_at IS NOT NULL AND payload <> '' AND payload_expires_at <= $1::bigint ORDER BY "
      "payload_expires_at LIMIT $2::bigint)"};
  Params p;
  p.int64(unix_millis(now)).int64(std::max(1, limit));
  auto n = change(kExpire, p);
  if (!n.ok()) return n.take_error();
  return static_cast<int>(*n);
}

// ---- Scoped tokens
// -------------------------------------------------------------------------------------------

Status PgTx::insert_token(const ApiToken& t) {
  static constexpr Statement kInsert{
      "insert_token",
      "INSERT INTO api_tokens (id, kind, app_id, endpoint_id, hash, capabilities, created_at, expires_at, "
      "session_id) VALUES ($1::text, $2::integer, $3::text, $4::text, $5::text, $6::text, $7::bigint, "
      "$8::bigint, $9::text) ON CONFLICT DO NOTHING"};
  const std::string capabilities = json_columns::to_json(t.capabilities);
  Params p;
  p.text(t.id).int64(t.kind).text(t.app_id).text(t.endpoint_id).text(t.hash).text(capabilities);
  p.int64(unix_millis(t.created_at));
  if (t.expires_at) {
    p.int64(unix_millis(*t.expires_at));
  } else {
    p.null();
  }
  p.text(t.session_id);
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 1) return {};
  static constexpr Statement kHash{"token_hash_taken",
                                   "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE hash = $1::text)"};
  Params hash;
  hash.text(t.hash);
  auto taken = run(kHash, hash);
  if (!taken.ok()) return taken.take_error();
  return taken->boolean(0, 0) ? Error::conflict("token hash already exists")
                              : Error::conflict("token id already exists");
}

Result<ApiToken> PgTx::get_token(std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens WHERE id = $1::text", kTokenCols);
  static const Statement kGet{"get_token", sql};
  Params p;
  p.text(id);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("token not found");
  return read_token(*r, 0);
}

Result<ApiToken> PgTx::get_token_by_hash(std::string_view hash) {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens WHERE hash = $1::text", kTokenCols);
  static const Statement kGet{"get_token_by_hash", sql};
  Params p;
  p.text(hash);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("token not found");
  return read_token(*r, 0);
}

Result<std::vector<ApiToken>> PgTx::list_tokens() {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens ORDER BY id", kTokenCols);
  static const Statement kList{"list_tokens", sql};
  auto r = run(kList, Params());
  if (!r.ok()) return r.take_error();
  std::vector<ApiToken> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto t = read_token(*r, i);
    if (!t.ok()) return t.take_error();
    out.push_back(std::move(*t));
  }
  return out;
}

Status PgTx::update_token_expiry(std::string_view id, std::optional<TimePoint> expires_at) {
  static constexpr Statement kUpdate{"update_token_expiry",
                                     "UPDATE api_tokens SET expires_at = $1::bigint WHERE id = $2::text"};
  Params p;
  if (expires_at) {
    p.int64(unix_millis(*expires_at));
  } else {
    p.null();
  }
  p.text(id);
  auto n = change(kUpdate, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("token not found");
  return {};
}

Result<ApiToken> PgTx::redeem_token(std::string_view hash, int kind, TimePoint now) {
  // One conditional UPDATE: a concurrent redeem of the same row (another node) waits for this one's row lock,
  // then finds the condition false on the row as updated (READ COMMITTED re-checks it) and changes nothing.
  // The CTE reads the row as it was before the update (the same snapshot).
  static const std::string sql = fmt::format(
      "WITH was AS (SELECT {0} FROM api_tokens WHERE hash = $1::text) UPDATE api_tokens t SET "
      "expires_at = $4::bigint FROM was WHERE t.id = was.id AND t.kind = $2::integer AND "
      "(t.expires_at IS NULL OR t.expires_at > $3::bigint) RETURNING {1}",
      kTokenCols, prefixed(kTokenCols, "was"));
  static const Statement kRedeem{"redeem_token", sql};
  Params p;
  p.text(hash).int64(kind).int64(unix_millis(now)).int64(unix_millis(kTokenUsed));
  auto r = run(kRedeem, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("no live token with that hash");
  return read_token(*r, 0);
}

Status PgTx::delete_tokens_expired_before(TimePoint t) {
  static constexpr Statement kDelete{
      "delete_tokens_expired_before",
      "DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < $1::bigint"};
  Params p;
  p.int64(unix_millis(t));
  auto n = change(kDelete, p);
  if (!n.ok()) return n.take_error();
  return {};
}

}  // namespace hookwire::store::postgres
