// SqliteTx's feed, retention and token operations, and SqliteStore's feed head.
//
// A message's position is its rowid, which the writer assigns in increasing order (recent_keys.h), one batch
// after the other: positions increase in commit order. `feed_state.high_water` is raised to the highest
// position given before any message is deleted, and the writer continues above it after a reopen, so a
// position is never given twice. The writer gives ids in the same order (MessageSequence), so the primary
// key (app_id, id) reads one application's messages in position order; those stored before schema 14 are
// read through `messages_by_app_legacy_position` (schema.cc).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_tx.h"
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store {
namespace json = boost::json;
namespace {

// The message's channels (JSON array text, as insert_message wrote it; empty: none), parsed once per row.
json::array channels_of(std::string_view channels_json) {
  if (channels_json.empty()) return {};
  boost::system::error_code ec;
  auto v = json::parse(channels_json, ec);
  if (ec || !v.is_array()) return {};
  return std::move(v.as_array());
}

bool has_channel(const json::array& channels, std::string_view wanted) {
  for (const auto& c : channels)
    if (c.is_string() && c.as_string() == wanted) return true;
  return false;
}

// Whether the row (columns as kMessageColumns: 3 event_type, 5 channels, 6 created_at) passes the sink's and
// the request's filters. Only the columns the filters need are read.
bool feed_match(const Stmt& s, const FeedQuery& q) {
  if (q.event_types || q.event_type) {
    const std::string_view type = s.view(3);
    if (q.event_type && type != *q.event_type) return false;
    if (q.event_types &&
        std::find(q.event_types->begin(), q.event_types->end(), type) == q.event_types->end())
      return false;
  }
  if (q.created_after && s.time(6) <= *q.created_after) return false;
  if (q.channels || q.channel) {
    const json::array channels = channels_of(s.is_null(5) ? std::string_view() : s.view(5));
    if (q.channel && !has_channel(channels, *q.channel)) return false;
    if (q.channels && std::none_of(q.channels->begin(), q.channels->end(),
                                   [&](const std::string& c) { return has_channel(channels, c); }))
      return false;
  }
  return true;
}

// How many messages, in id order from the first created after a time, feed_position_at looks at for the
// lowest position: concurrent writers may commit a message a little out of its id (creation) order.
constexpr int kPositionWindow = 256;

constexpr const char* kTokenCols =
    "id, kind, app_id, endpoint_id, hash, capabilities, created_at, expires_at, session_id";

Result<ApiToken> read_token(const Stmt& s) {
  ApiToken t;
  t.id = s.text(0);
  t.kind = static_cast<int>(s.int64(1));
  t.app_id = s.text(2);
  t.endpoint_id = s.opt_text(3);
  t.hash = s.text(4);
  boost::system::error_code ec;
  auto v = json::parse(s.view(5), ec);
  if (ec || !v.is_array()) return Error::internal("corrupt JSON in column api_tokens.capabilities");
  for (const auto& c : v.as_array()) {
    if (!c.is_string()) return Error::internal("corrupt JSON in column api_tokens.capabilities");
    t.capabilities.emplace_back(c.as_string());
  }
  t.created_at = s.time(6);
  if (!s.is_null(7)) t.expires_at = s.time(7);
  t.session_id = s.opt_text(8);
  return t;
}

}  // namespace

void SqliteTx::feed_apps_dedup() {
  if (feed_apps_.size() <= kFeedAppsScan) return;  // kept distinct as they came
  std::sort(feed_apps_.begin(), feed_apps_.end());
  feed_apps_.erase(std::unique(feed_apps_.begin(), feed_apps_.end()), feed_apps_.end());
}

// ---- The feed
// ------------------------------------------------------------------------------------------------

Result<SqliteTx::FeedLayout> SqliteTx::feed_layout() {
  auto stmt = conn_.prepare("SELECT legacy_through, legacy_max_id FROM feed_state");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  if (s.step() != SQLITE_ROW) return conn_.error("feed_layout");
  return FeedLayout{s.int64(0), s.text(1)};
}

Result<FeedPage> SqliteTx::read_feed(const FeedQuery& q) {
  FeedPage page;
  page.scanned_to = q.after;
  if (q.after >= q.until) return page;  // nothing readable (done)
  auto layout = feed_layout();
  if (!layout.ok()) return layout.take_error();
  const size_t limit = static_cast<size_t>(std::max(1, q.limit));
  const int scan_limit = std::max(1, q.scan_limit);
  constexpr int kPositionCol = sqlite_rows::kMessageColumnCount - 1;
  int examined = 0;
  int64_t last = q.after;
  bool more = false;
  // Takes the statement's rows in position order until one is past `until` (the rest are too: done) or past
  // either limit (the read stops before it, and says there is more). A row is read only for the filters and
  // the matches.
  auto take = [&](Stmt& s, const char* what) -> Status {
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const int64_t position = s.int64(kPositionCol);
      if (position > q.until) return {};
      if (page.items.size() == limit || examined == scan_limit) {
        more = true;
        return {};
      }
      ++examined;
      last = position;
      if (!feed_match(s, q)) continue;
      auto msg = sqlite_rows::read_message(s);
      if (!msg.ok()) return msg.take_error();
      page.items.push_back(std::move(*msg));
    }
    if (rc != SQLITE_DONE) return conn_.error(what);
    return {};
  };
  // The messages stored before schema 14, through the partial index that holds only them (its WHERE is a
  // literal the query must repeat for SQLite to use it).
  if (q.after < layout->legacy_through) {
    auto stmt = conn_.prepare(fmt::format(
        "SELECT {} FROM messages INDEXED BY messages_by_app_legacy_position WHERE app_id = ?1 AND rowid > ?2 "
        "AND rowid <= {} ORDER BY rowid",
        sqlite_rows::kMessageColumns, layout->legacy_through));
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, q.app_id);
    s.bind(2, q.after);
    if (auto st = take(s, "read_feed"); !st.ok()) return st.error();
  }
  // The rest in id order, which is their position order (MessageSequence), from the id of the newest message
  // at or below `after`: every later message has a larger id.
  if (!more && q.until > layout->legacy_through) {
    std::string from = layout->legacy_max_id;
    if (q.after > layout->legacy_through) {
      auto stmt = conn_.prepare(
          "SELECT id FROM messages WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid DESC LIMIT 1");
      if (!stmt.ok()) return stmt.take_error();
      Stmt s(*stmt);
      s.bind(1, layout->legacy_through);
      s.bind(2, q.after);
      const int rc = s.step();
      if (rc == SQLITE_ROW) {
        from = s.text(0);
      } else if (rc != SQLITE_DONE) {
        return conn_.error("read_feed");
      }
    }
    static const std::string sql = fmt::format(
        "SELECT {} FROM messages INDEXED BY sqlite_autoindex_messages_1 WHERE app_id = ?1 AND id > ?2 ORDER "
        "BY "
        "id",
        sqlite_rows::kMessageColumns);
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, q.app_id);
    s.bind(2, from);
    if (auto st = take(s, "read_feed"); !st.ok()) return st.error();
  }
  page.scanned_to = more ? last : q.until;
  page.done = !more;
  return page;
}

Result<int64_t> SqliteTx::feed_start() {
  auto stmt = conn_.prepare("SELECT pruned_through FROM feed_state");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  if (s.step() != SQLITE_ROW) return conn_.error("feed_start");
  return s.int64(0);
}

Result<int64_t> SqliteTx::feed_position_at(std::string_view app_id, TimePoint t) {
  auto start = feed_start();
  if (!start.ok()) return start;
  // Message ids begin with their creation second: every message created after `t` has an id at or above
  // the smallest id of t's second. Walk them in id order, past those of that second created at or before
  // `t`; from the first created after it, the lowest position among the next few (kPositionWindow) is where
  // the read must start (commit order may differ a little from creation order).
  const std::string from_id = min_id_at(id_prefix::kMessage, t);
  auto stmt =
      conn_.prepare("SELECT rowid, created_at FROM messages WHERE app_id = ?1 AND id >= ?2 ORDER BY id");
  if (!stmt.ok()) return stmt.take_error();
  {
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, from_id);
    std::optional<int64_t> lowest;
    int window = 0;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      if (!lowest && s.time(1) <= t) continue;
      const int64_t position = s.int64(0);
      if (!lowest || position < *lowest) lowest = position;
      if (++window == kPositionWindow) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("feed_position_at");
    if (lowest) return std::max(*lowest - 1, *start);
  }
  // None younger: after the application's newest message (or where the log starts, if it has none). Its
  // largest id is its newest position, unless it only has messages stored before schema 14.
  auto layout = feed_layout();
  if (!layout.ok()) return layout.take_error();
  int64_t newest = *start;
  auto by_id = conn_.prepare(
      "SELECT rowid FROM messages INDEXED BY sqlite_autoindex_messages_1 WHERE app_id = ? ORDER BY id DESC "
      "LIMIT 1");
  if (!by_id.ok()) return by_id.take_error();
  {
    Stmt s(*by_id);
    s.bind(1, app_id);
    const int rc = s.step();
    if (rc == SQLITE_ROW) newest = std::max(newest, s.int64(0));
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn_.error("feed_position_at");
  }
  if (newest <= layout->legacy_through) {
    auto legacy = conn_.prepare(fmt::format(
        "SELECT max(rowid) FROM messages INDEXED BY messages_by_app_legacy_position WHERE app_id = ? "
        "AND rowid <= {}",
        layout->legacy_through));
    if (!legacy.ok()) return legacy.take_error();
    Stmt s(*legacy);
    s.bind(1, app_id);
    if (s.step() != SQLITE_ROW) return conn_.error("feed_position_at");
    if (!s.is_null(0)) newest = std::max(newest, s.int64(0));
  }
  return newest;
}

Result<FeedConsumer> SqliteTx::get_feed_consumer(std::string_view app_id, std::string_view endpoint_id,
                                                 std::string_view consumer_id) {
  auto stmt = conn_.prepare(
      "SELECT position, leased_through, lease_until, updated_at FROM feed_consumers WHERE app_id = ? AND "
      "endpoint_id = ? AND consumer_id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  s.bind(2, endpoint_id);
  s.bind(3, consumer_id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return Error::not_found("consumer not found");
  if (rc != SQLITE_ROW) return conn_.error("get_feed_consumer");
  FeedConsumer c;
  c.app_id = std::string(app_id);
  c.endpoint_id = std::string(endpoint_id);
  c.consumer_id = std::string(consumer_id);
  c.position = s.int64(0);
  c.leased_through = s.int64(1);
  if (!s.is_null(2)) c.lease_until = s.time(2);
  c.updated_at = s.time(3);
  return c;
}

Status SqliteTx::put_feed_consumer(const FeedConsumer& c) {
  auto stmt = conn_.prepare(
      "INSERT OR REPLACE INTO feed_consumers (app_id, endpoint_id, consumer_id, position, leased_through, "
      "lease_until, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, c.app_id);
  s.bind(2, c.endpoint_id);
  s.bind(3, c.consumer_id);
  s.bind(4, c.position);
  s.bind(5, c.leased_through);
  s.bind(6, c.lease_until);
  s.bind(7, c.updated_at);
  return finish_write(s, "put_feed_consumer");
}

// ---- Retention
// -----------------------------------------------------------------------------------------------

Status SqliteTx::raise_high_water() {
  // max(rowid) of a rowid table is one step down the B-tree.
  return conn_.run(
      "UPDATE feed_state SET high_water = max(high_water, COALESCE((SELECT max(rowid) FROM messages), 0))");
}

Status SqliteTx::delete_message_row(int64_t rowid, std::string_view app_id, std::string_view msg_id,
                                    const std::optional<std::string>& idempotency_key) {
  for (const char* sql : {"DELETE FROM attempts WHERE app_id = ? AND msg_id = ?",
                          "DELETE FROM deliveries WHERE app_id = ? AND "
                          "msg_id = ?"}) {
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, msg_id);
    if (auto st = finish_write(s, "prune_messages"); !st.ok()) return st;
  }
  if (idempotency_key) {
    auto stmt =
        conn_.prepare("DELETE FROM message_keys WHERE hash = hookwire_key_hash(?1, ?2) AND msg_rowid = ?3");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, *idempotency_key);
    s.bind(3, rowid);
    if (auto st = finish_write(s, "prune_messages"); !st.ok()) return st;
  }
  auto stmt = conn_.prepare("DELETE FROM messages WHERE rowid = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, rowid);
  return finish_write(s, "prune_messages");
}

Result<int> SqliteTx::prune_messages(TimePoint cutoff, int limit) {
  limit = std::max(1, limit);
  auto start = feed_start();
  if (!start.ok()) return start.take_error();
  struct Row {
    int64_t rowid;
    std::string app_id, id;
    std::optional<std::string> key;
    TimePoint created_at;
  };
  // Rows are read first, then deleted (a table is not changed under a statement still reading it).
  auto rows = [&](const char* sql, int64_t bound, int64_t n) -> Result<std::vector<Row>> {
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, bound);
    s.bind(2, n);
    std::vector<Row> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      out.push_back({s.int64(0), s.text(1), s.text(2), s.opt_text(3), s.time(4)});
    if (rc != SQLITE_DONE) return conn_.error("prune_messages");
    return out;
  };
  auto live =
      conn_.prepare("SELECT 1 FROM deliveries WHERE app_id = ? AND msg_id = ? AND status IN (1, 3) LIMIT 1");
  if (!live.ok()) return live.take_error();
  auto has_live_delivery = [&](const Row& r) -> Result<bool> {
    Stmt s(*live);
    s.bind(1, r.app_id);
    s.bind(2, r.id);
    const int rc = s.step();
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) return conn_.error("prune_messages");
    return false;
  };
  int deleted = 0;
  auto remove = [&](const Row& r) -> Status {
    if (deleted == 0) {
      if (auto st = raise_high_water(); !st.ok()) return st;
    }
    if (auto st = delete_message_row(r.rowid, r.app_id, r.id, r.key); !st.ok()) return st;
    ++deleted;
    return {};
  };

  // 1. Messages kept earlier for their live deliveries (below the start, only they are left): those whose
  // deliveries have finished since. The oldest `limit` of them are looked at.
  auto kept = rows(
      "SELECT rowid, app_id, id, idempotency_key, created_at FROM messages WHERE rowid <= ?1 ORDER BY rowid "
      "LIMIT ?2",
      *start, limit);
  if (!kept.ok()) return kept.take_error();
  for (const Row& r : *kept) {
    if (deleted == limit) break;
    if (r.created_at >= cutoff) continue;
    auto busy = has_live_delivery(r);
    if (!busy.ok()) return busy.take_error();
    if (*busy) continue;
    if (auto st = remove(r); !st.ok()) return st.take_error();
  }

  // 2. From the start on, oldest first, up to the first message not older than the cutoff: each is deleted,
  // or kept (passed over) while a delivery of it is still live. The start moves over both: a kept message
  // below it is read by id only, no longer through the feed. At most 4 * limit rows are looked at.
  int64_t new_start = *start;
  if (deleted < limit) {
    auto next = rows(
        "SELECT rowid, app_id, id, idempotency_key, created_at FROM messages WHERE rowid > ?1 ORDER BY rowid "
        "LIMIT ?2",
        *start, int64_t{limit} * 4);
    if (!next.ok()) return next.take_error();
    for (const Row& r : *next) {
      if (deleted == limit || r.created_at >= cutoff) break;
      auto busy = has_live_delivery(r);
      if (!busy.ok()) return busy.take_error();
      if (!*busy) {
        if (auto st = remove(r); !st.ok()) return st.take_error();
      }
      new_start = r.rowid;
    }
  }
  if (new_start != *start) {
    auto stmt = conn_.prepare("UPDATE feed_state SET pruned_through = max(pruned_through, ?)");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, new_start);
    if (auto st = finish_write(s, "prune_messages"); !st.ok()) return st.take_error();
  }
  return deleted;
}

Result<int> SqliteTx::expire_payloads(TimePoint now, int limit) {
  // The partial index holds only the payloads still to expire; an expired one leaves it (payload '').
  auto stmt = conn_.prepare(
      "UPDATE messages SET payload = '' WHERE rowid IN (SELECT rowid FROM messages INDEXED BY "
      "messages_payload_expiry WHERE payload_expires_at IS NOT NULL AND payload <> '' AND payload_expires_at "
      "<= ?1 ORDER BY payload_expires_at LIMIT ?2)");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, now);
  s.bind(2, int64_t{std::max(1, limit)});
  if (auto st = finish_write(s, "expire_payloads"); !st.ok()) return st.take_error();
  return sqlite3_changes(conn_.handle());
}

// ---- Scoped tokens
// -------------------------------------------------------------------------------------------

Status SqliteTx::insert_token(const ApiToken& t) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO api_tokens (id, kind, app_id, endpoint_id, hash, capabilities, created_at, "
      "expires_at, session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  const std::string capabilities = json::serialize(json::value_from(t.capabilities));
  Stmt s(*stmt);
  s.bind(1, t.id);
  s.bind(2, t.kind);
  s.bind(3, t.app_id);
  s.bind(4, t.endpoint_id);
  s.bind(5, t.hash);
  s.bind(6, capabilities);
  s.bind(7, t.created_at);
  s.bind(8, t.expires_at);
  s.bind(9, t.session_id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return {};
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return std::string_view(sqlite3_errmsg(conn_.handle())).find(".hash") != std::string_view::npos
               ? Error::conflict("token hash already exists")
               : Error::conflict("token id already exists");
  }
  return conn_.error("insert_token");
}

Result<ApiToken> SqliteTx::get_token(std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens WHERE id = ?", kTokenCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, id);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_token(s);
  if (rc != SQLITE_DONE) return conn_.error("get_token");
  return Error::not_found("token not found");
}

Result<ApiToken> SqliteTx::get_token_by_hash(std::string_view hash) {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens WHERE hash = ?", kTokenCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, hash);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return read_token(s);
  if (rc != SQLITE_DONE) return conn_.error("get_token_by_hash");
  return Error::not_found("token not found");
}

Result<std::vector<ApiToken>> SqliteTx::list_tokens() {
  static const std::string sql = fmt::format("SELECT {} FROM api_tokens ORDER BY id", kTokenCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  std::vector<ApiToken> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto t = read_token(s);
    if (!t.ok()) return t.take_error();
    out.push_back(std::move(*t));
  }
  if (rc != SQLITE_DONE) return conn_.error("list_tokens");
  return out;
}

Status SqliteTx::update_token_expiry(std::string_view id, std::optional<TimePoint> expires_at) {
  auto stmt = conn_.prepare("UPDATE api_tokens SET expires_at = ? WHERE id = ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, expires_at);
  s.bind(2, id);
  if (auto st = finish_write(s, "update_token_expiry"); !st.ok()) return st;
  if (sqlite3_changes(conn_.handle()) == 0) return Error::not_found("token not found");
  return {};
}

Result<ApiToken> SqliteTx::redeem_token(std::string_view hash, int kind, TimePoint now) {
  // One writer: the read and the update below are one step of the write, so no other redeem sits between.
  static const std::string sql = fmt::format(
      "SELECT {} FROM api_tokens WHERE hash = ? AND kind = ? AND (expires_at IS NULL OR expires_at > ?)",
      kTokenCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Result<ApiToken> found = Error::not_found("no live token with that hash");
  {
    Stmt s(*stmt);
    s.bind(1, hash);
    s.bind(2, kind);
    s.bind(3, now);
    const int rc = s.step();
    if (rc == SQLITE_ROW) {
      found = read_token(s);
    } else if (rc != SQLITE_DONE) {
      return conn_.error("redeem_token");
    }
  }
  if (!found.ok()) return found;
  if (auto st = update_token_expiry(found->id, kTokenUsed); !st.ok()) return st.take_error();
  return found;
}

Status SqliteTx::delete_tokens_expired_before(TimePoint t) {
  auto stmt = conn_.prepare("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < ?");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, t);
  return finish_write(s, "delete_tokens_expired_before");
}

// ---- The head
// ------------------------------------------------------------------------------------------------

int64_t SqliteStore::feed_head() const { return feed_head_.load(std::memory_order_acquire); }

void SqliteStore::set_feed_listener(std::function<void(const FeedAdvance&)> listener) {
  feed_listener_ = std::move(listener);
}

void SqliteStore::advance_feed(FeedAdvance& advance) {
  if (advance.head <= feed_head_.load(std::memory_order_relaxed)) return;
  feed_head_.store(advance.head, std::memory_order_release);
  if (feed_listener_) feed_listener_(advance);
}

}  // namespace hookwire::store
