// The row readers and JSON columns of sqlite_tx_parts.h.
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store::sqlite_rows {

std::string to_json(const std::vector<std::string>& v) { return json::serialize(json::value_from(v)); }

std::string to_json(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return json::serialize(o);
}

std::string to_json(const std::vector<EndpointSecret>& secrets) {
  json::array a;
  for (const auto& s : secrets) {
    json::object o;
    o["key"] = s.key;
    if (s.expires_at) o["expires_at"] = unix_millis(*s.expires_at);
    a.push_back(std::move(o));
  }
  return json::serialize(a);
}

std::optional<std::string> to_json(const std::optional<std::vector<std::string>>& v) {
  if (!v) return std::nullopt;
  return to_json(*v);
}

Result<json::value> parse(const std::string& text, std::string_view column) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  return v;
}

Result<std::vector<std::string>> strings_from_json(const std::string& text, std::string_view column) {
  auto v = parse(text, column);
  if (!v.ok()) return v.take_error();
  if (!v->is_array()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  std::vector<std::string> out;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
    out.emplace_back(e.as_string());
  }
  return out;
}

Result<std::optional<std::vector<std::string>>> opt_strings(const Stmt& s, int c, std::string_view column) {
  if (s.is_null(c)) return std::optional<std::vector<std::string>>();
  auto v = strings_from_json(s.text(c), column);
  if (!v.ok()) return v.take_error();
  return std::optional<std::vector<std::string>>(std::move(*v));
}

Result<Application> read_app(const Stmt& s) {
  Application a;
  a.id = s.text(0);
  a.uid = s.opt_text(1);
  a.name = s.text(2);
  a.throttle_rate = s.opt_int64(3);
  a.metadata = s.text(4);
  a.created_at = s.time(5);
  a.updated_at = s.time(6);
  return a;
}

Result<EventType> read_event_type(const Stmt& s) {
  EventType e;
  e.name = s.text(0);
  e.description = s.text(1);
  e.archived = s.boolean(2);
  e.deprecated = s.boolean(3);
  e.feature_flag = s.opt_text(4);
  e.schemas = s.opt_text(5);
  e.created_at = s.time(6);
  e.updated_at = s.time(7);
  return e;
}

Result<Endpoint> read_endpoint(const Stmt& s, int c) {
  Endpoint e;
  e.id = s.text(c + 0);
  e.app_id = s.text(c + 1);
  e.uid = s.opt_text(c + 2);
  e.url = s.text(c + 3);
  e.description = s.text(c + 4);
  e.disabled = s.boolean(c + 5);
  e.rate_limit = s.opt_int64(c + 6);
  auto event_types = opt_strings(s, c + 7, "endpoints.event_types");
  if (!event_types.ok()) return event_types.take_error();
  e.event_types = std::move(*event_types);
  auto channels = opt_strings(s, c + 8, "endpoints.channels");
  if (!channels.ok()) return channels.take_error();
  e.channels = std::move(*channels);
  e.metadata = s.text(c + 9);
  {
    auto v = parse(s.text(c + 10), "endpoints.secrets");
    if (!v.ok()) return v.take_error();
    if (!v->is_array()) return Error::internal("corrupt JSON in column endpoints.secrets");
    for (const auto& item : v->as_array()) {
      const auto* o = item.if_object();
      const auto* key = o ? o->if_contains("key") : nullptr;
      if (!key || !key->is_string()) return Error::internal("corrupt JSON in column endpoints.secrets");
      EndpointSecret secret;
      secret.key = std::string(key->as_string());
      if (const auto* exp = o->if_contains("expires_at"); exp && exp->is_int64()) {
        secret.expires_at = from_unix_millis(exp->as_int64());
      }
      e.secrets.push_back(std::move(secret));
    }
  }
  {
    auto v = parse(s.text(c + 11), "endpoints.headers");
    if (!v.ok()) return v.take_error();
    if (!v->is_object()) return Error::internal("corrupt JSON in column endpoints.headers");
    for (const auto& [k, val] : v->as_object()) {
      if (!val.is_string()) return Error::internal("corrupt JSON in column endpoints.headers");
      e.headers.emplace(std::string(k), std::string(val.as_string()));
    }
  }
  e.created_at = s.time(c + 12);
  e.updated_at = s.time(c + 13);
  e.pull_only = s.boolean(c + 14);
  e.thin = s.boolean(c + 15);
  e.signature_headers = s.opt_text(c + 16);
  return e;
}

Result<Message> read_message(const Stmt& s, int c) {
  Message m;
  m.id = s.text(c + 0);
  m.app_id = s.text(c + 1);
  m.event_id = s.opt_text(c + 2);
  m.event_type = s.text(c + 3);
  m.payload = s.text(c + 4);
  auto channels = opt_strings(s, c + 5, "messages.channels");
  if (!channels.ok()) return channels.take_error();
  m.channels = std::move(*channels);
  m.created_at = s.time(c + 6);
  if (!s.is_null(c + 7)) m.payload_expires_at = s.time(c + 7);
  m.headers = s.opt_text(c + 8);
  m.position = s.int64(c + 9);
  return m;
}

Result<Attempt> read_attempt(const Stmt& s) {
  Attempt a;
  a.id = s.text(0);
  a.app_id = s.text(1);
  a.msg_id = s.text(2);
  a.endpoint_id = s.text(3);
  a.url = s.text(4);
  a.status = static_cast<int>(s.int64(5));
  a.response_status_code = static_cast<int>(s.int64(6));
  a.response = s.text(7);
  a.response_duration_ms = s.int64(8);
  a.trigger_type = static_cast<int>(s.int64(9));
  a.created_at = s.time(10);
  return a;
}

Delivery read_delivery(const Stmt& s, int c) {
  Delivery d;
  d.id = s.text(c + 0);
  d.app_id = s.text(c + 1);
  d.msg_id = s.text(c + 2);
  d.endpoint_id = s.text(c + 3);
  d.status = static_cast<int>(s.int64(c + 4));
  d.attempts = static_cast<int>(s.int64(c + 5));
  d.next_attempt_at = s.time(c + 6);
  d.created_at = s.time(c + 7);
  d.updated_at = s.time(c + 8);
  d.manual = s.boolean(c + 9);
  return d;
}

Result<Source> read_source(const Stmt& s) {
  Source src;
  src.id = s.text(0);
  src.uid = s.opt_text(1);
  src.app_id = s.text(2);
  src.config = s.text(3);
  src.revision = s.int64(4);
  src.created_at = s.time(5);
  src.updated_at = s.time(6);
  return src;
}

bool names_column(sqlite3* db, std::string_view column) {
  return std::string_view(sqlite3_errmsg(db)).find(column) != std::string_view::npos;
}

std::string prefixed(std::string_view cols, std::string_view alias) {
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

const char* reported_status_sql(int status) {
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

}  // namespace hookwire::store::sqlite_rows
