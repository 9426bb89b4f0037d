// /api/v1/auth: scoped tokens (issue #19), on Svix's paths and shapes; the admin token only.
//  - GET  /auth/app/{app}/poller/{endpoint}/token: ApiTokenOut, the sink's current poller token (the newest
//    live one), created (without expiry) on the first call.
//  - POST /auth/app/{app}/poller/{endpoint}/token/rotate {expiry?, oldTokenExpiry = 300}: 201 ApiTokenOut, a
//    new token; every live token of the sink before it now expires within oldTokenExpiry seconds (0: at once;
//    an expiry already sooner is kept).
//  - POST /auth/app-portal-access/{app} {application?, expiry?, capabilities?, readOnly?, sessionId?}:
//    AppPortalAccessOut {url, token}, a token of that application (created from `application` when the
//    path's uid is unknown) with Svix's capabilities. Stricter than Svix on purpose: without `capabilities`
//    the token has ViewBase only (read-only), not every capability. ViewBase is always granted. `url` is
//    `<public url>/portal#key=<link>`, the link a second credential (kAppPortalLink: same application,
//    capabilities, sessionId and expiry) that POST /ui/api/portal/login redeems once for a browser session
//    (sessions.cc); `token` is the reusable bearer token SDKs use.
//  - POST /auth/app/{app}/expire-all {expiry = 0 (0..259200 s), sessionIds?}: every app-portal token, link
//    and portal session of the application (only those issued with one of `sessionIds`, when given and not
//    empty) expires within `expiry` seconds (one expiring sooner keeps its expiry). 204.
// Each committed change is recorded in the TokenRegistry (ctx->tokens) before the answer is sent.
#include <algorithm>
#include <cctype>
#include <memory>

#include "api/v1/applications.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "core/ids.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::ApiToken;

namespace {

constexpr int64_t kMaxPollerExpiry = 31'536'000;  // Svix: up to a year
constexpr int64_t kMaxOldTokenExpiry = 86'400;
constexpr int64_t kDefaultOldTokenExpiry = 300;
constexpr int64_t kMinPortalExpiry = 3'600;  // Svix: between an hour and 7 days, 7 days by default
constexpr int64_t kMaxPortalExpiry = 604'800;
constexpr int64_t kMaxExpireAllExpiry = 259'200;  // Svix's ApplicationTokenExpireIn: up to 3 days
constexpr size_t kMaxSessionIds = 1'000;

// Svix's sessionId rule: ^[a-zA-Z0-9@_-]+$, 1 to 64 characters.
bool is_session_id(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '_' || c == '-';
  });
}

bool live(const ApiToken& t, TimePoint now) { return !t.expires_at || *t.expires_at > now; }

// A sink (its application and endpoint, named by id or uid) with its live poller tokens.
struct SinkTokens {
  std::string app_id;
  std::string endpoint_id;
  std::vector<ApiToken> live;
};

Result<SinkTokens> sink_tokens(store::Tx& tx, const std::string& app_id, const std::string& endpoint_id,
                               TimePoint now) {
  auto app = tx.get_application(app_id);
  if (!app) return app.take_error();
  auto ep = tx.get_endpoint(app->id, endpoint_id);
  if (!ep) return ep.take_error();
  auto all = tx.list_tokens();
  if (!all) return all.take_error();
  SinkTokens out{app->id, ep->id, {}};
  for (auto& t : *all)
    if (t.kind == ApiToken::kPoller && t.app_id == out.app_id && t.endpoint_id == out.endpoint_id &&
        live(t, now))
      out.live.push_back(std::move(t));
  return out;
}

// Svix's ApiTokenOut.
std::string token_json(const ApiToken& t, const std::string& text) {
  json::object out{
      {"token", text},
      {"id", t.id},
      {"name", nullptr},
      {"createdAt", format_iso8601(t.created_at)},
      {"expiresAt", t.expires_at ? json::value(format_iso8601(*t.expires_at)) : json::value(nullptr)},
      {"scopes", nullptr}};
  return json::serialize(out);
}

// What a token write changed, recorded by the function's last run; put into the registry once committed.
using Changed = std::shared_ptr<std::vector<ApiToken>>;

void record(const ApiContext* ctx, const Response& response, const Changed& changed) {
  if (response.result_int() / 100 != 2) return;
  for (const auto& t : *changed) ctx->tokens->put(t);
  if (!changed->empty()) ctx->store->publish_change("tokens");
}

asio::awaitable<Response> poller_token(const ApiContext* ctx, const Request& req, std::string app_id,
                                       std::string ep_id) {
  const TimePoint now = ctx->clock->now();
  auto changed = std::make_shared<std::vector<ApiToken>>();
  // Not write_reply: a GET replays nothing under an idempotency key.
  std::function<Result<Reply>(store::Tx&)> fn = [reg = ctx->tokens, app_id, ep_id, now,
                                                 changed](store::Tx& tx) -> Result<Reply> {
    changed->clear();
    auto sink = sink_tokens(tx, app_id, ep_id, now);
    if (!sink) return sink.take_error();
    // Only a token whose text this server can still derive (the token key unchanged) can be shown.
    auto& tokens = sink->live;
    std::erase_if(tokens, [&](const ApiToken& t) { return token_hash(reg->text_of(t)) != t.hash; });
    auto newest = std::max_element(tokens.begin(), tokens.end(), [](const ApiToken& a, const ApiToken& b) {
      return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
    });
    if (newest != tokens.end()) return Reply{http::status::ok, token_json(*newest, reg->text_of(*newest))};
    ApiToken t = reg->mint(ApiToken::kPoller, sink->app_id, sink->endpoint_id, {}, now, std::nullopt);
    if (auto st = tx.insert_token(t); !st) return st.take_error();
    changed->push_back(t);
    return Reply{http::status::ok, token_json(t, reg->text_of(t))};
  };
  auto result = co_await store::write<Reply>(*ctx->store, std::move(fn));
  if (!result) co_return error_response(result.error(), req.version(), req.keep_alive());
  auto response = make_response(req, std::move(*result));
  record(ctx, response, changed);
  co_return response;
}

asio::awaitable<Response> rotate_poller_token(const ApiContext* ctx, const Request& req, std::string app_id,
                                              std::string ep_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  const auto expiry = r.opt_int("expiry", 1, kMaxPollerExpiry);
  const auto old_expiry = r.opt_int("oldTokenExpiry", 0, kMaxOldTokenExpiry).value_or(kDefaultOldTokenExpiry);
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  const TimePoint old_until = now + std::chrono::seconds(old_expiry);
  std::optional<TimePoint> expires_at;
  if (expiry) expires_at = now + std::chrono::seconds(*expiry);
  auto changed = std::make_shared<std::vector<ApiToken>>();
  WriteFn fn = [reg = ctx->tokens, app_id, ep_id, now, old_until, expires_at,
                changed](store::Tx& tx) -> Result<Reply> {
    changed->clear();
    auto sink = sink_tokens(tx, app_id, ep_id, now);
    if (!sink) return sink.take_error();
    for (auto& t : sink->live) {
      if (t.expires_at && *t.expires_at <= old_until) continue;  // already ends sooner
      t.expires_at = old_until;
      if (auto st = tx.update_token_expiry(t.id, t.expires_at); !st) return st.take_error();
      changed->push_back(t);
    }
    ApiToken fresh = reg->mint(ApiToken::kPoller, sink->app_id, sink->endpoint_id, {}, now, expires_at);
    if (auto st = tx.insert_token(fresh); !st) return st.take_error();
    changed->push_back(fresh);
    return Reply{http::status::created, token_json(fresh, reg->text_of(fresh))};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  record(ctx, response, changed);
  co_return response;
}

// AppPortalAccessIn, validated.
struct PortalAccess {
  std::optional<ApplicationFields> application;
  std::vector<std::string> capabilities;  // ViewBase first
  int64_t expiry = kMaxPortalExpiry;
  std::optional<std::string> session_id;
};

Result<PortalAccess> read_portal_access(const json::object& obj) {
  FieldReader r(obj);
  PortalAccess out;
  if (r.has("application") && !r.is_null("application")) {
    const auto& v = obj.at("application");
    if (!v.is_object()) return Error::validation("body.application", "must be an object");
    auto app = read_application(v.as_object(), false, "body.application");
    if (!app) return app.take_error();
    out.application = std::move(*app);
  }
  const auto read_only = r.opt_bool("readOnly");
  const auto caps = r.opt_string_array("capabilities", FieldReader::Rule::kAny, std::size(capability::kAll));
  out.expiry = r.opt_int("expiry", kMinPortalExpiry, kMaxPortalExpiry).value_or(kMaxPortalExpiry);
  // Accepted as Svix does, and unused: hookwire has no feature flags.
  (void)r.opt_string_array("featureFlags", FieldReader::Rule::kToken, 25);
  out.session_id = r.opt_string("sessionId", FieldReader::Rule::kAny, 64);
  if (out.session_id && !is_session_id(*out.session_id))
    r.fail("sessionId", "must match ^[a-zA-Z0-9@_-]+$ (1 to 64 characters)");
  if (r.error()) return *r.error();
  out.capabilities.emplace_back(capability::kViewBase);
  for (const auto& c : caps.value_or(std::vector<std::string>{})) {
    if (!capability::is_known(c))
      return Error::validation("body.capabilities",
                               "unknown capability \"" + c.substr(0, 64) +
                                   "\": must be ViewBase, ViewEndpointSecret, ManageEndpointSecret, "
                                   "ManageTransformations, CreateAttempts or ManageEndpoint");
    if (std::count(caps->begin(), caps->end(), c) > 1)
      return Error::validation("body.capabilities", "items must be unique");
    if (read_only.value_or(false) && c != capability::kViewBase && c != capability::kViewEndpointSecret)
      return Error::validation("body.readOnly", "a read-only token cannot have the capability " + c);
    if (c != capability::kViewBase) out.capabilities.push_back(c);
  }
  return out;
}

asio::awaitable<Response> portal_access(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto access = read_portal_access(*obj);
  if (!access) co_return error_response(access.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  auto changed = std::make_shared<std::vector<ApiToken>>();
  WriteFn fn = [reg = ctx->tokens, base = ctx->public_url, a = std::move(*access), app_id, now,
                changed](store::Tx& tx) -> Result<Reply> {
    changed->clear();
    auto app = tx.get_application(app_id);
    if (!app) {
      // Svix: `application` creates it when the path's id or uid does not exist (with that uid).
      if (app.error().code != Errc::kNotFound || !a.application) return app.take_error();
      if (is_id(app_id, id_prefix::kApplication) || !is_token(app_id))
        return Error::not_found("application not found");
      if (a.application->uid && *a.application->uid != app_id)
        return Error::validation("body.application.uid", "must equal the uid in the path");
      auto fields = *a.application;
      fields.uid = app_id;
      app = new_application(fields, now);
      if (auto st = tx.insert_application(*app); !st) return st.take_error();
    }
    const TimePoint until = now + std::chrono::seconds(a.expiry);
    ApiToken t = reg->mint(ApiToken::kAppPortal, app->id, std::nullopt, a.capabilities, now, until);
    ApiToken link = reg->mint(ApiToken::kAppPortalLink, app->id, std::nullopt, a.capabilities, now, until);
    t.session_id = link.session_id = a.session_id;
    if (auto st = tx.insert_token(t); !st) return st.take_error();
    if (auto st = tx.insert_token(link); !st) return st.take_error();
    changed->push_back(t);
    changed->push_back(link);
    json::object out{{"url", base + "/portal#key=" + reg->text_of(link)}, {"token", reg->text_of(t)}};
    return Reply{http::status::ok, json::serialize(out)};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  record(ctx, response, changed);
  co_return response;
}

// Svix's ApplicationTokenExpireIn, validated.
struct ExpireAll {
  int64_t expiry = 0;
  std::vector<std::string> session_ids;  // empty: every session
};

Result<ExpireAll> read_expire_all(std::string_view body) {
  ExpireAll out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;  // no body: the defaults
  auto obj = parse_object(body);
  if (!obj) return obj.take_error();
  FieldReader r(*obj);
  out.expiry = r.opt_int("expiry", 0, kMaxExpireAllExpiry).value_or(0);
  out.session_ids = r.opt_string_array("sessionIds", FieldReader::Rule::kAny, kMaxSessionIds)
                        .value_or(std::vector<std::string>{});
  if (!std::all_of(out.session_ids.begin(), out.session_ids.end(), is_session_id))
    r.fail("sessionIds", "items must match ^[a-zA-Z0-9@_-]+$ (1 to 64 characters)");
  if (r.error()) return *r.error();
  return out;
}

bool of_the_portal(const ApiToken& t) {
  return t.kind == ApiToken::kAppPortal || t.kind == ApiToken::kAppPortalLink ||
         t.kind == ApiToken::kPortalSession;
}

asio::awaitable<Response> expire_all(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto in = read_expire_all(req.body());
  if (!in) co_return error_response(in.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  const TimePoint until = now + std::chrono::seconds(in->expiry);
  auto changed = std::make_shared<std::vector<ApiToken>>();
  WriteFn fn = [app_id, ids = std::move(in->session_ids), now, until,
                changed](store::Tx& tx) -> Result<Reply> {
    changed->clear();
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    auto all = tx.list_tokens();
    if (!all) return all.take_error();
    for (auto& t : *all) {
      if (t.app_id != app->id || !of_the_portal(t) || !live(t, now)) continue;
      if (!ids.empty() && (!t.session_id || std::find(ids.begin(), ids.end(), *t.session_id) == ids.end()))
        continue;
      if (t.expires_at && *t.expires_at <= until) continue;  // already ends sooner
      t.expires_at = until;
      if (auto st = tx.update_token_expiry(t.id, t.expires_at); !st) return st.take_error();
      changed->push_back(t);
    }
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  record(ctx, response, changed);
  co_return response;
}

}  // namespace

void add_auth_routes(Router& router, const ApiContext* ctx) {
  if (!ctx->tokens) return;  // no token key: only the admin token exists
  using V = http::verb;
  const std::string poller = "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token";
  router.add(V::get, poller, authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return poller_token(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::post, poller + "/rotate", authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return rotate_poller_token(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::post, "/api/v1/auth/app-portal-access/{app_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return portal_access(ctx, req, p.get("app_id"));
             }));
  router.add(V::post, "/api/v1/auth/app/{app_id}/expire-all",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return expire_all(ctx, req, p.get("app_id"));
             }));
}

}  // namespace hookwire::api::v1
