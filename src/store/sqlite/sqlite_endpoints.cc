// SqliteTx: endpoints.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/ids.h"
#include "store/sqlite/sqlite_tx_parts.h"

namespace hookwire::store {
namespace json = boost::json;
using namespace sqlite_rows;  // NOLINT: the files of one implementation

// ---- Endpoints
// -----------------------------------------------------------------------------------------------

Result<Endpoint> SqliteTx::get_endpoint(std::string_view app_id, std::string_view id_or_uid) {
  static const std::string by_id =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND id = ?", kEndpointCols);
  static const std::string by_uid =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND uid = ?", kEndpointCols);
  return get_by_id_or_uid(
      conn_, id_or_uid, "ep_", by_id, by_uid, app_id, [](const Stmt& s) { return read_endpoint(s); },
      "endpoint");
}

Result<std::vector<Endpoint>> SqliteTx::list_enabled_endpoints(std::string_view app_id) {
  std::string key(app_id);
  if (auto it = enabled_endpoints_.find(key); it != enabled_endpoints_.end()) return it->second;
  static const std::string sql =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = ? AND disabled = 0 ORDER BY id", kEndpointCols);
  auto stmt = conn_.prepare(sql);
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, app_id);
  std::vector<Endpoint> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto ep = read_endpoint(s);
    if (!ep.ok()) return ep.take_error();
    out.push_back(std::move(*ep));
  }
  if (rc != SQLITE_DONE) return conn_.error("list_enabled_endpoints");
  enabled_endpoints_.emplace(std::move(key), out);
  return out;
}

Result<Page<Endpoint>> SqliteTx::list_endpoints(std::string_view app_id, const PageQuery& q) {
  return list<Endpoint>(
      {fmt::format("SELECT {} FROM endpoints WHERE app_id = ?", kEndpointCols), {app_id}, "id"}, q,
      [](const Stmt& s) { return read_endpoint(s); }, [](const Endpoint& e) { return e.id; });
}

namespace {
// The endpoint columns after (id, app_id), in the order both statements below list them. The JSON texts live
// here because parameters are bound without copying: keep this alive until the statement has run.
struct EndpointColumns {
  explicit EndpointColumns(const Endpoint& ep)
      : ep(ep),
        event_types(to_json(ep.event_types)),
        channels(to_json(ep.channels)),
        secrets(to_json(ep.secrets)),
        headers(to_json(ep.headers)) {}
  // Binds the 15 columns to parameters first .. first + 14.
  void bind(Stmt& s, int first) const {
    s.bind(first, ep.uid);
    s.bind(first + 1, ep.url);
    s.bind(first + 2, ep.description);
    s.bind(first + 3, ep.disabled);
    s.bind(first + 4, ep.rate_limit);
    s.bind(first + 5, event_types);
    s.bind(first + 6, channels);
    s.bind(first + 7, ep.metadata);
    s.bind(first + 8, secrets);
    s.bind(first + 9, headers);
    s.bind(first + 10, ep.created_at);
    s.bind(first + 11, ep.updated_at);
    s.bind(first + 12, ep.pull_only);
    s.bind(first + 13, ep.thin);
    s.bind(first + 14, ep.signature_headers);
  }
  const Endpoint& ep;
  const std::optional<std::string> event_types, channels;  // nullopt: no filter (NULL)
  const std::string secrets, headers;
};
}  // namespace

Status SqliteTx::insert_endpoint(const Endpoint& ep) {
  forget_cached();
  auto stmt = conn_.prepare(
      "INSERT OR FAIL INTO endpoints (id, app_id, uid, url, description, disabled, rate_limit, event_types, "
      "channels, metadata, secrets, headers, created_at, updated_at, pull_only, thin, signature_headers) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return stmt.take_error();
  const EndpointColumns columns(ep);
  Stmt s(*stmt);
  s.bind(1, ep.id);
  s.bind(2, ep.app_id);
  columns.bind(s, 3);
  return finish_write(s, "insert_endpoint", [&] {
    return names_column(conn_.handle(), ".uid")
               ? Error::conflict("endpoint uid already exists in this application")
               : Error::conflict("endpoint id already exists");
  });
}

Status SqliteTx::update_endpoint(const Endpoint& ep) {
  forget_cached();
  auto stmt = conn_.prepare(
      "UPDATE endpoints SET uid = ?, url = ?, description = ?, disabled = ?, rate_limit = ?, event_types = "
      "?, "
      "channels = ?, metadata = ?, secrets = ?, headers = ?, created_at = ?, updated_at = ?, pull_only = ?, "
      "thin = ?, signature_headers = ? WHERE id = ? AND app_id = ?");
  if (!stmt.ok()) return stmt.take_error();
  const EndpointColumns columns(ep);
  Stmt s(*stmt);
  columns.bind(s, 1);
  s.bind(16, ep.id);
  s.bind(17, ep.app_id);
  auto st = finish_write(s, "update_endpoint",
                         [] { return Error::conflict("endpoint uid already exists in this application"); });
  if (st.ok() && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("endpoint not found");
  return st;
}

Status SqliteTx::delete_endpoint(std::string_view app_id, std::string_view id) {
  forget_cached();
  // The endpoint's attempts stay: they are part of its messages' delivery history. Its feed consumers and
  // the poller tokens that read it go with it.
  bool first = true;
  for (const char* sql : {"DELETE FROM endpoints WHERE app_id = ? AND id = ?",
                          "DELETE FROM feed_consumers WHERE app_id = ? AND endpoint_id = ?",
                          "DELETE FROM api_tokens WHERE app_id = ? AND endpoint_id = ?"}) {
    auto stmt = conn_.prepare(sql);
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    s.bind(1, app_id);
    s.bind(2, id);
    if (auto st = finish_write(s, "delete_endpoint"); !st.ok()) return st;
    if (first && sqlite3_changes(conn_.handle()) == 0) return Error::not_found("endpoint not found");
    first = false;
  }
  return {};
}

}  // namespace hookwire::store
