// What every v1 handler shares: the context it runs in, bearer auth, query-string parsing, and the two ways a
// handler talks to the store — read_reply() and write_reply(), the latter honouring `idempotency-key`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/errors.h"
#include "api/http_types.h"
#include "api/router.h"
#include "api/v1/tokens.h"
#include "core/clock.h"
#include "core/figures.h"
#include "core/metrics.h"
#include "core/result.h"
#include "delivery/url_guard.h"
#include "store/store.h"

namespace hookwire::inbound {
class Gateway;
}
namespace hookwire::feed {
class FeedHub;
}

namespace hookwire::api::v1 {

// Everything the handlers need; owned by the app, outlives the server.
struct ApiContext {
  store::Store* store = nullptr;
  const Clock* clock = nullptr;
  metrics::Registry* metrics = nullptr;
  std::string admin_token;
  // Bearer token that may read /metrics (besides the admin token); empty: only the admin token may.
  std::string metrics_token;
  // Idempotency records older than this are ignored and purged (Svix keeps keys at least 12 h).
  std::chrono::seconds idempotency_ttl{std::chrono::hours{24}};
  // Called after a message and its deliveries are durable (wakes the dispatcher). Optional; thread-safe.
  std::function<void()> on_deliveries_created;
  inbound::Gateway* inbound = nullptr;  // the inbound gateway (sources, POST /in/{source}); owned by the app
  // The dispatcher's SSRF policy: endpoint URLs and source destinations whose host is an address it refuses
  // are refused when configured (422). Null: the default policy (refuse every private range).
  const delivery::UrlGuard* url_guard = nullptr;
  // Scoped tokens (poller and app-portal), checked on the request head; owned by the app. Null: only the
  // admin token is known (and the token routes are not served).
  TokenRegistry* tokens = nullptr;
  // Wakes the readers held by `wait=` (poller routes) when their application's log moves; stopped by the app
  // before the server, so every held request answers at once. Null: `wait` answers at once.
  feed::FeedHub* feed_hub = nullptr;
  // Where this server's API is reached from outside (--public-url; no trailing '/'), e.g.
  // "https://hooks.example.com": the base of URLs handed to others (thin webhooks' message URLs, app-portal
  // links).
  std::string public_url;
  // The server's own figures over time (GET /api/v1/server/stats); owned by the app. Null: not served (503).
  const metrics::FigureSampler* figures = nullptr;
  std::string node_id;  // this node, as the figures name it ("host:port")
};

// The SSRF policy configured URLs are checked against: ctx->url_guard, else the default policy.
inline const delivery::UrlGuard& url_guard(const ApiContext* ctx) {
  static const delivery::UrlGuard kDefault;
  return ctx->url_guard ? *ctx->url_guard : kDefault;
}

// A handler's answer before it becomes an HTTP response.
struct Reply {
  http::status status = http::status::ok;
  std::string body;  // JSON text; empty for 204
};

Response make_response(const Request& req, Reply reply);  // moves the body into the response

// `handler` guarded by `Authorization: Bearer <admin token>` (constant-time compare) or a console session
// (caller_of): the server checks the credentials on the request head, before any body byte is read (401/403
// at once), and the handler checks them again.
GuardedHandler authed(const ApiContext* ctx, Handler handler);
// Scoped access (the pull door, issue #19). Besides the admin token, which may do everything, a route under
// /api/v1/app/{app_id}/... may admit narrower tokens:
//  - `sink_reader`: the feed routes of one sink ({app_id}, {sink_id} or {endpoint_id}): the admin token, an
//    app-portal token of that application, or a poller token (sk_poll_) of that sink.
//  - `app_reader`: read-only routes of one application ({app_id}): the admin token or an app-portal token of
//    that application; a poller token only where `poller_may_read` (fetching a thin webhook's message).
//  - `app_capable`: routes of one application that change it or show a secret: the admin token or an
//    app-portal token of that application holding one of `capabilities` (Svix's AppPortalCapability).
// Every other route is `authed()`: a scoped token there gets 403, an unknown one 401.
// The admission checks the token on the head (401 unknown/expired, 403 another application or sink where the
// path names it by id). Handlers resolve uids, then check the ids they resolved with authorize() or
// Caller::may_access(): 403 unless the caller may act on them (the head check cannot see through a uid).
GuardedHandler sink_reader(const ApiContext* ctx, Handler handler);
// Read-only routes that name no application but every application's portal shows (the event type catalog, as
// in Svix): the admin token, or an app-portal token (or portal session) of any application; not a poller
// token.
GuardedHandler portal_reader(const ApiContext* ctx, Handler handler);
GuardedHandler app_reader(const ApiContext* ctx, Handler handler, bool poller_may_read = false);
GuardedHandler app_capable(const ApiContext* ctx, std::vector<std::string_view> capabilities,
                           Handler handler);

// The caller of a request, as its credentials make it: the admin token (or a console session), a live scoped
// token (or a portal session, which acts as an app-portal token of its application), or nobody.
// A value: handlers capture it into their store functions and check the ids they resolve there.
struct Caller {
  enum Kind { kNobody, kAdmin, kScoped };
  Kind kind = kNobody;
  // kScoped: the token (or portal session); kAdmin: the console session when one acts, else nullopt.
  std::optional<store::ApiToken> token;
  // kNobody: why, as the error answered: 401 "authentication_failed" (a bearer token), 401 "session_invalid"
  // (a session cookie that is not live), 403 "csrf_failed" (a live session cookie without its CSRF header).
  Errc refusal_errc = Errc::kUnauthorized;
  std::string refusal_code = "authentication_failed";
  std::string refusal;  // the detail
  // Ok for the admin token; the refusal for nobody; for a scoped token kForbidden unless it is of
  // application `app_id` and, for a poller token given `endpoint_id`, of that sink.
  Status may_access(std::string_view app_id,
                    std::optional<std::string_view> endpoint_id = std::nullopt) const;
  // Whether a session cookie (portal or console) made this caller.
  bool by_session() const;
};
// The error answer of a caller that is nobody (its refusal; `WWW-Authenticate: Bearer` on a 401).
Response refusal_response(const Request& req, const Caller& caller);

// Browser sessions (issue #22, sessions.cc): the cookies and the header that carry them.
inline constexpr std::string_view kPortalCookie = "hookwire_portal";
inline constexpr std::string_view kConsoleCookie = "hookwire_console";
inline constexpr std::string_view kCsrfHeader = "x-hookwire-csrf";

// What a request presents to be admitted, kept by a long-lived response (a stream) to check its caller again
// later (a token rotated away, a session ended or expired meanwhile is no longer admitted).
struct Credentials {
  std::string authorization;                 // the Authorization header
  std::vector<std::string> portal_sessions;  // the values of its hookwire_portal cookies (at most 4)
  std::vector<std::string> console_sessions;
  std::string csrf;  // the X-Hookwire-Csrf header
};
Credentials credentials_of(const Request& req);
// The values of `req`'s cookies named `name` (every Cookie header; at most 4).
std::vector<std::string> cookie_values(const Request& req, std::string_view name);
// The caller presenting `c`:
//  - with an Authorization header, its `Bearer` token: the admin token (compared in constant time), or a
//    poller or app-portal token looked up in ctx->tokens and refused once expired (at ctx->clock's now); a
//    session's or a link's text is refused there;
//  - without one, its session cookies: a live portal session acts as an app-portal token of its application,
//    a live console session as the admin token, each only with the X-Hookwire-Csrf header equal to that
//    session's CSRF token (TokenRegistry::csrf_of; when both cookies are live, the one the header matches).
Caller caller_of(const ApiContext* ctx, const Credentials& c);
Caller caller_of(const ApiContext* ctx, const Request& req);
// Nodes sharing a store learn each other's new tokens and sessions through Store::publish_change, a little
// after the change. A credential of a known shape that ctx->tokens does not have may be one of those: this
// looks the credentials of `req` up in the store (by hash) and records those found in ctx->tokens.
boost::asio::awaitable<void> learn_credentials(const ApiContext* ctx, const Request& req);
// `check` (nullopt: admitted) as a route admission that, when `check` answers 401 while the request presents
// a credential this node does not know, has the server call learn_credentials and run `check` once more.
using CredentialCheck = std::function<std::optional<Response>(const Request& head, const PathParams& params)>;
Admission learning_admission(const ApiContext* ctx, CredentialCheck check);
// Resolves the application (id or uid), checks that `caller` may act on it, then resolves the endpoint (id or
// uid) inside it.
Result<store::Endpoint> find_endpoint(store::Tx& tx, const Caller& caller, const std::string& app_id,
                                      const std::string& ep_id);
// caller_of(ctx, req).may_access(app_id, endpoint_id): kForbidden unless the request's caller may read
// application `app_id` (and sink `endpoint_id` when given).
Status authorize(const ApiContext* ctx, const Request& req, std::string_view app_id,
                 std::optional<std::string_view> endpoint_id = std::nullopt);
// `handler` behind `admission`: the server runs admission.check on the head, and the handler runs it again
// on the whole request (defence in depth, e.g. for a caller that drives the router without the server).
GuardedHandler guarded(Admission admission, Handler handler);
// The admission of a route open to any of `tokens` (each compared in constant time; empty ones never
// match): 401 unless the request carries `Authorization: Bearer <one of them>`. The tokens must outlive it.
Admission bearer_admission(std::vector<const std::string*> tokens);

// The decoded query string of a request target. Repeated keys keep every value.
class Query {
 public:
  static Result<Query> parse(std::string_view target);
  std::optional<std::string> get(std::string_view name) const;  // the last value
  // Every value of `name`, each also split on commas ("a,b&name=c" -> a, b, c): the svix SDKs join arrays.
  std::vector<std::string> list(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// limit (1..250, default 50), iterator, order ("ascending"/"descending").
Result<store::PageQuery> page_query(const Query& q, store::Order default_order);
// Optional ISO 8601 date-time query parameter (`before`, `after`, `since`...); nullopt when absent.
Result<std::optional<TimePoint>> time_param(const Query& q, std::string_view name);
// Optional Svix MessageStatus query parameter (0 success, 1 pending, 2 fail, 3 sending).
Result<std::optional<int>> status_param(const Query& q, std::string_view name = "status");
// `event_types` (repeated or comma-joined), each an event type name; `channel`, a channel name.
Result<std::vector<std::string>> event_types_param(const Query& q);
Result<std::optional<std::string>> channel_param(const Query& q);
// Optional boolean query flag ("true"/"false"); `fallback` when absent.
Result<bool> bool_param(const Query& q, std::string_view name, bool fallback);

// Callers bind fn to a named local and pass std::move(fn): GCC 12 destroys a lambda temporary that sits
// inside a co_await expression twice, so no temporary with a destructor may appear in one.
//
// Runs fn against a store snapshot and turns its Reply (or Error) into a response.
using ReadFn = std::function<Result<Reply>(store::Tx&)>;
boost::asio::awaitable<Response> read_reply(const ApiContext* ctx, const Request& req, ReadFn fn);

// The `idempotency-key` header of a POST: the client's key and a hash identifying the request (method, target
// and body) it came with. nullopt without the header; a 422 past 256 characters.
struct IdempotencyKey {
  std::string key;
  std::string request_hash;
};
Result<std::optional<IdempotencyKey>> idempotency_key(const Request& req);
// The answer replayed for a key already used with the same request.
Response replayed_response(const Request& req, Reply reply);

// Runs fn in the group-committing writer and answers once it is durable. With an `idempotency-key` header,
// the key is looked up in the same transaction: a key already used with the same request replays the stored
// reply (header `idempotent-replayed: true`); used with a different request it is a 422; otherwise fn's
// successful reply is stored under the key atomically with fn's changes.
using WriteFn = std::function<Result<Reply>(store::Tx&)>;
boost::asio::awaitable<Response> write_reply(const ApiContext* ctx, const Request& req, WriteFn fn);

}  // namespace hookwire::api::v1
