// SqliteTx: messages (and their ids: MessageSequence), attempts and idempotency records.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"
#include "store/sqlite/sqlite_tx_parts.h"
#include "store/status_filter_sql.h"

namespace hookwire::store {
namespace json = boost::json;
using namespace sqlite_rows;  // NOLINT: the files of one implementation

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
  // The filters of the plain listing, after "WHERE app_id = ?".
  std::string filters;
  std::vector<Bind> binds{app_id};
  if (q.before) {
    filters += " AND created_at < ?";
    binds.emplace_back(unix_millis(*q.before));
  }
  if (q.after) {
    filters += " AND created_at > ?";
    binds.emplace_back(unix_millis(*q.after));
  }
  if (!q.event_types.empty()) {
    filters += " AND event_type IN (";
    for (size_t i = 0; i < q.event_types.size(); ++i) {
      filters += i ? ", ?" : "?";
      binds.emplace_back(std::string_view(q.event_types[i]));
    }
    filters += ")";
  }
  if (q.channel) {
    filters += " AND EXISTS (SELECT 1 FROM json_each(messages.channels) WHERE json_each.value = ?)";
    binds.emplace_back(std::string_view(*q.channel));
  }
  auto read_row = [](const Stmt& s) { return read_message(s); };
  auto key_of = [](const Message& m) { return m.id; };
  if (!q.status) {
    ListQuery lq{fmt::format("SELECT {} FROM messages WHERE app_id = ?{}", kMessageCols, filters),
                 std::move(binds), "id"};
    return list<Message>(std::move(lq), q.page, read_row, key_of);
  }
  // The status filter: the matching messages among the application's next status_scan_limit ones (the
  // window: an index-only range of the primary key), the other filters applied to those, so a page's work is
  // bounded however rare the status and the other filters are.
  const auto& it = q.page.iterator;
  const bool backward = it && !it->empty() && (*it)[0] == '-';
  const bool ascending = (q.page.order == Order::kAscending) != backward;
  std::string window = "SELECT id FROM messages WHERE app_id = ?";
  std::vector<Bind> window_binds{app_id};
  if (it) {
    window += ascending ? " AND id > ?" : " AND id < ?";
    window_binds.emplace_back(backward ? std::string_view(*it).substr(1) : std::string_view(*it));
  }
  window += fmt::format(" ORDER BY id {} LIMIT ?", ascending ? "ASC" : "DESC");
  window_binds.emplace_back(int64_t{std::max(1, q.status_scan_limit)});
  ListQuery lq{fmt::format("SELECT {} FROM messages WHERE app_id = ?{} AND id IN ({}) AND {}", kMessageCols,
                           filters, window, delivery_status_condition(*q.status)),
               std::move(binds), "id"};
  lq.binds.insert(lq.binds.end(), window_binds.begin(), window_binds.end());
  auto page = list<Message>(std::move(lq), q.page, read_row, key_of);
  if (!page.ok() || !page->done) return page;
  // Fewer than a page matched: not done if the window was full; continue after its last message.
  auto stmt =
      conn_.prepare(fmt::format("SELECT count(*), {}(id) FROM ({})", ascending ? "max" : "min", window));
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  for (size_t i = 0; i < window_binds.size(); ++i)
    std::visit([&](auto v) { s.bind(static_cast<int>(i + 1), v); }, window_binds[i]);
  if (s.step() != SQLITE_ROW) return conn_.error("list_messages");
  if (s.int64(0) >= std::max(1, q.status_scan_limit)) {
    page->done = false;
    (backward ? page->prev_iterator : page->iterator) = (backward ? "-" : "") + s.text(1);
  }
  return page;
}

// ---- Attempts
// ------------------------------------------------------------------------------------------------

Status SqliteTx::insert_attempt(const Attempt& a) {
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code, "
      "response, response_duration_ms, trigger_type, created_at, request_headers) VALUES (?, ?, ?, ?, ?, ?, "
      "?, "
      "?, ?, ?, ?, ?)");
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
  if (a.request_headers.empty()) {
    s.bind_null(12);  // none: as the attempts made before the column
  } else {
    s.bind(12, a.request_headers);
  }
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
  auto stmt = conn_.prepare(
      "UPDATE attempts SET response = '', request_headers = NULL WHERE app_id = ? AND msg_id = ? AND id = ?");
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

}  // namespace hookwire::store
