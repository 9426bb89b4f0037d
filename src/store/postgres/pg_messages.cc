// PgTx: messages (their ids and positions), attempts and idempotency records.
#include <fmt/format.h>

#include "core/ids.h"
#include "store/postgres/pg_tx_parts.h"
#include "store/status_filter_sql.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

// ---- Messages
// ------------------------------------------------------------------------------------------------

std::pair<int64_t, std::string> PgTx::next_message_slot(const Message& msg) const {
  std::string id = new_id(id_prefix::kMessage, msg.created_at);
  if (id <= sequence_.last_id) id = id_after(sequence_.last_id);
  return {sequence_.head + 1, std::move(id)};
}

void PgTx::message_given(Message& msg, int64_t position, std::string id) {
  sequence_.head = position;
  sequence_.last_id = id;
  sequence_.changed = true;
  msg.id = std::move(id);
  msg.position = position;
  note_feed_insert(msg.app_id, position);
}

Status PgTx::insert_message(Message& msg) {
  if (auto st = lock_sequence(); !st.ok()) return st;
  std::optional<std::string> channels;
  if (msg.channels) channels = json_columns::to_json(*msg.channels);
  std::optional<int64_t> expires;
  if (msg.payload_expires_at) expires = unix_millis(*msg.payload_expires_at);
  std::optional<std::string> request_hash;
  if (msg.idempotency_key) request_hash = msg.request_hash;
  if (batch_inserts_) {
    // The row waits for flush_inserts(), in the columns of its statement (pg_tx.cc).
    auto [position, id] = next_message_slot(msg);
    auto& c = waiting_messages_.columns;
    c[0].text(id);
    c[1].text(msg.app_id);
    c[2].int64(position);
    c[3].text(msg.event_id);
    c[4].text(msg.event_type);
    c[5].text(msg.payload);
    c[6].text(channels);
    c[7].int64(unix_millis(msg.created_at));
    c[8].text(msg.idempotency_key);
    c[9].text(request_hash);
    c[10].int64(expires);
    c[11].text(msg.headers);
    waiting_messages_.ids.push_back(id);
    waiting_messages_.functions.push_back(function_);
    ++changes_;
    message_given(msg, position, std::move(id));
    return {};
  }
  static constexpr Statement kInsert{
      "insert_message",
      "INSERT INTO messages (id, app_id, position, event_id, event_type, payload, channels, created_at, "
      "idempotency_key, request_hash, payload_expires_at, headers) VALUES ($1::text, $2::text, $3::bigint, "
      "$4::text, $5::text, $6::text, $7::text, $8::bigint, $9::text, $10::text, $11::bigint, $12::text) ON "
      "CONFLICT DO NOTHING"};
  // A conflicting row deleted between the insert and the look at what it conflicted with: try again (rare).
  for (int attempt = 0; attempt < 3; ++attempt) {
    // The next position and id, taken only if the row goes in (nothing is burnt).
    auto [position, id] = next_message_slot(msg);
    Params p;
    p.text(id).text(msg.app_id).int64(position).text(msg.event_id).text(msg.event_type).text(msg.payload);
    p.text(channels).int64(unix_millis(msg.created_at)).text(msg.idempotency_key).text(request_hash);
    p.int64(expires).text(msg.headers);
    auto n = change(kInsert, p);
    if (!n.ok()) return n.take_error();
    if (*n == 1) {
      message_given(msg, position, std::move(id));
      return {};
    }
    auto conflict = message_conflict(msg, id);
    if (!conflict.ok()) return conflict.take_error();
    if (*conflict) return std::move(**conflict);
  }
  return Error::conflict("message conflicts with one being deleted; try again");
}

Result<std::optional<Error>> PgTx::message_conflict(const Message& msg, const std::string& id) {
  static constexpr Statement kWhich{
      "message_conflict",
      "SELECT $2::text IS NOT NULL AND EXISTS (SELECT 1 FROM messages WHERE app_id = $1::text AND "
      "idempotency_key = $2::text), $3::text IS NOT NULL AND EXISTS (SELECT 1 FROM messages WHERE app_id = "
      "$1::text AND event_id = $3::text), EXISTS (SELECT 1 FROM messages WHERE app_id = $1::text AND id = "
      "$4::text)"};
  Params p;
  p.text(msg.app_id).text(msg.idempotency_key).text(msg.event_id).text(id);
  auto r = run(kWhich, p);
  if (!r.ok()) return r.take_error();
  if (r->boolean(0, 0))
    return std::optional<Error>(Error::conflict("message idempotency key already used in this application"));
  if (r->boolean(0, 1))
    return std::optional<Error>(Error::conflict("message eventId already exists in this application"));
  if (r->boolean(0, 2)) return std::optional<Error>(Error::conflict("message id already exists"));
  return std::optional<Error>();
}

Result<Message> PgTx::get_message_by_idempotency_key(std::string_view app_id, std::string_view key) {
  static const std::string sql = fmt::format(
      "SELECT {}, idempotency_key, request_hash FROM messages WHERE app_id = $1::text AND "
      "idempotency_key = $2::text",
      kMessageCols);
  static const Statement kGet{"get_message_by_idempotency_key", sql};
  Params p;
  p.text(app_id).text(key);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("no message with this idempotency key");
  auto msg = read_message(*r, 0);
  if (!msg.ok()) return msg;
  msg->idempotency_key = opt_text(*r, 0, kMessageColCount);
  msg->request_hash = std::string(r->text(0, kMessageColCount + 1));
  return msg;
}

Status PgTx::clear_message_idempotency_key(std::string_view app_id, std::string_view msg_id) {
  static constexpr Statement kClear{
      "clear_message_idempotency_key",
      "UPDATE messages SET idempotency_key = NULL, request_hash = NULL WHERE app_id = $1::text AND id = "
      "$2::text"};
  Params p;
  p.text(app_id).text(msg_id);
  auto n = change(kClear, p);
  if (!n.ok()) return n.take_error();
  return {};
}

Result<Tx::ExpungeBatch> PgTx::expunge_payloads_after(std::string_view app_id, std::string_view after_id,
                                                      int limit) {
  ExpungeBatch out;
  // The batch's last id first (the primary key in id order), then the payloads up to it that still have one.
  Query last("SELECT max(id) FROM (SELECT id FROM messages WHERE app_id = ");
  last.text(app_id);
  last << " AND id > ";
  last.text(after_id);
  last << " ORDER BY id LIMIT ";
  last.int64(std::max(1, limit));
  last << ") batch";
  auto r = run(last);
  if (!r.ok()) return r.take_error();
  if (r->is_null(0, 0)) return out;  // no message after `after_id`: done
  out.last_id = std::string(r->text(0, 0));
  Query update("UPDATE messages SET payload = '' WHERE app_id = ");
  update.text(app_id);
  update << " AND id > ";
  update.text(after_id);
  update << " AND id <= ";
  update.text(*out.last_id);
  update << " AND payload <> ''";
  auto n = change(update);
  if (!n.ok()) return n.take_error();
  out.expunged = static_cast<int>(*n);
  return out;
}

Status PgTx::expunge_message_payload(std::string_view app_id, std::string_view msg_id) {
  static constexpr Statement kExpunge{
      "expunge_message_payload",
      "UPDATE messages SET payload = '' WHERE app_id = $1::text AND id = $2::text"};
  Params p;
  p.text(app_id).text(msg_id);
  auto n = change(kExpunge, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("message not found");
  return {};
}

Result<Message> PgTx::get_message(std::string_view app_id, std::string_view id_or_event_id) {
  static const std::string by_id =
      fmt::format("SELECT {} FROM messages WHERE app_id = $1::text AND id = $2::text", kMessageCols);
  static const std::string by_event_id =
      fmt::format("SELECT {} FROM messages WHERE app_id = $1::text AND event_id = $2::text", kMessageCols);
  static const Statement kById{"get_message_by_id", by_id};
  static const Statement kByEventId{"get_message_by_event_id", by_event_id};
  Params p;
  p.text(app_id).text(id_or_event_id);
  for (const Statement* st : {&kById, &kByEventId}) {
    auto r = run(*st, p);
    if (!r.ok()) return r.take_error();
    if (r->rows() > 0) return read_message(*r, 0);
  }
  return Error::not_found("message not found");
}

Result<Page<Message>> PgTx::list_messages(std::string_view app_id, const MessageQuery& q) {
  // The filters of the plain listing, after "WHERE app_id = ...".
  auto add_filters = [&](Query& query) {
    if (q.before) {
      query << " AND created_at < ";
      query.time(*q.before);
    }
    if (q.after) {
      query << " AND created_at > ";
      query.time(*q.after);
    }
    if (!q.event_types.empty()) {
      query << " AND event_type = ANY(";
      query.text_array(q.event_types);
      query << ")";
    }
    if (q.channel) add_channel_filter(query, "channels", *q.channel);
  };
  auto read_row = [](const PgResult& r, int row) { return read_message(r, row); };
  auto key_of = [](const Message& m) { return m.id; };
  if (!q.status) {
    Query query(fmt::format("SELECT {} FROM messages WHERE app_id = ", kMessageCols));
    query.text(app_id);
    add_filters(query);
    return list<Message>(std::move(query), "id", q.page, read_row, key_of);
  }
  // The status filter: the matching messages among the application's next status_scan_limit ones (the
  // window: an index-only range of the primary key), the other filters applied to those, so a page's work is
  // bounded however rare the status and the other filters are.
  const auto& it = q.page.iterator;
  const bool backward = it && !it->empty() && (*it)[0] == '-';
  const bool ascending = (q.page.order == Order::kAscending) != backward;
  const int scan = std::max(1, q.status_scan_limit);
  auto add_window = [&](Query& query) {
    query << "SELECT id FROM messages WHERE app_id = ";
    query.text(app_id);
    if (it) {
      query << (ascending ? " AND id > " : " AND id < ");
      query.text(backward ? std::string_view(*it).substr(1) : std::string_view(*it));
    }
    query << (ascending ? " ORDER BY id ASC LIMIT " : " ORDER BY id DESC LIMIT ");
    query.int64(scan);
  };
  Query query(fmt::format("SELECT {} FROM messages WHERE app_id = ", kMessageCols));
  query.text(app_id);
  add_filters(query);
  query << " AND id IN (";
  add_window(query);
  query << ") AND " << delivery_status_condition(*q.status);
  auto page = list<Message>(std::move(query), "id", q.page, read_row, key_of);
  if (!page.ok() || !page->done) return page;
  // Fewer than a page matched: not done if the window was full; continue after its last message.
  Query count(ascending ? "SELECT count(*), max(id) FROM (" : "SELECT count(*), min(id) FROM (");
  add_window(count);
  count << ") w";
  auto r = run(count);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 1 && r->int64(0, 0) >= scan) {
    page->done = false;
    (backward ? page->prev_iterator : page->iterator) = (backward ? "-" : "") + std::string(r->text(0, 1));
  }
  return page;
}

// ---- Attempts
// ------------------------------------------------------------------------------------------------

Status PgTx::insert_attempt(const Attempt& a) {
  static constexpr Statement kInsert{
      "insert_attempt",
      "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code, response, "
      "response_duration_ms, trigger_type, created_at, request_headers) VALUES ($1::text, $2::text, "
      "$3::text, "
      "$4::text, $5::text, $6::integer, $7::integer, $8::text, $9::bigint, $10::integer, $11::bigint, "
      "$12::text) ON CONFLICT DO NOTHING"};
  Params p;
  p.text(a.id).text(a.app_id).text(a.msg_id).text(a.endpoint_id).text(a.url).int64(a.status);
  p.int64(a.response_status_code).text(a.response).int64(a.response_duration_ms).int64(a.trigger_type);
  p.int64(unix_millis(a.created_at));
  if (a.request_headers.empty()) {
    p.null();  // none: as the attempts made before the column
  } else {
    p.text(a.request_headers);
  }
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::conflict("attempt id already exists");
  return {};
}

Result<Attempt> PgTx::get_attempt(std::string_view app_id, std::string_view msg_id,
                                  std::string_view attempt_id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM attempts WHERE app_id = $1::text AND msg_id = $2::text AND id = $3::text",
                  kAttemptCols);
  static const Statement kGet{"get_attempt", sql};
  Params p;
  p.text(app_id).text(msg_id).text(attempt_id);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("attempt not found");
  return read_attempt(*r, 0);
}

Status PgTx::expunge_attempt_response(std::string_view app_id, std::string_view msg_id,
                                      std::string_view attempt_id) {
  static constexpr Statement kExpunge{"expunge_attempt_response",
                                      "UPDATE attempts SET response = '', request_headers = NULL WHERE "
                                      "app_id = $1::text AND msg_id = $2::text "
                                      "AND id = $3::text"};
  Params p;
  p.text(app_id).text(msg_id).text(attempt_id);
  auto n = change(kExpunge, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("attempt not found");
  return {};
}

namespace {
// The attempt listings: attempts `a`, joined to their messages `m` only when a filter needs them.
Query attempt_select(const AttemptQuery& q, std::string_view app_id) {
  const bool join = !q.event_types.empty() || q.channel;
  Query query(fmt::format("SELECT {} FROM attempts a{} WHERE a.app_id = ", prefixed(kAttemptCols, "a"),
                          join ? " JOIN messages m ON m.app_id = a.app_id AND m.id = a.msg_id" : ""));
  query.text(app_id);
  return query;
}

void add_attempt_filters(Query& query, const AttemptQuery& q) {
  if (q.status) {
    query << " AND a.status = ";
    query.int64(*q.status);
  }
  if (q.status_code_class) {
    if (*q.status_code_class == 0) {
      query << " AND a.response_status_code = 0";
    } else {
      query << " AND a.response_status_code >= ";
      query.int64(*q.status_code_class);
      query << " AND a.response_status_code < ";
      query.int64(int64_t{*q.status_code_class} + 100);
    }
  }
  add_time_and_message_filters(query, "a.created_at", q.before, q.after, q.event_types, q.channel);
}
}  // namespace

Result<Page<Attempt>> PgTx::list_attempts_by_message(std::string_view app_id, std::string_view msg_id,
                                                     const AttemptQuery& q) {
  Query query = attempt_select(q, app_id);
  query << " AND a.msg_id = ";
  query.text(msg_id);
  if (q.endpoint_id) {
    query << " AND a.endpoint_id = ";
    query.text(*q.endpoint_id);
  }
  add_attempt_filters(query, q);
  return list<Attempt>(std::move(query), "a.id", q.page, read_attempt, [](const Attempt& a) { return a.id; });
}

Result<Page<Attempt>> PgTx::list_attempts_by_endpoint(std::string_view app_id, std::string_view endpoint_id,
                                                      const AttemptQuery& q) {
  Query query = attempt_select(q, app_id);
  query << " AND a.endpoint_id = ";
  query.text(endpoint_id);
  add_attempt_filters(query, q);
  return list<Attempt>(std::move(query), "a.id", q.page, read_attempt, [](const Attempt& a) { return a.id; });
}

// ---- Idempotency records
// -------------------------------------------------------------------------------------

Result<IdempotencyRecord> PgTx::get_idempotency(std::string_view key) {
  static constexpr Statement kGet{
      "get_idempotency",
      "SELECT key, request_hash, status, body, created_at FROM idempotency WHERE key = $1::text"};
  Params p;
  p.text(key);
  auto r = run(kGet, p);
  if (!r.ok()) return r.take_error();
  if (r->rows() == 0) return Error::not_found("idempotency record not found");
  IdempotencyRecord rec;
  rec.key = r->text(0, 0);
  rec.request_hash = r->text(0, 1);
  rec.status = static_cast<int>(r->int64(0, 2));
  rec.body = r->text(0, 3);
  rec.created_at = time(*r, 0, 4);
  return rec;
}

Status PgTx::put_idempotency(const IdempotencyRecord& rec) {
  static constexpr Statement kPut{
      "put_idempotency",
      "INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES ($1::text, $2::text, "
      "$3::integer, $4::text, $5::bigint) ON CONFLICT (key) DO UPDATE SET request_hash = "
      "EXCLUDED.request_hash, "
      "status = EXCLUDED.status, body = EXCLUDED.body, created_at = EXCLUDED.created_at"};
  Params p;
  p.text(rec.key).text(rec.request_hash).int64(rec.status).text(rec.body).int64(unix_millis(rec.created_at));
  auto n = change(kPut, p);
  if (!n.ok()) return n.take_error();
  return {};
}

Status PgTx::purge_idempotency(TimePoint created_before) {
  static constexpr Statement kPurge{"purge_idempotency",
                                    "DELETE FROM idempotency WHERE created_at < $1::bigint"};
  Params p;
  p.int64(unix_millis(created_before));
  auto n = change(kPurge, p);
  if (!n.ok()) return n.take_error();
  return {};
}

}  // namespace hookwire::store::postgres
