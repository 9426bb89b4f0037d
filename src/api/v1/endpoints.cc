// /api/v1/app/{app_id}/endpoint: endpoints, their signing secrets and custom headers.
#include <fmt/format.h>
#include <hookwire/signing.h>

#include <boost/url/parse.hpp>

#include "api/v1/body_readers.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "core/encoding.h"
#include "core/ids.h"
#include "core/names.h"
#include "delivery/endpoint_secret.h"
#include "delivery/fan_out.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::Endpoint;

namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kAsymmetricPrefix = "whsk_";

std::string generate_secret() { return std::string(kSecretPrefix) + base64_encode(random_bytes(24)); }

bool valid_url(std::string_view s) {
  auto url = boost::urls::parse_absolute_uri(s);
  if (!url || !url->has_authority() || url->host().empty()) return false;
  return url->scheme() == "http" || url->scheme() == "https";
}

// Headers hookwire sets itself (or HTTP framing owns) cannot be overridden per endpoint.
bool reserved_header(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* kReserved[] = {"host",       "content-length", "content-type", "transfer-encoding",
                                    "connection", "keep-alive",     "upgrade",      "te",
                                    "trailer",    "user-agent",     "expect"};
  for (const char* r : kReserved)
    if (name == r) return true;
  return name.starts_with("webhook-") || name.starts_with("svix-");
}

std::optional<std::string> header_problem(const std::string& name, const std::string& value) {
  if (name.size() > 256 || !is_field_name(name)) return "\"" + name + "\" is not a valid header name";
  if (reserved_header(name)) return "\"" + name + "\" is set by hookwire and cannot be overridden";
  if (value.size() > 4096) return "value of \"" + name + "\" is longer than 4096 bytes";
  // RFC 9110: no CR, LF, NUL or other control character (a tab is fine).
  if (!is_field_value(value)) return "value of \"" + name + "\" contains a control character";
  return std::nullopt;
}

struct EndpointFields {
  std::optional<std::string> url, description, uid, metadata, secret;
  std::optional<int64_t> rate_limit;
  std::optional<bool> disabled;
  std::optional<bool> pull_only, thin;           // hookwire extensions (Endpoint::pull_only, Endpoint::thin)
  std::optional<std::string> signature_headers;  // hookwire extension (Endpoint::signature_headers)
  std::optional<std::vector<std::string>> event_types, channels;
  std::optional<std::vector<std::pair<std::string, std::string>>> headers;
  bool clear_uid = false, clear_rate = false, clear_event_types = false, clear_channels = false;
  bool clear_signature_headers = false;
};

enum class Shape { kIn, kUpdate, kPatch };

Result<EndpointFields> read_endpoint(const json::object& obj, Shape shape, const delivery::UrlGuard& guard) {
  FieldReader r(obj);
  EndpointFields f;
  f.url = shape == Shape::kPatch ? r.opt_string("url", FieldReader::Rule::kAny, 65536)
                                 : std::optional(r.req_string("url", FieldReader::Rule::kAny, 65536));
  if (f.url && !r.error() && !valid_url(*f.url)) r.fail("url", "must be an absolute http:// or https:// URL");
  // An address the SSRF guard refuses is refused now, not at every delivery (host names: at delivery).
  if (f.url && !r.error())
    if (auto st = guard.check_configured_host(*f.url); !st) r.fail("url", st.error().detail);
  f.description = r.opt_string("description", FieldReader::Rule::kAny, 8192);
  f.uid = r.opt_string("uid", FieldReader::Rule::kToken, 256);
  if (f.uid && f.uid->starts_with("ep_")) r.fail("uid", "must not start with the id prefix \"ep_\"");
  // Svix calls it throttleRate (older versions: rateLimit); both are accepted.
  const char* rate_name = r.has("throttleRate") ? "throttleRate" : "rateLimit";
  f.rate_limit = r.opt_int(rate_name, shape == Shape::kPatch ? 0 : 1, 1'000'000);
  f.clear_rate = shape == Shape::kPatch && r.is_null(rate_name);
  f.disabled = r.opt_bool("disabled");
  // Hookwire extensions (the svix SDKs ignore fields they do not know): a pull-only endpoint is a sink read
  // through the feed and never pushed to (its url is kept, and checked, but never called); a thin one is
  // pushed only where to fetch each message.
  f.pull_only = r.opt_bool("pullOnly");
  f.thin = r.opt_bool("thin");
  // The header family this endpoint is signed with (null or absent: the server's --signature-headers).
  f.signature_headers = r.opt_string("signatureHeaders", FieldReader::Rule::kAny, 16);
  if (f.signature_headers && *f.signature_headers != "webhook" && *f.signature_headers != "svix")
    r.fail("signatureHeaders",
           "must be \"webhook\" (webhook-* headers) or \"svix\" (svix-* headers), or null");
  f.clear_signature_headers = shape == Shape::kPatch && r.is_null("signatureHeaders");
  const char* types_name = r.has("eventTypes") ? "eventTypes" : "filterTypes";
  f.event_types = r.opt_string_array(types_name, FieldReader::Rule::kToken, 1000);
  if (f.event_types && f.event_types->empty())
    r.fail(types_name, "must not be empty (omit it to receive every type)");
  f.channels = r.opt_string_array("channels", FieldReader::Rule::kToken, 10);
  if (f.channels && f.channels->empty())
    r.fail("channels", "must not be empty (omit it to receive every channel)");
  f.metadata = r.opt_object_text("metadata", true);
  f.clear_uid = shape == Shape::kPatch && r.is_null("uid");
  f.clear_event_types = shape == Shape::kPatch && r.is_null(types_name);
  f.clear_channels = shape == Shape::kPatch && r.is_null("channels");
  if (shape == Shape::kIn) {
    if (auto s = r.opt_string("secret", FieldReader::Rule::kAny, 128)) {
      auto key = delivery::normalize_endpoint_secret(*s, "secret");
      if (key) {
        f.secret = std::move(*key);
      } else {
        r.fail("secret", key.error().detail);
      }
    }
    f.headers = r.opt_string_map("headers");
    if (f.headers)
      for (const auto& [k, v] : *f.headers)
        if (auto problem = header_problem(k, v)) r.fail("headers", *problem);
  }
  if (r.error()) return *r.error();
  return f;
}

void apply(Endpoint& ep, const EndpointFields& f, Shape shape) {
  if (shape != Shape::kPatch) {
    ep.url = *f.url;
    ep.description = f.description.value_or("");
    ep.uid = f.uid;
    ep.rate_limit = f.rate_limit;
    ep.disabled = f.disabled.value_or(false);
    ep.pull_only = f.pull_only.value_or(false);
    ep.thin = f.thin.value_or(false);
    ep.signature_headers = f.signature_headers;
    ep.event_types = f.event_types;
    ep.channels = f.channels;
    ep.metadata = f.metadata.value_or("{}");
    return;
  }
  if (f.url) ep.url = *f.url;
  if (f.description) ep.description = *f.description;
  if (f.uid) ep.uid = f.uid;
  if (f.clear_uid) ep.uid.reset();
  if (f.rate_limit) ep.rate_limit = *f.rate_limit == 0 ? std::nullopt : f.rate_limit;
  if (f.clear_rate) ep.rate_limit.reset();
  if (f.disabled) ep.disabled = *f.disabled;
  if (f.pull_only) ep.pull_only = *f.pull_only;
  if (f.thin) ep.thin = *f.thin;
  if (f.signature_headers) ep.signature_headers = f.signature_headers;
  if (f.clear_signature_headers) ep.signature_headers.reset();
  if (f.event_types) ep.event_types = f.event_types;
  if (f.clear_event_types) ep.event_types.reset();
  if (f.channels) ep.channels = f.channels;
  if (f.clear_channels) ep.channels.reset();
  if (f.metadata) ep.metadata = *f.metadata;
}

Reply endpoint_reply(const Endpoint& ep, http::status status = http::status::ok) {
  return {status, json::serialize(to_json(ep))};
}

Endpoint new_endpoint(const std::string& app_id, const EndpointFields& f, TimePoint now) {
  Endpoint ep;
  ep.id = new_id(id_prefix::kEndpoint, now);
  ep.app_id = app_id;
  apply(ep, f, Shape::kIn);
  ep.secrets.push_back({f.secret.value_or(generate_secret()), std::nullopt});
  if (f.headers) ep.headers.insert(f.headers->begin(), f.headers->end());
  ep.created_at = ep.updated_at = now;
  return ep;
}

asio::awaitable<Response> create(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_endpoint(*obj, Shape::kIn, url_guard(ctx));
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), app_id, now,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    Endpoint ep = new_endpoint(app->id, f, now);
    if (auto st = tx.insert_endpoint(ep); !st) return st.take_error();
    return endpoint_reply(ep, http::status::created);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kAscending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page, app_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto eps = tx.list_endpoints(app->id, q);
    if (!eps) return eps.take_error();
    return Reply{http::status::ok, list_json(*eps)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string app_id,
                              std::string ep_id) {
  ReadFn fn = [app_id, ep_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    return endpoint_reply(*ep);
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// PUT replaces (creating the endpoint, 201, when `ep_id` is an unused uid); PATCH changes what it names.
asio::awaitable<Response> update(const ApiContext* ctx, const Request& req, std::string app_id,
                                 std::string ep_id, Shape shape) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_endpoint(*obj, shape, url_guard(ctx));
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), app_id, ep_id, shape, now,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto ep = tx.get_endpoint(app->id, ep_id);
    if (!ep) {
      if (ep.error().code != Errc::kNotFound || shape == Shape::kPatch ||
          is_id(ep_id, id_prefix::kEndpoint) || !is_token(ep_id))
        return ep.take_error();
      auto created_fields = f;
      created_fields.uid = ep_id;
      Endpoint created = new_endpoint(app->id, created_fields, now);
      if (auto st = tx.insert_endpoint(created); !st) return st.take_error();
      return endpoint_reply(created, http::status::created);
    }
    const bool was_disabled = ep->disabled;
    apply(*ep, f, shape);
    ep->updated_at = now;
    if (auto st = tx.update_endpoint(*ep); !st) return st.take_error();
    // Why it is disabled, for the health route: disabled here by the API, or enabled again (no reason).
    if (ep->disabled != was_disabled) {
      auto st = ep->disabled ? tx.set_endpoint_disabled(ep->id, "disabled through the API", now)
                             : tx.set_endpoint_disabled(ep->id, std::nullopt, std::nullopt);
      if (!st) return st.take_error();
    }
    return endpoint_reply(*ep);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> remove(const ApiContext* ctx, const Request& req, std::string app_id,
                                 std::string ep_id) {
  WriteFn fn = [app_id, ep_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    if (auto st = tx.delete_endpoint(ep->app_id, ep->id); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get_secret(const ApiContext* ctx, const Request& req, std::string app_id,
                                     std::string ep_id) {
  ReadFn fn = [app_id, ep_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    if (ep->secrets.empty()) return Error::internal("endpoint has no secret");
    const std::string& key = ep->secrets.front().key;
    json::object out{{"key", key}};
    // hookwire extension: a whsk_ endpoint signs v1a; receivers verify with this whpk_ public key.
    if (key.starts_with(kAsymmetricPrefix)) {
      auto public_key = signing::public_key_of(key);
      if (!public_key) return Error::internal("endpoint has an unusable whsk_ key");
      out["publicKey"] = public_key.value();
    }
    return Reply{http::status::ok, json::serialize(out)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// Rotation: the new key becomes current at once; the old one stays valid for `gracePeriodSeconds` (default
// 24 h) so receivers can switch over. Keys whose grace period is over are dropped.
asio::awaitable<Response> rotate_secret(const ApiContext* ctx, const Request& req, std::string app_id,
                                        std::string ep_id) {
  json::object empty;
  Result<json::object> obj = req.body().empty() ? Result<json::object>(empty) : parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  auto key_text = r.opt_string("key", FieldReader::Rule::kAny, 128);
  auto grace = r.opt_int("gracePeriodSeconds", 0, 7 * 24 * 3600).value_or(24 * 3600);
  std::optional<std::string> key;
  if (key_text) {
    auto normalized = delivery::normalize_endpoint_secret(*key_text, "key");
    if (normalized) {
      key = std::move(*normalized);
    } else {
      r.fail("key", normalized.error().detail);
    }
  }
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  std::string new_key = key.value_or(generate_secret());
  WriteFn fn = [app_id, ep_id, now, grace, new_key,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    std::vector<store::EndpointSecret> secrets{{new_key, std::nullopt}};
    for (auto& s : ep->secrets) {
      if (!s.expires_at) s.expires_at = now + std::chrono::seconds{grace};
      if (*s.expires_at > now && s.key != new_key) secrets.push_back(s);
    }
    ep->secrets = std::move(secrets);
    ep->updated_at = now;
    if (auto st = tx.update_endpoint(*ep); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get_headers(const ApiContext* ctx, const Request& req, std::string app_id,
                                      std::string ep_id) {
  ReadFn fn = [app_id, ep_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    json::object headers;
    json::array sensitive;
    for (const auto& [k, v] : ep->headers) {
      if (is_sensitive_header(k)) {  // its value is a secret: listed by name only
        sensitive.emplace_back(k);
      } else {
        headers[k] = v;
      }
    }
    return Reply{http::status::ok, json::serialize(json::object{{"headers", std::move(headers)},
                                                                {"sensitive", std::move(sensitive)}})};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// PUT replaces every custom header; PATCH sets the named ones and removes those given as null.
asio::awaitable<Response> set_headers(const ApiContext* ctx, const Request& req, std::string app_id,
                                      std::string ep_id, bool replace) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto it = obj->find("headers");
  if (it == obj->end() || !it->value().is_object())
    co_return error_response(
        Error::validation("body.headers", "field required: an object of header names to values"),
        req.version(), req.keep_alive());
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;
  for (const auto& kv : it->value().as_object()) {
    std::string name(kv.key());
    if (kv.value().is_null() && !replace) {
      changes.emplace_back(name, std::nullopt);
      continue;
    }
    if (!kv.value().is_string())
      co_return error_response(
          Error::validation("body.headers", "value of \"" + name + "\" must be a string"), req.version(),
          req.keep_alive());
    std::string value(kv.value().as_string());
    if (auto problem = header_problem(name, value))
      co_return error_response(Error::validation("body.headers", *problem), req.version(), req.keep_alive());
    changes.emplace_back(name, value);
  }
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [app_id, ep_id, changes, replace, now,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    if (replace) ep->headers.clear();
    for (const auto& [name, value] : changes) {
      if (value) {
        ep->headers[name] = *value;
      } else {
        ep->headers.erase(name);
      }
    }
    ep->updated_at = now;
    if (auto st = tx.update_endpoint(*ep); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

// The payload send-example sends for `event_type`: Svix's {"success":true} for "svix.ping", which needs no
// event type; otherwise item `index` of the event type's schemas["1"].examples (JSON Schema's keyword).
Result<std::string> example_payload(store::Tx& tx, const std::string& event_type, int64_t index) {
  if (event_type == "svix.ping") return std::string(R"({"success":true})");
  auto et = tx.get_event_type(event_type);
  if (!et) {
    if (et.error().code == Errc::kNotFound)
      return Error::not_found("event type \"" + event_type + "\" not found");
    return et.take_error();
  }
  boost::system::error_code ec;
  const json::value schemas = et->schemas ? json::parse(*et->schemas, ec) : json::value();
  const json::value* examples = nullptr;
  if (!ec && schemas.is_object())
    if (const auto* v1 = schemas.as_object().if_contains("1"); v1 && v1->is_object())
      examples = v1->as_object().if_contains("examples");
  if (!examples || !examples->is_array() || examples->as_array().size() <= static_cast<size_t>(index))
    return Error::validation(
        "body.exampleIndex",
        fmt::format("event type \"{}\" has no example {} in schemas[\"1\"].examples", event_type, index));
  const json::value& example = examples->as_array()[static_cast<size_t>(index)];
  if (!example.is_object())
    return Error::validation("body.exampleIndex",
                             "the example is not a JSON object, so it cannot be a payload");
  return json::serialize(example);
}

// POST /app/{app}/endpoint/{ep}/send-example {"eventType", "exampleIndex"?}: a message of that type with the
// event type's example as payload (example_payload), delivered to this endpoint only, whatever its filters
// say: a way to try an endpoint out. Answers the message (MessageOut, 202, as Svix does).
asio::awaitable<Response> send_example(const ApiContext* ctx, const Request& req, std::string app_id,
                                       std::string ep_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  auto event_type = r.req_string("eventType", FieldReader::Rule::kToken, 256);
  const int64_t index = r.opt_int("exampleIndex", 0, 1000).value_or(0);
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [app_id, ep_id, event_type, index, now,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    if (ep->disabled) return Error::conflict("the endpoint is disabled: enable it before sending to it");
    if (ep->pull_only)
      return Error::conflict("the endpoint is pull-only: it is read through the feed, never sent to");
    auto payload = example_payload(tx, event_type, index);
    if (!payload) return payload.take_error();
    store::Message msg;
    msg.app_id = ep->app_id;
    msg.event_type = event_type;
    msg.payload = std::move(*payload);
    msg.created_at = now;
    if (auto st = tx.insert_message(msg); !st) return st.take_error();
    if (auto st = tx.insert_delivery(delivery::due_delivery(ep->app_id, msg.id, ep->id, now)); !st)
      return st.take_error();
    return Reply{http::status::accepted, message_json(msg)};  // 202, as Svix answers it
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  if (response.result() == http::status::accepted && ctx->on_deliveries_created) ctx->on_deliveries_created();
  co_return response;
}

}  // namespace

Result<store::Endpoint> parse_endpoint_body(std::string_view body, EndpointBody shape) {
  auto obj = parse_object(body);
  if (!obj) return obj.take_error();
  const Shape s = shape == EndpointBody::kIn       ? Shape::kIn
                  : shape == EndpointBody::kUpdate ? Shape::kUpdate
                                                   : Shape::kPatch;
  const ApiContext defaults;  // the default SSRF policy, as a server without --delivery-allow-cidr has
  auto fields = read_endpoint(*obj, s, url_guard(&defaults));
  if (!fields) return fields.take_error();
  if (s == Shape::kIn)
    return new_endpoint("app_fuzz", *fields, TimePoint{std::chrono::seconds{1'700'000'000}});
  Endpoint ep;
  apply(ep, *fields, s);
  return ep;
}

void add_endpoint_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  const std::string base = "/api/v1/app/{app_id}/endpoint";
  const std::string one = base + "/{endpoint_id}";
  // App-portal tokens: reading needs ViewBase (every token has it); the secret and the custom headers (which
  // may carry credentials) need their capabilities, as in Svix.
  const std::vector<std::string_view> kSeeSecret{
      capability::kViewEndpointSecret, capability::kManageEndpointSecret, capability::kManageEndpoint};
  const std::vector<std::string_view> kRotateSecret{capability::kManageEndpointSecret,
                                                    capability::kManageEndpoint};
  router.add(V::post, base,
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return create(ctx, req, p.get("app_id"));
             }));
  router.add(V::get, base, app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"));
             }));
  router.add(V::get, one, app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::put, one,
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return update(ctx, req, p.get("app_id"), p.get("endpoint_id"), Shape::kUpdate);
             }));
  router.add(V::patch, one,
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return update(ctx, req, p.get("app_id"), p.get("endpoint_id"), Shape::kPatch);
             }));
  router.add(V::delete_, one,
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return remove(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::get, one + "/secret",
             app_capable(ctx, kSeeSecret, [ctx](const Request& req, const PathParams& p) {
               return get_secret(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::post, one + "/secret/rotate",
             app_capable(ctx, kRotateSecret, [ctx](const Request& req, const PathParams& p) {
               return rotate_secret(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::get, one + "/headers",
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return get_headers(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::put, one + "/headers",
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return set_headers(ctx, req, p.get("app_id"), p.get("endpoint_id"), true);
             }));
  router.add(V::patch, one + "/headers",
             app_capable(ctx, {capability::kManageEndpoint}, [ctx](const Request& req, const PathParams& p) {
               return set_headers(ctx, req, p.get("app_id"), p.get("endpoint_id"), false);
             }));
  router.add(V::post, one + "/send-example",
             app_capable(ctx, {capability::kCreateAttempts}, [ctx](const Request& req, const PathParams& p) {
               return send_example(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
}

}  // namespace hookwire::api::v1
