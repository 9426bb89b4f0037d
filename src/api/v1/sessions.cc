// Browser sessions for the portal and the console (issue #22), on the same origin as the API. Rules decided
// here (docs/api.md, "Browser sessions"):
//  - POST /ui/api/portal/login {"key": link}: the one-time link of an app-portal access (auth.cc) is redeemed
//    in one store write (Tx::redeem_token: the store decides, so a link is used once across nodes) for a
//    portal session with the link's application, capabilities, sessionId and expiry. 200 {appId, appUid,
//    appName, capabilities, expiresAt, csrf} with the cookie hookwire_portal; any link that is not live: 401
//    link_invalid.
//  - POST /ui/api/console/login {"token": admin token} (constant-time compare): a console session of 12 h,
//    cookie hookwire_console; 200 {expiresAt, csrf}; a wrong token 401, nothing stored.
//  - GET /ui/api/{portal,console}/session: the same answer for the live session of that cookie (so a reloaded
//    page recovers its CSRF token), else 401 session_invalid.
//  - POST /api/v1/auth/logout (Svix): the app-portal token presented as bearer, or the session of the cookie
//    (with its CSRF header), expires now; a session's cookie is cleared. 204. The admin token and poller
//    tokens cannot be logged out: 403.
// Cookies: `<name>=<session text>; Path=/; HttpOnly; SameSite=Lax`; when --public-url is https, `Secure;
// SameSite=None; Partitioned` instead of Lax, so a portal in a cross-site iframe keeps its cookie (CHIPS).
// No Max-Age: the cookie ends with the browser, the session at its expiry. Every answer here carries
// `Cache-Control: no-store`. What a session may do on /api/v1 is caller_of's (support.h): the cookie plus the
// X-Hookwire-Csrf header equal to the session's CSRF token (TokenRegistry::csrf_of).
#include <boost/json.hpp>
#include <cctype>
#include <memory>

#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "core/encoding.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::ApiToken;

namespace {

constexpr auto kConsoleSessionLife = std::chrono::hours(12);
constexpr size_t kLoginBodyLimit = 4096;  // the login bodies are one short string; read before any auth
constexpr const char* kLinkInvalid =
    "this portal link was already used or has expired; ask the application for a new one";
constexpr const char* kSessionInvalid = "no live session: open the portal link or log in again";

bool secure_cookies(const ApiContext* ctx) { return ctx->public_url.starts_with("https://"); }

std::string cookie(const ApiContext* ctx, std::string_view name, std::string_view value, bool clear = false) {
  std::string out = std::string(name) + "=" + std::string(value) + "; Path=/";
  if (clear) out += "; Max-Age=0";
  out += secure_cookies(ctx) ? "; HttpOnly; Secure; SameSite=None; Partitioned" : "; HttpOnly; SameSite=Lax";
  return out;
}

Response no_store(Response res) {
  res.set(http::field::cache_control, "no-store");
  return res;
}

Response refuse(const Request& req, http::status status, std::string_view code, std::string_view detail) {
  auto res = error_response(status, code, detail, req.version(), req.keep_alive());
  if (status == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer");
  return no_store(std::move(res));
}

Response refuse(const Request& req, const Error& e) {
  return no_store(error_response(e, req.version(), req.keep_alive()));
}

Response answer(const Request& req, const json::object& body) {
  return no_store(json_response(http::status::ok, json::serialize(body), req.version(), req.keep_alive()));
}

json::value expires_json(const ApiToken& t) {
  return t.expires_at ? json::value(format_iso8601(*t.expires_at)) : json::value(nullptr);
}

json::object portal_json(const ApiContext* ctx, const ApiToken& session, const store::Application& app) {
  json::array caps;
  for (const auto& c : session.capabilities) caps.emplace_back(c);
  return json::object{{"appId", app.id},
                      {"appUid", app.uid ? json::value(*app.uid) : json::value(nullptr)},
                      {"appName", app.name},
                      {"capabilities", std::move(caps)},
                      {"expiresAt", expires_json(session)},
                      {"csrf", ctx->tokens->csrf_of(session)}};
}

json::object console_json(const ApiContext* ctx, const ApiToken& session) {
  return json::object{{"expiresAt", expires_json(session)}, {"csrf", ctx->tokens->csrf_of(session)}};
}

// One string member of a small JSON object body (`key`, `token`): 400 when the body is not JSON, 422 when it
// is not an object or the member not a string (its value never echoed). The body must be declared JSON: an
// HTML form cannot send that cross-site without a CORS preflight, which nothing here answers, so another site
// cannot log a browser into a session of its choosing (login CSRF).
Result<std::optional<std::string>> login_field(const Request& req, std::string_view name) {
  std::string type(req[http::field::content_type].substr(0, 16));
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type != "application/json")
    return Error::bad_request("the body must be JSON, sent with Content-Type: application/json");
  auto obj = parse_object(req.body());
  if (!obj) return obj.take_error();
  FieldReader r(*obj);
  auto value = r.opt_string(name, FieldReader::Rule::kAny, 1024);
  if (r.error()) return *r.error();
  return value;
}

// Records committed token changes in the registry and tells the other nodes.
void record(const ApiContext* ctx, const std::vector<ApiToken>& changed) {
  for (const auto& t : changed) ctx->tokens->put(t);
  if (!changed.empty()) ctx->store->publish_change("tokens");
}

struct PortalLogin {
  ApiToken used;     // the link, as redeemed
  ApiToken session;  // the portal session made of it
  store::Application app;
};

asio::awaitable<Response> portal_login(const ApiContext* ctx, const Request& req) {
  const auto key = login_field(req, "key");
  if (!key) co_return refuse(req, key.error());
  if (!*key || !TokenRegistry::has_shape(**key, ApiToken::kAppPortalLink))
    co_return refuse(req, http::status::unauthorized, "link_invalid", kLinkInvalid);
  const TimePoint now = ctx->clock->now();
  auto fn = [reg = ctx->tokens, hash = token_hash(**key), now](store::Tx& tx) -> Result<PortalLogin> {
    auto link = tx.redeem_token(hash, ApiToken::kAppPortalLink, now);
    if (!link) return link.take_error();
    auto app = tx.get_application(link->app_id);
    if (!app) return app.take_error();  // deleted with its tokens; rolled back with this write
    ApiToken session = reg->mint(ApiToken::kPortalSession, link->app_id, std::nullopt, link->capabilities,
                                 now, link->expires_at);
    session.session_id = link->session_id;
    if (auto st = tx.insert_token(session); !st) return st.take_error();
    ApiToken used = std::move(*link);
    used.expires_at = store::kTokenUsed;
    return PortalLogin{std::move(used), std::move(session), std::move(*app)};
  };
  auto done = co_await store::write<PortalLogin>(*ctx->store, std::move(fn));
  if (!done) {
    if (done.error().code == Errc::kNotFound)
      co_return refuse(req, http::status::unauthorized, "link_invalid", kLinkInvalid);
    co_return refuse(req, done.error());
  }
  record(ctx, {done->used, done->session});
  auto res = answer(req, portal_json(ctx, done->session, done->app));
  res.set(http::field::set_cookie, cookie(ctx, kPortalCookie, ctx->tokens->text_of(done->session)));
  co_return res;
}

asio::awaitable<Response> console_login(const ApiContext* ctx, const Request& req) {
  // Never logged, whatever it holds (the server logs a refusal's status and route, never a body).
  const auto token = login_field(req, "token");
  if (!token) co_return refuse(req, token.error());
  if (!*token || ctx->admin_token.empty() || !constant_time_equal(**token, ctx->admin_token))
    co_return refuse(req, http::status::unauthorized, "authentication_failed", "invalid admin token");
  const TimePoint now = ctx->clock->now();
  auto fn = [reg = ctx->tokens, now](store::Tx& tx) -> Result<ApiToken> {
    ApiToken session =
        reg->mint(ApiToken::kConsoleSession, "", std::nullopt, {}, now, now + kConsoleSessionLife);
    if (auto st = tx.insert_token(session); !st) return st.take_error();
    return session;
  };
  auto session = co_await store::write<ApiToken>(*ctx->store, std::move(fn));
  if (!session) co_return refuse(req, session.error());
  record(ctx, {*session});
  auto res = answer(req, console_json(ctx, *session));
  res.set(http::field::set_cookie, cookie(ctx, kConsoleCookie, ctx->tokens->text_of(*session)));
  co_return res;
}

// The first live session of `kind` among the request's cookies named `name`.
std::optional<ApiToken> live_session(const ApiContext* ctx, const Request& req, int kind) {
  const auto texts = cookie_values(req, kind == ApiToken::kPortalSession ? kPortalCookie : kConsoleCookie);
  const TimePoint now = ctx->clock->now();
  for (const auto& text : texts) {
    if (!TokenRegistry::has_shape(text, kind)) continue;
    auto t = ctx->tokens->find(text);
    if (t && t->kind == kind && (!t->expires_at || *t->expires_at > now)) return t;
  }
  return std::nullopt;
}

// live_session(), after asking the store about a session another node made (learn_credentials) on a miss.
asio::awaitable<std::optional<ApiToken>> find_session(const ApiContext* ctx, const Request& req, int kind) {
  if (auto session = live_session(ctx, req, kind)) co_return session;
  co_await learn_credentials(ctx, req);
  co_return live_session(ctx, req, kind);
}

asio::awaitable<Response> portal_session(const ApiContext* ctx, const Request& req) {
  auto session = co_await find_session(ctx, req, ApiToken::kPortalSession);
  if (!session) co_return refuse(req, http::status::unauthorized, "session_invalid", kSessionInvalid);
  auto fn = [app_id = session->app_id](store::Tx& tx) { return tx.get_application(app_id); };
  auto app = co_await store::read<store::Application>(*ctx->store, std::move(fn));
  if (!app) {
    if (app.error().code == Errc::kNotFound)
      co_return refuse(req, http::status::unauthorized, "session_invalid", kSessionInvalid);
    co_return refuse(req, app.error());
  }
  co_return answer(req, portal_json(ctx, *session, *app));
}

asio::awaitable<Response> console_session(const ApiContext* ctx, const Request& req) {
  auto session = co_await find_session(ctx, req, ApiToken::kConsoleSession);
  if (!session) co_return refuse(req, http::status::unauthorized, "session_invalid", kSessionInvalid);
  co_return answer(req, console_json(ctx, *session));
}

// The caller POST /api/v1/auth/logout may end (an app-portal token or a session), or the refusal.
std::optional<Response> refuse_logout(const Request& req, const Caller& caller) {
  if (caller.kind == Caller::kNobody) return no_store(refusal_response(req, caller));
  if (!caller.token || caller.token->kind == ApiToken::kPoller)
    return refuse(req, http::status::forbidden, "forbidden",
                  "only an app-portal token or a browser session can be logged out (not the admin token or a "
                  "poller token)");
  return std::nullopt;
}

asio::awaitable<Response> logout(const ApiContext* ctx, const Request& req) {
  const Caller caller = caller_of(ctx, req);
  if (auto refused = refuse_logout(req, caller)) co_return std::move(*refused);
  ApiToken ended = *caller.token;
  const TimePoint now = ctx->clock->now();
  ended.expires_at = now;
  auto fn = [id = ended.id, now](store::Tx& tx) -> Result<bool> {
    auto st = tx.update_token_expiry(id, now);
    if (!st && st.error().code != Errc::kNotFound) return st.take_error();  // deleted meanwhile: ended too
    return true;
  };
  auto done = co_await store::write<bool>(*ctx->store, std::move(fn));
  if (!done) co_return refuse(req, done.error());
  record(ctx, {ended});
  Response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  if (ended.kind == ApiToken::kPortalSession)
    res.set(http::field::set_cookie, cookie(ctx, kPortalCookie, "", true));
  if (ended.kind == ApiToken::kConsoleSession)
    res.set(http::field::set_cookie, cookie(ctx, kConsoleCookie, "", true));
  co_return no_store(std::move(res));
}

// The login routes are open (they are how one gets credentials): a small body limit, checked on the head.
Admission small_body() {
  Admission a;
  a.check_route = [](const Request&, Admission::Route& route) -> std::optional<Response> {
    route.body_limit = std::min(route.body_limit, kLoginBodyLimit);
    return std::nullopt;
  };
  return a;
}

}  // namespace

void add_session_routes(Router& router, const ApiContext* ctx) {
  if (!ctx->tokens) return;  // no token key: no sessions (as no scoped tokens)
  using V = http::verb;
  router.add(
      V::post, "/ui/api/portal/login",
      [ctx](const Request& req, const PathParams&) { return portal_login(ctx, req); }, small_body());
  router.add(
      V::post, "/ui/api/console/login",
      [ctx](const Request& req, const PathParams&) { return console_login(ctx, req); }, small_body());
  router.add(V::get, "/ui/api/portal/session",
             [ctx](const Request& req, const PathParams&) { return portal_session(ctx, req); });
  router.add(V::get, "/ui/api/console/session",
             [ctx](const Request& req, const PathParams&) { return console_session(ctx, req); });
  auto logout_admission = learning_admission(ctx, [ctx](const Request& head, const PathParams&) {
    return refuse_logout(head, caller_of(ctx, head));
  });
  router.add(
      V::post, "/api/v1/auth/logout",
      [ctx](const Request& req, const PathParams&) { return logout(ctx, req); }, std::move(logout_admission));
}

}  // namespace hookwire::api::v1
