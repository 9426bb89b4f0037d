// PgTx: endpoints.
#include <fmt/format.h>

#include "store/postgres/pg_tx_parts.h"

namespace hookwire::store::postgres {
using namespace pg_rows;  // NOLINT: the files of one implementation

namespace {
// The endpoint columns after (id, app_id), as both statements below list them. The JSON texts live here
// because parameters refer to them: keep this alive until the statement has run.
struct EndpointColumns {
  explicit EndpointColumns(const Endpoint& ep)
      : ep(ep),
        event_types(json_columns::to_json(ep.event_types)),
        channels(json_columns::to_json(ep.channels)),
        secrets(json_columns::to_json(ep.secrets)),
        headers(json_columns::to_json(ep.headers)) {}
  // Adds the 15 columns' parameters.
  void add(Params& p) const {
    p.text(ep.uid).text(ep.url).text(ep.description).boolean(ep.disabled).int64(ep.rate_limit);
    p.text(event_types).text(channels).text(ep.metadata).text(secrets).text(headers);
    p.int64(unix_millis(ep.created_at)).int64(unix_millis(ep.updated_at)).boolean(ep.pull_only);
    p.boolean(ep.thin).text(ep.signature_headers);
  }
  const Endpoint& ep;
  const std::optional<std::string> event_types, channels;  // nullopt: no filter (NULL)
  const std::string secrets, headers;
};
}  // namespace

Result<Endpoint> PgTx::get_endpoint(std::string_view app_id, std::string_view id_or_uid) {
  static const std::string by_id =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = $1::text AND id = $2::text", kEndpointCols);
  static const std::string by_uid =
      fmt::format("SELECT {} FROM endpoints WHERE app_id = $1::text AND uid = $2::text", kEndpointCols);
  static const Statement kById{"get_endpoint_by_id", by_id};
  static const Statement kByUid{"get_endpoint_by_uid", by_uid};
  const bool looks_like_id = id_or_uid.starts_with("ep_");
  Params p;
  p.text(app_id).text(id_or_uid);
  for (const Statement* st : {looks_like_id ? &kById : &kByUid, looks_like_id ? &kByUid : &kById}) {
    auto r = run(*st, p);
    if (!r.ok()) return r.take_error();
    if (r->rows() > 0) return read_endpoint(*r, 0);
  }
  return Error::not_found("endpoint not found");
}

Result<std::vector<Endpoint>> PgTx::list_enabled_endpoints(std::string_view app_id) {
  std::string key(app_id);
  if (auto it = enabled_endpoints_.find(key); it != enabled_endpoints_.end()) return it->second;
  static const std::string sql = fmt::format(
      "SELECT {} FROM endpoints WHERE app_id = $1::text AND NOT disabled ORDER BY id", kEndpointCols);
  static const Statement kList{"list_enabled_endpoints", sql};
  Params p;
  p.text(app_id);
  auto r = run(kList, p);
  if (!r.ok()) return r.take_error();
  std::vector<Endpoint> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto ep = read_endpoint(*r, i);
    if (!ep.ok()) return ep.take_error();
    out.push_back(std::move(*ep));
  }
  enabled_endpoints_.emplace(std::move(key), out);
  return out;
}

Result<Page<Endpoint>> PgTx::list_endpoints(std::string_view app_id, const PageQuery& q) {
  Query query(fmt::format("SELECT {} FROM endpoints WHERE app_id = ", kEndpointCols));
  query.text(app_id);
  return list<Endpoint>(
      std::move(query), "id", q, [](const PgResult& r, int row) { return read_endpoint(r, row); },
      [](const Endpoint& e) { return e.id; });
}

Status PgTx::insert_endpoint(const Endpoint& ep) {
  enabled_endpoints_.clear();
  static constexpr Statement kInsert{
      "insert_endpoint",
      "INSERT INTO endpoints (id, app_id, uid, url, description, disabled, rate_limit, event_types, "
      "channels, "
      "metadata, secrets, headers, created_at, updated_at, pull_only, thin, signature_headers) VALUES "
      "($1::text, $2::text, $3::text, $4::text, $5::text, $6::boolean, $7::bigint, $8::text, $9::text, "
      "$10::text, $11::text, $12::text, $13::bigint, $14::bigint, $15::boolean, $16::boolean, $17::text) ON "
      "CONFLICT DO NOTHING"};
  const EndpointColumns columns(ep);
  Params p;
  p.text(ep.id).text(ep.app_id);
  columns.add(p);
  auto n = change(kInsert, p);
  if (!n.ok()) return n.take_error();
  if (*n == 1) return {};
  if (ep.uid) {
    auto taken = uid_taken("endpoints", ep.app_id, *ep.uid, ep.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("endpoint uid already exists in this application");
  }
  return Error::conflict("endpoint id already exists");
}

Status PgTx::update_endpoint(const Endpoint& ep) {
  enabled_endpoints_.clear();
  if (ep.uid) {
    auto taken = uid_taken("endpoints", ep.app_id, *ep.uid, ep.id);
    if (!taken.ok()) return taken.take_error();
    if (*taken) return Error::conflict("endpoint uid already exists in this application");
  }
  static constexpr Statement kUpdate{
      "update_endpoint",
      "UPDATE endpoints SET uid = $1::text, url = $2::text, description = $3::text, disabled = $4::boolean, "
      "rate_limit = $5::bigint, event_types = $6::text, channels = $7::text, metadata = $8::text, secrets = "
      "$9::text, headers = $10::text, created_at = $11::bigint, updated_at = $12::bigint, pull_only = "
      "$13::boolean, thin = $14::boolean, signature_headers = $15::text WHERE id = $16::text AND app_id = "
      "$17::text"};
  const EndpointColumns columns(ep);
  Params p;
  columns.add(p);
  p.text(ep.id).text(ep.app_id);
  auto n = change(kUpdate, p);
  if (!n.ok())
    return n.error().code == Errc::kConflict
               ? Error::conflict("endpoint uid already exists in this application")
               : n.take_error();
  if (*n == 0) return Error::not_found("endpoint not found");
  return {};
}

Status PgTx::delete_endpoint(std::string_view app_id, std::string_view id) {
  enabled_endpoints_.clear();
  // The endpoint's attempts stay: they are part of its messages' delivery history. Its feed consumers and
  // the poller tokens that read it go with it.
  Params p;
  p.text(app_id).text(id);
  static constexpr Statement kEndpoint{"delete_endpoint",
                                       "DELETE FROM endpoints WHERE app_id = $1::text AND id = $2::text"};
  auto n = change(kEndpoint, p);
  if (!n.ok()) return n.take_error();
  if (*n == 0) return Error::not_found("endpoint not found");
  for (const Statement& st :
       {Statement{"delete_endpoint_consumers",
                  "DELETE FROM feed_consumers WHERE app_id = $1::text AND endpoint_id = $2::text"},
        Statement{"delete_endpoint_tokens",
                  "DELETE FROM api_tokens WHERE app_id = $1::text AND endpoint_id = $2::text"}}) {
    if (auto deleted = change(st, p); !deleted.ok()) return deleted.take_error();
  }
  return {};
}

}  // namespace hookwire::store::postgres
