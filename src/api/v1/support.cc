#include "api/v1/support.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <stdexcept>

#include "api/v1/json_body.h"
#include "core/encoding.h"
#include "core/ids.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

Response make_response(const Request& req, Reply reply) {
  Response res{reply.status, req.version()};
  res.keep_alive(req.keep_alive());
  if (!reply.body.empty()) {
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(reply.body);
  }
  res.prepare_payload();
  return res;
}

namespace {

constexpr std::string_view kBearer = "Bearer ";

// The 401 owed to a request that does not carry one of `tokens`, or nullopt.
std::optional<Response> unauthorized(const Request& req, const std::vector<const std::string*>& tokens) {
  std::string_view auth = req[http::field::authorization];
  if (auth.size() > kBearer.size() && auth.substr(0, kBearer.size()) == kBearer) {
    const auto presented = auth.substr(kBearer.size());
    bool ok = false;
    for (const auto* token : tokens) ok |= !token->empty() && constant_time_equal(presented, *token);
    if (ok) return std::nullopt;
  }
  Error e{Errc::kUnauthorized, auth.empty() ? "missing Authorization: Bearer token" : "invalid token", {}};
  return error_response(e, req.version(), req.keep_alive());
}

}  // namespace

Admission bearer_admission(std::vector<const std::string*> tokens) {
  Admission a;
  a.check = [tokens = std::move(tokens)](const Request& head) { return unauthorized(head, tokens); };
  a.authenticates = true;
  return a;
}

GuardedHandler guarded(Admission admission, Handler handler) {
  GuardedHandler g;
  g.handler = [check = admission.check, handler = std::move(handler)](
                  const Request& req, const PathParams& params) -> asio::awaitable<Response> {
    if (auto refused = check ? check(req) : std::nullopt) {
      return [](Response r) -> asio::awaitable<Response> { co_return r; }(std::move(*refused));
    }
    return handler(req, params);
  };
  g.admission = std::move(admission);
  return g;
}

namespace {

constexpr size_t kMaxSessionCookies = 4;  // of each name: bounds the hashing a request can cause

}  // namespace

// RFC 6265 §4.2.1: "a=b; c=d", in one or several Cookie headers.
std::vector<std::string> cookie_values(const Request& req, std::string_view name) {
  std::vector<std::string> out;
  const auto [first, last] = req.equal_range(http::field::cookie);
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty() && out.size() < kMaxSessionCookies) {
      const auto semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      out.emplace_back(pair.substr(eq + 1));
    }
  }
  return out;
}

namespace {

Caller nobody(Errc errc, std::string code, std::string detail) {
  Caller c;
  c.refusal_errc = errc;
  c.refusal_code = std::move(code);
  c.refusal = std::move(detail);
  return c;
}

Caller caller_of_authorization(const ApiContext* ctx, std::string_view auth) {
  Caller c;
  if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer) {
    c.refusal = auth.empty() ? "missing Authorization: Bearer token" : "invalid token";
    return c;
  }
  const auto presented = auth.substr(kBearer.size());
  if (!ctx->admin_token.empty() && constant_time_equal(presented, ctx->admin_token)) {
    c.kind = Caller::kAdmin;
    return c;
  }
  auto token = ctx->tokens ? ctx->tokens->find(presented) : std::nullopt;
  // A session's text is only its cookie; a link's only the login route's input.
  if (!token || (token->kind != store::ApiToken::kPoller && token->kind != store::ApiToken::kAppPortal)) {
    c.refusal = "invalid token";
    return c;
  }
  if (token->expires_at && *token->expires_at <= ctx->clock->now()) {
    c.refusal = "token expired or revoked";
    return c;
  }
  c.kind = Caller::kScoped;
  c.token = std::move(token);
  return c;
}

Caller caller_of_sessions(const ApiContext* ctx, const Credentials& p) {
  const TimePoint now = ctx->clock->now();
  std::vector<store::ApiToken> live;
  auto look_up = [&](const std::vector<std::string>& texts, int kind) {
    for (const auto& text : texts) {
      if (!ctx->tokens || !TokenRegistry::has_shape(text, kind)) continue;
      auto t = ctx->tokens->find(text);
      if (t && t->kind == kind && (!t->expires_at || *t->expires_at > now)) live.push_back(std::move(*t));
    }
  };
  look_up(p.portal_sessions, store::ApiToken::kPortalSession);
  look_up(p.console_sessions, store::ApiToken::kConsoleSession);
  if (live.empty())
    return nobody(Errc::kUnauthorized, "session_invalid",
                  "this session has expired or was ended; open the portal or console again");
  for (auto& t : live) {
    if (p.csrf.empty() || !constant_time_equal(p.csrf, ctx->tokens->csrf_of(t))) continue;
    Caller c;
    c.kind = t.kind == store::ApiToken::kConsoleSession ? Caller::kAdmin : Caller::kScoped;
    c.token = std::move(t);
    return c;
  }
  return nobody(Errc::kForbidden, "csrf_failed",
                p.csrf.empty() ? "a session cookie needs the X-Hookwire-Csrf header"
                               : "the X-Hookwire-Csrf header does not match the session");
}

}  // namespace

Credentials credentials_of(const Request& req) {
  Credentials c;
  c.authorization = std::string(req[http::field::authorization]);
  if (c.authorization.empty()) {
    c.portal_sessions = cookie_values(req, kPortalCookie);
    c.console_sessions = cookie_values(req, kConsoleCookie);
    c.csrf = std::string(req[kCsrfHeader]);
  }
  return c;
}

Caller caller_of(const ApiContext* ctx, const Credentials& c) {
  if (!c.authorization.empty() || (c.portal_sessions.empty() && c.console_sessions.empty()))
    return caller_of_authorization(ctx, c.authorization);
  return caller_of_sessions(ctx, c);
}

Caller caller_of(const ApiContext* ctx, const Request& req) { return caller_of(ctx, credentials_of(req)); }

namespace {

// The hashes of the credentials `c` presents, of a known shape, that ctx->tokens does not have.
std::vector<std::string> unknown_credentials(const ApiContext* ctx, const Credentials& c) {
  std::vector<std::string> out;
  if (!ctx->tokens) return out;
  auto note = [&](std::string_view text, std::initializer_list<int> kinds) {
    const bool shaped = std::any_of(kinds.begin(), kinds.end(),
                                    [&](int kind) { return TokenRegistry::has_shape(text, kind); });
    if (shaped && !ctx->tokens->find(text)) out.push_back(token_hash(text));
  };
  if (!c.authorization.empty()) {
    if (c.authorization.starts_with(kBearer))
      note(std::string_view(c.authorization).substr(kBearer.size()),
           {store::ApiToken::kPoller, store::ApiToken::kAppPortal});
    return out;
  }
  for (const auto& text : c.portal_sessions) note(text, {store::ApiToken::kPortalSession});
  for (const auto& text : c.console_sessions) note(text, {store::ApiToken::kConsoleSession});
  return out;
}

// The note a learning admission leaves on a request whose credentials it had looked up.
const std::shared_ptr<const void>& looked_up() {
  static const std::shared_ptr<const void> kLookedUp = std::make_shared<int>(0);
  return kLookedUp;
}

}  // namespace

asio::awaitable<void> learn_credentials(const ApiContext* ctx, const Request& req) {
  auto hashes = unknown_credentials(ctx, credentials_of(req));
  if (hashes.empty()) co_return;
  auto fn = [hashes = std::move(hashes)](store::Tx& tx) -> Result<std::vector<store::ApiToken>> {
    std::vector<store::ApiToken> found;
    for (const auto& hash : hashes) {
      auto t = tx.get_token_by_hash(hash);
      if (t) {
        found.push_back(std::move(*t));
      } else if (t.error().code != Errc::kNotFound) {
        return t.take_error();
      }
    }
    return found;
  };
  auto found = co_await store::read<std::vector<store::ApiToken>>(*ctx->store, std::move(fn));
  if (!found) co_return;  // refused as unknown; the store logs its failures
  for (const auto& t : *found) ctx->tokens->put(t);
}

Admission learning_admission(const ApiContext* ctx, CredentialCheck check) {
  Admission a;
  a.check_route = [ctx, check = std::move(check)](const Request& head,
                                                  Admission::Route& route) -> std::optional<Response> {
    auto refused = check(head, route.params);
    if (!refused || refused->result() != http::status::unauthorized || route.params.note() == looked_up() ||
        unknown_credentials(ctx, credentials_of(head)).empty())
      return refused;
    route.params.set_note(looked_up());
    route.wait = true;
    return std::nullopt;
  };
  a.wait = [ctx](const Request& head, const PathParams&) { return learn_credentials(ctx, head); };
  a.authenticates = true;
  return a;
}

bool Caller::by_session() const {
  return token &&
         (token->kind == store::ApiToken::kPortalSession || token->kind == store::ApiToken::kConsoleSession);
}

Response refusal_response(const Request& req, const Caller& caller) {
  auto res = error_response(http_status(caller.refusal_errc), caller.refusal_code, caller.refusal,
                            req.version(), req.keep_alive());
  if (caller.refusal_errc == Errc::kUnauthorized) res.set(http::field::www_authenticate, "Bearer");
  return res;
}

Result<store::Endpoint> find_endpoint(store::Tx& tx, const Caller& caller, const std::string& app_id,
                                      const std::string& ep_id) {
  auto app = tx.get_application(app_id);
  if (!app) return app.take_error();
  if (auto st = caller.may_access(app->id); !st) return st.take_error();
  return tx.get_endpoint(app->id, ep_id);
}

Status Caller::may_access(std::string_view app_id, std::optional<std::string_view> endpoint_id) const {
  if (kind == kAdmin) return {};
  if (kind == kNobody) return Error{refusal_errc, refusal, {}};
  if (token->app_id != app_id) return Error{Errc::kForbidden, "this token is for another application", {}};
  if (token->kind == store::ApiToken::kPoller && endpoint_id && token->endpoint_id != *endpoint_id)
    return Error{Errc::kForbidden, "this token is for another sink", {}};
  return {};
}

Status authorize(const ApiContext* ctx, const Request& req, std::string_view app_id,
                 std::optional<std::string_view> endpoint_id) {
  return caller_of(ctx, req).may_access(app_id, endpoint_id);
}

namespace {

// What a route admits besides the admin token.
struct Rule {
  enum Scope { kAdminOnly, kApp, kSink, kAnyApp };
  Scope scope = kAdminOnly;
  bool poller = false;                   // kApp: a poller token of the application may use it too
  std::vector<std::string_view> any_of;  // kApp: an app-portal token needs one of these (empty: any)
};

std::optional<Response> refuse(const Request& req, Errc code, std::string detail) {
  return error_response(Error{code, std::move(detail), {}}, req.version(), req.keep_alive());
}

// The head check of `rule`. `params` (null for admin-only routes) are the route's captures: a path id of
// another application or sink is refused here; a uid is left to the handler (Caller::may_access).
std::optional<Response> admit(const ApiContext* ctx, const Rule& rule, const Request& head,
                              const PathParams* params) {
  const Caller caller = caller_of(ctx, head);
  if (caller.kind == Caller::kAdmin) return std::nullopt;
  if (caller.kind == Caller::kNobody) return refusal_response(head, caller);
  const auto& token = *caller.token;
  const bool poller = token.kind == store::ApiToken::kPoller;
  if (rule.scope == Rule::kAnyApp) {
    if (poller)
      return refuse(head, Errc::kForbidden, "this route needs the admin token or an app-portal token");
    return std::nullopt;
  }
  if (rule.scope == Rule::kAdminOnly || !params || (poller && rule.scope == Rule::kApp && !rule.poller))
    return refuse(head, Errc::kForbidden, "this route needs the admin token");
  if (const auto& app = params->get("app_id"); is_id(app, id_prefix::kApplication) && app != token.app_id)
    return refuse(head, Errc::kForbidden, "this token is for another application");
  if (poller && rule.scope == Rule::kSink) {
    const auto& sink = params->get("sink_id").empty() ? params->get("endpoint_id") : params->get("sink_id");
    if (is_id(sink, id_prefix::kEndpoint) && token.endpoint_id != sink)
      return refuse(head, Errc::kForbidden, "this token is for another sink");
  }
  if (!poller && !rule.any_of.empty()) {
    const auto& caps = token.capabilities;
    const bool granted = std::any_of(rule.any_of.begin(), rule.any_of.end(), [&caps](std::string_view c) {
      return std::find(caps.begin(), caps.end(), c) != caps.end();
    });
    if (!granted) {
      std::string names;
      for (auto c : rule.any_of) names += (names.empty() ? "" : " or ") + std::string(c);
      return refuse(head, Errc::kForbidden, "this token lacks the capability " + names);
    }
  }
  return std::nullopt;
}

// `handler` behind `rule`, checked on the head (with the captures; a credential another node made that this
// one does not know yet is looked up in the store first) and again by the handler.
GuardedHandler scoped(const ApiContext* ctx, Rule rule, Handler handler) {
  GuardedHandler g;
  g.admission = learning_admission(ctx, [ctx, rule](const Request& head, const PathParams& params) {
    return admit(ctx, rule, head, &params);
  });
  g.handler = [ctx, rule = std::move(rule), handler = std::move(handler)](
                  const Request& req, const PathParams& params) -> asio::awaitable<Response> {
    if (auto refused = admit(ctx, rule, req, &params)) {
      return [](Response r) -> asio::awaitable<Response> { co_return r; }(std::move(*refused));
    }
    return handler(req, params);
  };
  return g;
}

}  // namespace

GuardedHandler authed(const ApiContext* ctx, Handler handler) {
  return scoped(ctx, Rule{}, std::move(handler));
}

GuardedHandler portal_reader(const ApiContext* ctx, Handler handler) {
  return scoped(ctx, Rule{Rule::kAnyApp, false, {}}, std::move(handler));
}

GuardedHandler sink_reader(const ApiContext* ctx, Handler handler) {
  return scoped(ctx, Rule{Rule::kSink, true, {}}, std::move(handler));
}

GuardedHandler app_reader(const ApiContext* ctx, Handler handler, bool poller_may_read) {
  return scoped(ctx, Rule{Rule::kApp, poller_may_read, {}}, std::move(handler));
}

GuardedHandler app_capable(const ApiContext* ctx, std::vector<std::string_view> capabilities,
                           Handler handler) {
  return scoped(ctx, Rule{Rule::kApp, false, std::move(capabilities)}, std::move(handler));
}

Result<Query> Query::parse(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return Error::bad_request("malformed request target");
  Query q;
  for (auto param : url->params())
    q.items_.emplace_back(param.key, param.has_value ? param.value : std::string{});
  return q;
}

std::optional<std::string> Query::get(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : items_)
    if (k == name) out = v;
  return out;
}

std::vector<std::string> Query::list(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) {
    if (k != name) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      if (!item.empty()) out.emplace_back(item);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return out;
}

Result<store::PageQuery> page_query(const Query& q, store::Order default_order) {
  store::PageQuery page;
  page.order = default_order;
  if (auto limit = q.get("limit")) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc{} || ptr != limit->data() + limit->size() || n < 1 || n > 250)
      return Error::validation("query.limit", "must be an integer between 1 and 250");
    page.limit = n;
  }
  if (auto it = q.get("iterator"); it && !it->empty()) {
    if (it->size() > 300) return Error::validation("query.iterator", "is not a valid iterator");
    page.iterator = *it;
  }
  if (auto order = q.get("order")) {
    if (*order == "ascending") {
      page.order = store::Order::kAscending;
    } else if (*order == "descending") {
      page.order = store::Order::kDescending;
    } else {
      return Error::validation("query.order", "must be \"ascending\" or \"descending\"");
    }
  }
  return page;
}

Result<std::optional<TimePoint>> time_param(const Query& q, std::string_view name) {
  auto text = q.get(name);
  if (!text) return std::optional<TimePoint>();
  auto t = parse_iso8601(*text);
  if (!t)
    return Error::validation("query." + std::string(name),
                             "must be an ISO 8601 date-time such as 2026-01-02T03:04:05Z, between the years "
                             "1678 and 2261");
  return std::optional<TimePoint>(*t);
}

Result<std::optional<int>> status_param(const Query& q, std::string_view name) {
  auto text = q.get(name);
  if (!text) return std::optional<int>();
  if (text->size() != 1 || (*text)[0] < '0' || (*text)[0] > '3')
    return Error::validation("query." + std::string(name),
                             "must be a message status: 0 (success), 1 (pending), 2 (fail) or 3 (sending)");
  return std::optional<int>((*text)[0] - '0');
}

Result<std::vector<std::string>> event_types_param(const Query& q) {
  auto out = q.list("event_types");
  for (const auto& et : out)
    if (et.size() > 256 || !is_token(et))
      return Error::validation("query.event_types",
                               "items must match ^[a-zA-Z0-9\\-_.]+$ (at most 256 characters)");
  return out;
}

Result<std::optional<std::string>> channel_param(const Query& q) {
  auto channel = q.get("channel");
  if (channel && (channel->size() > 128 || !is_token(*channel)))
    return Error::validation("query.channel", "must match ^[a-zA-Z0-9\\-_.]+$ (at most 128 characters)");
  return channel;
}

Result<bool> bool_param(const Query& q, std::string_view name, bool fallback) {
  auto v = q.get(name);
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return Error::validation("query." + std::string(name), "must be true or false");
}

asio::awaitable<Response> read_reply(const ApiContext* ctx, const Request& req, ReadFn fn) {
  auto result = co_await store::read<Reply>(*ctx->store, std::move(fn));
  if (!result) co_return error_response(result.error(), req.version(), req.keep_alive());
  co_return make_response(req, std::move(*result));
}

namespace {
// SHA-256 of "METHOD\nTARGET\nBODY", hex. The digest is fetched once (an implicit fetch per call is costly in
// OpenSSL 3) and the parts are hashed in place.
std::string request_hash(const Request& req) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const auto method = req.method_string();
  const auto target = req.target();
  const bool ok = ctx && EVP_DigestInit_ex2(ctx, sha256, nullptr) &&
                  EVP_DigestUpdate(ctx, method.data(), method.size()) && EVP_DigestUpdate(ctx, "\n", 1) &&
                  EVP_DigestUpdate(ctx, target.data(), target.size()) && EVP_DigestUpdate(ctx, "\n", 1) &&
                  EVP_DigestUpdate(ctx, req.body().data(), req.body().size()) &&
                  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("SHA-256 failed");
  return hex_encode({reinterpret_cast<const char*>(digest), len});
}

struct Written {
  Reply reply;
  bool replayed = false;
};
}  // namespace

Result<std::optional<IdempotencyKey>> idempotency_key(const Request& req) {
  std::string_view key = req["idempotency-key"];
  if (key.empty()) return std::optional<IdempotencyKey>{};
  if (key.size() > 256) return Error::validation("header.idempotency-key", "must be at most 256 characters");
  return std::optional<IdempotencyKey>{IdempotencyKey{std::string(key), request_hash(req)}};
}

Response replayed_response(const Request& req, Reply reply) {
  auto res = make_response(req, std::move(reply));
  res.set("idempotent-replayed", "true");
  return res;
}

asio::awaitable<Response> write_reply(const ApiContext* ctx, const Request& req, WriteFn fn) {
  auto key = idempotency_key(req);
  if (!key) co_return error_response(key.error(), req.version(), req.keep_alive());
  std::optional<store::IdempotencyRecord> record;
  if (*key) {
    // Scoped by path so one key used on two different resources never collides.
    std::string_view path = req.target().substr(0, req.target().find('?'));
    record.emplace();
    record->key = std::string(path) + " " + (*key)->key;
    record->request_hash = std::move((*key)->request_hash);
    record->created_at = ctx->clock->now();
  }
  const auto ttl = ctx->idempotency_ttl;
  // Named, not a temporary inside the co_await: GCC 12 mishandles temporaries in co_await expressions.
  auto in_tx = [fn = std::move(fn), record, ttl](store::Tx& tx) mutable -> Result<Written> {
    if (record) {
      auto prior = tx.get_idempotency(record->key);
      if (prior && prior->created_at + ttl > record->created_at) {
        if (prior->request_hash != record->request_hash)
          return Error::validation("header.idempotency-key",
                                   "this idempotency key was already used with a different request");
        return Written{Reply{static_cast<http::status>(prior->status), prior->body}, true};
      }
      if (!prior && prior.error().code != Errc::kNotFound) return prior.take_error();
    }
    auto reply = fn(tx);
    if (!reply) return reply.take_error();
    if (record) {
      record->status = static_cast<int>(reply->status);
      record->body = reply->body;
      if (auto st = tx.put_idempotency(*record); !st) return st.take_error();
    }
    return Written{std::move(*reply), false};
  };
  auto result = co_await store::write<Written>(*ctx->store, std::move(in_tx));
  if (!result) co_return error_response(result.error(), req.version(), req.keep_alive());
  if (result->replayed) co_return replayed_response(req, std::move(result->reply));
  co_return make_response(req, std::move(result->reply));
}

}  // namespace hookwire::api::v1
