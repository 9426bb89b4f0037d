// What the PgTx files share (pg_tx.cc, pg_endpoints.cc, pg_messages.cc, pg_deliveries.cc, pg_sources.cc,
// pg_feed.cc): a statement builder whose values are always bound parameters, each table's column list and
// row reader, SQL fragments, and PgTx's paging. Internal to the PostgreSQL store.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/json_columns.h"
#include "store/postgres/pg_tx.h"

namespace hookwire::store::postgres {

// SQL text with its parameters: every value goes in as a parameter ($n), never into the text. Values given
// by reference (text) must outlive the statement's execution.
class Query {
 public:
  explicit Query(std::string sql = {}) : sql_(std::move(sql)) {}
  Query& operator<<(std::string_view sql) {
    sql_ += sql;
    return *this;
  }
  // Each appends the placeholder of a new parameter holding the value.
  Query& text(std::string_view v) {
    params_.text(v);
    return placeholder("::text");
  }
  Query& int64(int64_t v) {
    params_.int64(v);
    return placeholder("::bigint");
  }
  Query& time(TimePoint t) { return int64(unix_millis(t)); }
  // A text[] parameter: the values as an array literal.
  Query& text_array(const std::vector<std::string>& values);

  const std::string& sql() const { return sql_; }
  const Params& params() const { return params_; }

 private:
  Query& placeholder(std::string_view cast) {
    fmt::format_to(std::back_inserter(sql_), "${}{}", params_.size(), cast);
    return *this;
  }
  std::string sql_;
  Params params_;
};

// A text[] array literal ({"a","b\"c"}): each element quoted, with '"' and '\' escaped.
inline std::string array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

inline Query& Query::text_array(const std::vector<std::string>& values) {
  params_.literal(array_literal(values));
  return placeholder("::text[]");
}

namespace pg_rows {

inline TimePoint time(const PgResult& r, int row, int c) { return from_unix_millis(r.int64(row, c)); }
inline std::optional<TimePoint> opt_time(const PgResult& r, int row, int c) {
  if (r.is_null(row, c)) return std::nullopt;
  return time(r, row, c);
}
inline std::optional<std::string> opt_text(const PgResult& r, int row, int c) {
  auto v = r.get(row, c);
  if (!v) return std::nullopt;
  return std::string(*v);
}
inline std::optional<int64_t> opt_int64(const PgResult& r, int row, int c) {
  if (r.is_null(row, c)) return std::nullopt;
  return r.int64(row, c);
}
inline Result<std::optional<std::vector<std::string>>> opt_strings(const PgResult& r, int row, int c,
                                                                   std::string_view column) {
  if (r.is_null(row, c)) return std::optional<std::vector<std::string>>();
  auto v = json_columns::strings_from_json(r.text(row, c), column);
  if (!v.ok()) return v.take_error();
  return std::optional<std::vector<std::string>>(std::move(*v));
}

inline constexpr const char* kAppCols = "id, uid, name, throttle_rate, metadata, created_at, updated_at";

inline Result<Application> read_app(const PgResult& r, int row) {
  Application a;
  a.id = r.text(row, 0);
  a.uid = opt_text(r, row, 1);
  a.name = r.text(row, 2);
  a.throttle_rate = opt_int64(r, row, 3);
  a.metadata = r.text(row, 4);
  a.created_at = time(r, row, 5);
  a.updated_at = time(r, row, 6);
  return a;
}

inline constexpr const char* kEventTypeCols =
    "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at";

inline Result<EventType> read_event_type(const PgResult& r, int row) {
  EventType e;
  e.name = r.text(row, 0);
  e.description = r.text(row, 1);
  e.archived = r.boolean(row, 2);
  e.deprecated = r.boolean(row, 3);
  e.feature_flag = opt_text(r, row, 4);
  e.schemas = opt_text(r, row, 5);
  e.created_at = time(r, row, 6);
  e.updated_at = time(r, row, 7);
  return e;
}

inline constexpr const char* kEndpointCols =
    "id, app_id, uid, url, description, disabled, rate_limit, event_types, channels, metadata, secrets, "
    "headers, created_at, updated_at, pull_only, thin, signature_headers";
inline constexpr int kEndpointColCount = 17;

inline Result<Endpoint> read_endpoint(const PgResult& r, int row, int c = 0) {
  Endpoint e;
  e.id = r.text(row, c + 0);
  e.app_id = r.text(row, c + 1);
  e.uid = opt_text(r, row, c + 2);
  e.url = r.text(row, c + 3);
  e.description = r.text(row, c + 4);
  e.disabled = r.boolean(row, c + 5);
  e.rate_limit = opt_int64(r, row, c + 6);
  auto event_types = opt_strings(r, row, c + 7, "endpoints.event_types");
  if (!event_types.ok()) return event_types.take_error();
  e.event_types = std::move(*event_types);
  auto channels = opt_strings(r, row, c + 8, "endpoints.channels");
  if (!channels.ok()) return channels.take_error();
  e.channels = std::move(*channels);
  e.metadata = r.text(row, c + 9);
  auto secrets = json_columns::secrets_from_json(r.text(row, c + 10));
  if (!secrets.ok()) return secrets.take_error();
  e.secrets = std::move(*secrets);
  auto headers = json_columns::headers_from_json(r.text(row, c + 11));
  if (!headers.ok()) return headers.take_error();
  e.headers = std::move(*headers);
  e.created_at = time(r, row, c + 12);
  e.updated_at = time(r, row, c + 13);
  e.pull_only = r.boolean(row, c + 14);
  e.thin = r.boolean(row, c + 15);
  e.signature_headers = opt_text(r, row, c + 16);
  return e;
}

inline constexpr const char* kMessageCols =
    "id, app_id, event_id, event_type, payload, channels, created_at, payload_expires_at, headers, position";
inline constexpr int kMessageColCount = 10;

inline Result<Message> read_message(const PgResult& r, int row, int c = 0) {
  Message m;
  m.id = r.text(row, c + 0);
  m.app_id = r.text(row, c + 1);
  m.event_id = opt_text(r, row, c + 2);
  m.event_type = r.text(row, c + 3);
  m.payload = r.text(row, c + 4);
  auto channels = opt_strings(r, row, c + 5, "messages.channels");
  if (!channels.ok()) return channels.take_error();
  m.channels = std::move(*channels);
  m.created_at = time(r, row, c + 6);
  m.payload_expires_at = opt_time(r, row, c + 7);
  m.headers = opt_text(r, row, c + 8);
  m.position = r.int64(row, c + 9);
  return m;
}

inline constexpr const char* kAttemptCols =
    "id, app_id, msg_id, endpoint_id, url, status, response_status_code, response, response_duration_ms, "
    "trigger_type, created_at, request_headers";

inline Result<Attempt> read_attempt(const PgResult& r, int row) {
  Attempt a;
  a.id = r.text(row, 0);
  a.app_id = r.text(row, 1);
  a.msg_id = r.text(row, 2);
  a.endpoint_id = r.text(row, 3);
  a.url = r.text(row, 4);
  a.status = static_cast<int>(r.int64(row, 5));
  a.response_status_code = static_cast<int>(r.int64(row, 6));
  a.response = r.text(row, 7);
  a.response_duration_ms = r.int64(row, 8);
  a.trigger_type = static_cast<int>(r.int64(row, 9));
  a.created_at = time(r, row, 10);
  a.request_headers = r.text(row, 11);  // NULL (none) reads as empty
  return a;
}

inline constexpr const char* kDeliveryCols =
    "id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, manual";
inline constexpr int kDeliveryColCount = 10;

inline Delivery read_delivery(const PgResult& r, int row, int c = 0) {
  Delivery d;
  d.id = r.text(row, c + 0);
  d.app_id = r.text(row, c + 1);
  d.msg_id = r.text(row, c + 2);
  d.endpoint_id = r.text(row, c + 3);
  d.status = static_cast<int>(r.int64(row, c + 4));
  d.attempts = static_cast<int>(r.int64(row, c + 5));
  d.next_attempt_at = time(r, row, c + 6);
  d.created_at = time(r, row, c + 7);
  d.updated_at = time(r, row, c + 8);
  d.manual = r.boolean(row, c + 9);
  return d;
}

inline constexpr const char* kSourceCols = "id, uid, app_id, config, revision, created_at, updated_at";

inline Result<Source> read_source(const PgResult& r, int row) {
  Source s;
  s.id = r.text(row, 0);
  s.uid = opt_text(r, row, 1);
  s.app_id = r.text(row, 2);
  s.config = r.text(row, 3);
  s.revision = r.int64(row, 4);
  s.created_at = time(r, row, 5);
  s.updated_at = time(r, row, 6);
  return s;
}

// "a, b" with alias "t" -> "t.a, t.b": column lists of joined tables.
inline std::string prefixed(std::string_view cols, std::string_view alias) {
  std::string out;
  while (!cols.empty()) {
    auto comma = cols.find(',');
    auto col = cols.substr(0, comma);
    while (col.starts_with(' ')) col.remove_prefix(1);
    if (!out.empty()) out += ", ";
    fmt::format_to(std::back_inserter(out), "{}.{}", alias, col);
    cols = comma == std::string_view::npos ? std::string_view{} : cols.substr(comma + 1);
  }
  return out;
}

// Only the latest delivery (highest id) of its (message, endpoint) pair; `d` is the deliveries alias.
inline constexpr const char* kLatestDelivery =
    " AND d.id = (SELECT max(x.id) FROM deliveries x WHERE x.app_id = d.app_id AND x.endpoint_id = "
    "d.endpoint_id AND x.msg_id = d.msg_id)";

// A message (alias `m`) carries the channel: its channels are a JSON array of strings.
inline void add_channel_filter(Query& q, std::string_view channels_column, const std::string& channel) {
  q << " AND " << channels_column << " IS NOT NULL AND " << channels_column << "::jsonb ? ";
  q.text(channel);
}

// The filters the delivery and attempt listings share: `time_column` before/after, and the message's
// (alias `m`) event type and channel.
inline void add_time_and_message_filters(Query& q, std::string_view time_column,
                                         const std::optional<TimePoint>& before,
                                         const std::optional<TimePoint>& after,
                                         const std::vector<std::string>& event_types,
                                         const std::optional<std::string>& channel) {
  if (before) {
    q << " AND " << time_column << " < ";
    q.time(*before);
  }
  if (after) {
    q << " AND " << time_column << " > ";
    q.time(*after);
  }
  if (!event_types.empty()) {
    q << " AND m.event_type = ANY(";
    q.text_array(event_types);
    q << ")";
  }
  if (channel) add_channel_filter(q, "m.channels", *channel);
}

// The SQL condition for a reported status (see reported_status in model.h) of deliveries alias `d`.
inline const char* reported_status_sql(int status) {
  switch (status) {
    case Delivery::kPending:
      return " AND d.status IN (1, 3) AND d.attempts = 0";
    case Delivery::kSending:
      return " AND d.status IN (1, 3) AND d.attempts > 0";
    case Delivery::kSuccess:
      return " AND d.status = 0";
    default:
      return " AND d.status = 2";
  }
}

}  // namespace pg_rows

// Cursor paging (see PageQuery): a plain iterator is an exclusive bound in the list's order; "-key" asks for
// the page just before `key`, read in reverse order and flipped back. One extra row tells whether more items
// lie beyond the page in the direction of travel (`done`).
template <class T, class ReadRow, class KeyOf>
Result<Page<T>> PgTx::list(Query q, std::string_view key, const PageQuery& page_query, ReadRow read_row,
                           KeyOf key_of) {
  const int limit = std::max(1, page_query.limit);
  const auto& it = page_query.iterator;
  const bool backward = it && !it->empty() && (*it)[0] == '-';
  std::string_view bound;
  if (it) bound = backward ? std::string_view(*it).substr(1) : std::string_view(*it);
  const bool ascending = (page_query.order == Order::kAscending) != backward;  // the order rows are read in
  if (it) {
    q << " AND " << key << (ascending ? " > " : " < ");
    q.text(bound);
  }
  q << " ORDER BY " << key << (ascending ? " ASC" : " DESC") << " LIMIT ";
  q.int64(int64_t{limit} + 1);
  auto rows = run(q);
  if (!rows.ok()) return rows.take_error();
  Page<T> page;
  for (int i = 0; i < rows->rows(); ++i) {
    if (page.items.size() == static_cast<size_t>(limit)) {
      page.done = false;
      break;
    }
    auto item = read_row(*rows, i);
    if (!item.ok()) return item.take_error();
    page.items.push_back(std::move(*item));
  }
  if (backward) std::reverse(page.items.begin(), page.items.end());
  if (!page.items.empty()) {
    page.iterator = key_of(page.items.back());
    page.prev_iterator = "-" + key_of(page.items.front());
  }
  return page;
}

}  // namespace hookwire::store::postgres
