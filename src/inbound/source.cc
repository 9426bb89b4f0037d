#include "inbound/source.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>

#include "core/names.h"
#include "delivery/endpoint_secret.h"

namespace hookwire::inbound {

namespace json = boost::json;

namespace {

constexpr std::pair<VerifierType, std::string_view> kVerifierNames[] = {
    {VerifierType::kStandardWebhooks, "standard-webhooks"},
    {VerifierType::kSvix, "svix"},
    {VerifierType::kStripe, "stripe"},
    {VerifierType::kGithub, "github"},
    {VerifierType::kShopify, "shopify"},
    {VerifierType::kGenericHmac, "generic-hmac"},
    {VerifierType::kStaticToken, "static-token"},
    {VerifierType::kNone, "none"},
};

constexpr std::pair<std::string_view, FieldKind> kFields[] = {
    {"uid", FieldKind::kString},
    {"description", FieldKind::kString},
    {"verifier", FieldKind::kString},
    {"secrets", FieldKind::kStringArray},
    {"toleranceSeconds", FieldKind::kInteger},
    {"allowSha1", FieldKind::kBoolean},
    {"tokenHeader", FieldKind::kString},
    {"hmac.signatureHeader", FieldKind::kString},
    {"hmac.timestampHeader", FieldKind::kString},
    {"hmac.idHeader", FieldKind::kString},
    {"hmac.prefix", FieldKind::kString},
    {"hmac.template", FieldKind::kString},
    {"hmac.encoding", FieldKind::kString},
    {"hmac.secretIsBase64", FieldKind::kBoolean},
    {"hmac.digest", FieldKind::kString},
    {"allowedCidrs", FieldKind::kStringArray},
    {"trustedProxies", FieldKind::kStringArray},
    {"bodyLimit", FieldKind::kInteger},
    {"dedupKey", FieldKind::kString},
    {"dedupTtlSeconds", FieldKind::kInteger},
    {"eventType", FieldKind::kString},
    {"destinations", FieldKind::kStringArray},
    {"pull", FieldKind::kBoolean},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_header_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool valid_url(std::string_view s) {
  auto url = boost::urls::parse_absolute_uri(s);
  if (!url || !url->has_authority() || url->host().empty()) return false;
  return url->scheme() == "http" || url->scheme() == "https";
}

// Reads the fields of one JSON object, remembering the first error (named under `prefix`).
class Reader {
 public:
  Reader(const json::object& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  const json::value* find(std::string_view name) {
    seen_.emplace_back(name);
    auto it = obj_.find(name);
    if (it == obj_.end() || it->value().is_null()) return nullptr;
    return &it->value();
  }
  std::optional<std::string> string(std::string_view name, size_t max_len) {
    const auto* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is_string()) return fail(name, "must be a string"), std::nullopt;
    if (v->as_string().size() > max_len)
      return fail(name, fmt::format("must be at most {} characters", max_len)), std::nullopt;
    return std::string(v->as_string());
  }
  std::optional<int64_t> integer(std::string_view name, int64_t min, int64_t max) {
    const auto* v = find(name);
    if (!v) return std::nullopt;
    std::optional<int64_t> n;
    if (v->is_int64()) n = v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
      n = static_cast<int64_t>(v->as_uint64());
    if (!n || *n < min || *n > max)
      return fail(name, fmt::format("must be an integer from {} to {}", min, max)), std::nullopt;
    return n;
  }
  std::optional<bool> boolean(std::string_view name) {
    const auto* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is_bool()) return fail(name, "must be true or false"), std::nullopt;
    return v->as_bool();
  }
  std::vector<std::string> strings(std::string_view name, size_t max_items, size_t max_len) {
    const auto* v = find(name);
    std::vector<std::string> out;
    if (!v) return out;
    if (!v->is_array()) return fail(name, "must be an array of strings"), out;
    if (v->as_array().size() > max_items)
      return fail(name, fmt::format("must have at most {} items", max_items)), out;
    for (const auto& item : v->as_array()) {
      if (!item.is_string() || item.as_string().empty() || item.as_string().size() > max_len)
        return fail(name, fmt::format("items must be non-empty strings of at most {} characters", max_len)),
               out;
      out.emplace_back(item.as_string());
    }
    return out;
  }
  void fail(std::string_view name, std::string detail) {
    if (!error_) error_ = Error::validation(prefix_ + "." + std::string(name), std::move(detail));
  }
  void reject_unknown() {
    for (const auto& kv : obj_) {
      if (std::find(seen_.begin(), seen_.end(), kv.key()) == seen_.end()) {
        fail(kv.key(), "unknown field");
        return;
      }
    }
  }
  const std::optional<Error>& error() const { return error_; }
  const std::string& prefix() const { return prefix_; }

 private:
  const json::object& obj_;
  std::string prefix_;
  std::vector<std::string_view> seen_;
  std::optional<Error> error_;
};

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object hmac_json(const signing::GenericHmacOptions& h) {
  return json::object{{"signatureHeader", h.signature_header},
                      {"timestampHeader", h.timestamp_header},
                      {"idHeader", h.id_header},
                      {"prefix", h.prefix},
                      {"template", h.content_template},
                      {"encoding", h.encoding == signing::Encoding::kHex ? "hex" : "base64"},
                      {"secretIsBase64", h.secret_is_base64},
                      {"digest", h.digest == signing::Digest::kSha256 ? "sha256" : "sha512"}};
}

// Everything but uid, destinations and (unless `with_secrets`) the secrets.
json::object spec_json(const SourceSpec& s, bool with_secrets) {
  json::object o;
  o["description"] = s.description;
  o["verifier"] = to_string(s.verifier);
  if (with_secrets) {
    o["secrets"] = to_array(s.secrets);
  } else {
    o["secretCount"] = s.secrets.size();
  }
  o["toleranceSeconds"] = s.tolerance.count();
  if (s.verifier == VerifierType::kGithub) o["allowSha1"] = s.allow_sha1;
  if (s.verifier == VerifierType::kStaticToken) o["tokenHeader"] = s.token_header;
  if (s.verifier == VerifierType::kGenericHmac) o["hmac"] = hmac_json(s.hmac);
  o["allowedCidrs"] = to_array(s.allowed_cidrs);
  o["trustedProxies"] = to_array(s.trusted_proxies);
  o["bodyLimit"] = s.body_limit;
  o["dedupKey"] = s.dedup_key.to_string();
  o["dedupTtlSeconds"] = s.dedup_ttl.count();
  o["eventType"] = s.event_type.to_string();
  o["pull"] = s.pull;
  if (!with_secrets) {
    o["declaredInConfig"] = s.declared_in_config;
  } else if (s.declared_in_config) {
    o["declaredInConfig"] = true;  // stored only when set: the config of an API-made source is unchanged
  }
  return o;
}

}  // namespace

std::string_view to_string(VerifierType t) {
  for (const auto& [type, name] : kVerifierNames)
    if (type == t) return name;
  return "none";
}

std::optional<VerifierType> parse_verifier_type(std::string_view name) {
  for (const auto& [type, n] : kVerifierNames)
    if (n == name) return type;
  // The command line's older spellings (`hookwire sign --scheme`), accepted here too; stored canonical.
  if (name == "standard") return VerifierType::kStandardWebhooks;
  if (name == "generic") return VerifierType::kGenericHmac;
  if (name == "token") return VerifierType::kStaticToken;
  return std::nullopt;
}

Result<Extract> Extract::parse(std::string_view text) {
  if (text == "none" || text.empty()) return Extract{};
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto kind = text.substr(0, colon);
    auto name = text.substr(colon + 1);
    if (kind == "header" && is_header_name(name)) return Extract{From::kHeader, lower(name)};
    if (kind == "json" && !name.empty() && name.size() <= 256 && name.front() != '.' && name.back() != '.')
      return Extract{From::kJson, std::string(name)};
  }
  return Error::validation("",
                           "must be \"header:NAME\", \"json:FIELD\" (dots for nested fields) or \"none\"");
}

std::string Extract::to_string() const {
  switch (from) {
    case From::kHeader:
      return "header:" + name;
    case From::kJson:
      return "json:" + name;
    case From::kNone:
      break;
  }
  return "none";
}

Extract default_dedup_key(VerifierType t) {
  switch (t) {
    case VerifierType::kStandardWebhooks:
      return {Extract::From::kHeader, "webhook-id"};
    case VerifierType::kSvix:
      return {Extract::From::kHeader, "svix-id"};
    case VerifierType::kStripe:
      return {Extract::From::kJson, "id"};
    case VerifierType::kGithub:
      return {Extract::From::kHeader, "x-github-delivery"};
    case VerifierType::kShopify:
      return {Extract::From::kHeader, "x-shopify-webhook-id"};
    default:
      return {};
  }
}

Extract default_event_type(VerifierType t) {
  switch (t) {
    case VerifierType::kStandardWebhooks:
    case VerifierType::kSvix:
    case VerifierType::kStripe:
      return {Extract::From::kJson, "type"};
    case VerifierType::kGithub:
      return {Extract::From::kHeader, "x-github-event"};
    case VerifierType::kShopify:
      return {Extract::From::kHeader, "x-shopify-topic"};
    default:
      return {};
  }
}

std::optional<FieldKind> field_kind(std::string_view dotted_name) {
  for (const auto& [name, kind] : kFields)
    if (name == dotted_name) return kind;
  return std::nullopt;
}

std::vector<std::string_view> source_field_names() {
  std::vector<std::string_view> out;
  for (const auto& [name, kind] : kFields) out.push_back(name);
  return out;
}

Result<std::optional<signing::Verifier>> make_verifier(const SourceSpec& spec, std::string_view field) {
  if (spec.verifier == VerifierType::kNone) return std::optional<signing::Verifier>();
  signing::Options o;
  switch (spec.verifier) {
    case VerifierType::kStandardWebhooks:
    case VerifierType::kSvix:
      o.scheme = signing::Scheme::kStandard;
      break;
    case VerifierType::kStripe:
      o.scheme = signing::Scheme::kStripe;
      break;
    case VerifierType::kGithub:
      o.scheme = signing::Scheme::kGithub;
      break;
    case VerifierType::kShopify:
      o.scheme = signing::Scheme::kShopify;
      break;
    case VerifierType::kGenericHmac:
      o.scheme = signing::Scheme::kGenericHmac;
      break;
    case VerifierType::kStaticToken:
      o.scheme = signing::Scheme::kStaticToken;
      break;
    case VerifierType::kNone:
      break;
  }
  o.secrets = spec.secrets;
  o.tolerance = spec.tolerance;
  o.github_allow_sha1 = spec.allow_sha1;
  o.token_header = spec.token_header;
  o.generic = spec.hmac;
  auto v = signing::Verifier::create(o);
  if (!v) return Error::validation(std::string(field), v.error());
  return std::optional<signing::Verifier>(std::move(v).value());
}

Result<SourceSpec> parse_source_spec(const json::object& obj, size_t max_body_limit,
                                     std::string_view prefix) {
  Reader r(obj, std::string(prefix));
  SourceSpec s;
  if (auto uid = r.string("uid", 256)) {
    if (!is_token(*uid)) r.fail("uid", "must match ^[a-zA-Z0-9\\-_.]+$");
    if (uid->starts_with("src_")) r.fail("uid", "must not start with src_ (ids do)");
    s.uid = std::move(uid);
  }
  s.description = r.string("description", 1000).value_or("");
  auto verifier = r.string("verifier", 64);
  if (!verifier) {
    if (!r.error())
      r.fail("verifier", "field required (\"none\" accepts unsigned requests and must be chosen explicitly)");
  } else if (auto t = parse_verifier_type(*verifier)) {
    s.verifier = *t;
  } else {
    r.fail(
        "verifier",
        "must be one of standard-webhooks, svix, stripe, github, shopify, generic-hmac, static-token, none");
  }
  s.secrets = r.strings("secrets", 10, 1024);
  if (!r.error()) {
    if (s.verifier == VerifierType::kNone && !s.secrets.empty())
      r.fail("secrets", "must be empty when verifier is none");
    if (s.verifier != VerifierType::kNone && s.secrets.empty())
      r.fail("secrets", "at least one secret is required (two or more during a rotation)");
  }
  if (auto t = r.integer("toleranceSeconds", 1, 7 * 86400)) s.tolerance = std::chrono::seconds{*t};
  if (auto b = r.boolean("allowSha1")) s.allow_sha1 = *b;
  if (auto h = r.string("tokenHeader", 128)) {
    if (!is_header_name(*h)) r.fail("tokenHeader", "must be a header name");
    s.token_header = lower(*h);
  }
  if (const auto* hv = r.find("hmac")) {
    if (!hv->is_object()) {
      r.fail("hmac", "must be an object");
    } else {
      Reader h(hv->as_object(), std::string(prefix) + ".hmac");
      auto& g = s.hmac;
      for (auto [name, target] :
           {std::pair{"signatureHeader", &g.signature_header},
            std::pair{"timestampHeader", &g.timestamp_header}, std::pair{"idHeader", &g.id_header}}) {
        if (auto v = h.string(name, 128)) {
          if (!v->empty() && !is_header_name(*v)) h.fail(name, "must be a header name");
          *target = lower(*v);
        }
      }
      if (auto v = h.string("prefix", 64)) g.prefix = *v;
      if (auto v = h.string("template", 256)) g.content_template = *v;
      if (auto v = h.string("encoding", 16)) {
        if (*v == "hex")
          g.encoding = signing::Encoding::kHex;
        else if (*v == "base64")
          g.encoding = signing::Encoding::kBase64;
        else
          h.fail("encoding", "must be hex or base64");
      }
      if (auto v = h.boolean("secretIsBase64")) g.secret_is_base64 = *v;
      if (auto v = h.string("digest", 16)) {
        if (*v == "sha256")
          g.digest = signing::Digest::kSha256;
        else if (*v == "sha512")
          g.digest = signing::Digest::kSha512;
        else
          h.fail("digest", "must be sha256 or sha512");
      }
      h.reject_unknown();
      if (h.error()) return *h.error();
    }
  }
  s.allowed_cidrs = r.strings("allowedCidrs", 256, 64);
  s.trusted_proxies = r.strings("trustedProxies", 256, 64);
  for (auto [name, list] :
       {std::pair{"allowedCidrs", &s.allowed_cidrs}, std::pair{"trustedProxies", &s.trusted_proxies}}) {
    for (auto& c : *list) {
      auto parsed = delivery::Cidr::parse(c);
      if (!parsed) {
        r.fail(name, parsed.error().detail);
        break;
      }
      c = parsed->to_string();
    }
  }
  s.body_limit = max_body_limit;
  if (auto b = r.integer("bodyLimit", 1, static_cast<int64_t>(max_body_limit)))
    s.body_limit = static_cast<size_t>(*b);
  if (r.error() && r.error()->field == std::string(prefix) + ".bodyLimit")
    return Error::validation(
        r.error()->field,
        fmt::format("must be an integer from 1 to {} (the server's --body-limit, which every "
                    "request passes before its source is known)",
                    max_body_limit));
  s.dedup_key = default_dedup_key(s.verifier);
  if (s.verifier == VerifierType::kGenericHmac && !s.hmac.id_header.empty())
    s.dedup_key = {Extract::From::kHeader, s.hmac.id_header};
  if (auto d = r.string("dedupKey", 300)) {
    if (auto e = Extract::parse(*d))
      s.dedup_key = *e;
    else
      r.fail("dedupKey", e.error().detail);
  }
  if (auto t = r.integer("dedupTtlSeconds", 1, 365 * 86400)) s.dedup_ttl = std::chrono::seconds{*t};
  s.event_type = default_event_type(s.verifier);
  if (auto d = r.string("eventType", 300)) {
    if (auto e = Extract::parse(*d))
      s.event_type = *e;
    else
      r.fail("eventType", e.error().detail);
  }
  // Items are URLs, or {"url", "secret"} to choose the destination's signing secret.
  if (const auto* dv = r.find("destinations")) {
    const json::array* items = dv->if_array();
    if (!items || items->size() > 20) r.fail("destinations", "must be an array of at most 20 items");
    for (size_t i = 0; items && i < items->size() && !r.error(); ++i) {
      const json::value& item = (*items)[i];
      const json::string* url = item.if_string();
      const json::object* obj = item.if_object();
      if (obj) {
        const json::value* u = obj->if_contains("url");
        const json::value* secret = obj->if_contains("secret");
        url = u ? u->if_string() : nullptr;
        if (!url || obj->size() != (secret ? 2u : 1u) || (secret && !secret->is_string())) {
          r.fail("destinations", "items must be URLs or objects {\"url\": URL, \"secret\": whsec_ key}");
          break;
        }
        if (secret) {
          auto key = delivery::normalize_endpoint_secret(secret->as_string(), "secret");
          if (!key) {
            r.fail("destinations", std::string(*url) + ": secret " + key.error().detail);
            break;
          }
          s.destination_secrets[std::string(*url)] = std::move(*key);
        }
      }
      if (!url || url->size() > 65536 || !valid_url(*url)) {
        r.fail("destinations", "items must be absolute http:// or https:// URLs");
        break;
      }
      if (std::find(s.destinations.begin(), s.destinations.end(), *url) != s.destinations.end()) {
        r.fail("destinations", std::string(*url) + " is listed twice");
        break;
      }
      s.destinations.emplace_back(*url);
    }
  }
  if (auto p = r.boolean("pull")) s.pull = *p;
  // Only stored configs carry the mark (spec_from_config reads them under "config").
  if (prefix == "config")
    if (auto d = r.boolean("declaredInConfig")) s.declared_in_config = *d;
  if (!r.error() && s.destinations.empty() && !s.pull)
    r.fail("destinations", "a source needs at least one destination URL, or \"pull\": true");
  r.reject_unknown();
  if (r.error()) return *r.error();
  if (auto v = make_verifier(s, std::string(prefix) + ".secrets"); !v) return v.take_error();
  return s;
}

Status check_destinations(const SourceSpec& spec, const delivery::UrlGuard& guard, std::string_view prefix) {
  for (const auto& url : spec.destinations)
    if (auto st = guard.check_configured_host(url); !st)
      return Error::validation(std::string(prefix) + ".destinations", url + ": " + st.error().detail);
  return {};
}

std::string config_json(const SourceSpec& spec) { return json::serialize(spec_json(spec, true)); }

Result<SourceSpec> spec_from_config(const std::string& config) {
  boost::system::error_code ec;
  auto v = json::parse(config, ec);
  if (ec || !v.is_object()) return Error::internal("corrupt source config");
  auto obj = v.as_object();
  // Stored configs always carry a destination-free, pull-less shape; the check is for API input only.
  obj["pull"] = true;
  auto s = parse_source_spec(obj, SIZE_MAX >> 1, "config");
  if (!s) return Error::internal("corrupt source config: " + s.error().field + " " + s.error().detail);
  s->pull = v.as_object().contains("pull") && v.as_object().at("pull").is_bool() &&
            v.as_object().at("pull").as_bool();
  return s;
}

json::object public_json(const SourceSpec& spec) { return spec_json(spec, false); }

std::vector<std::string> kept_header_names(const SourceSpec& spec) {
  std::vector<std::string> names{"content-type", "user-agent"};
  auto add = [&names](std::initializer_list<const char*> more) {
    names.insert(names.end(), more.begin(), more.end());
  };
  switch (spec.verifier) {
    case VerifierType::kStandardWebhooks:
    case VerifierType::kSvix:  // either header family is accepted by both
      add({"webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "svix-timestamp",
           "svix-signature"});
      break;
    case VerifierType::kStripe:
      add({"stripe-signature"});
      break;
    case VerifierType::kGithub:
      add({"x-hub-signature-256", "x-github-event", "x-github-delivery", "x-github-hook-id"});
      break;
    case VerifierType::kShopify:
      add({"x-shopify-hmac-sha256", "x-shopify-topic", "x-shopify-webhook-id", "x-shopify-shop-domain"});
      break;
    case VerifierType::kGenericHmac:
      for (const auto* h : {&spec.hmac.signature_header, &spec.hmac.timestamp_header, &spec.hmac.id_header})
        if (!h->empty() && std::find(names.begin(), names.end(), *h) == names.end()) names.push_back(*h);
      break;
    case VerifierType::kStaticToken:  // its header is the secret: never kept
    case VerifierType::kNone:
      break;
  }
  return names;
}

Result<CompiledSource> compile(const store::Source& record) {
  auto spec = spec_from_config(record.config);
  if (!spec) return spec.take_error();
  CompiledSource c;
  c.record = record;
  c.spec = std::move(*spec);
  auto verifier = make_verifier(c.spec, "secrets");
  if (!verifier) return Error::internal("source " + record.id + ": " + verifier.error().detail);
  c.verifier = std::move(*verifier);
  for (const auto& text : c.spec.allowed_cidrs)
    if (auto cidr = delivery::Cidr::parse(text)) c.allowed.push_back(*cidr);
  for (const auto& text : c.spec.trusted_proxies)
    if (auto cidr = delivery::Cidr::parse(text)) c.proxies.push_back(*cidr);
  c.label = record.uid.value_or(record.id);
  c.kept_headers = kept_header_names(c.spec);
  return c;
}

namespace {
boost::asio::ip::address unwrap(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}
bool in_any(const boost::asio::ip::address& a, const std::vector<delivery::Cidr>& list) {
  return std::any_of(list.begin(), list.end(), [&](const delivery::Cidr& c) { return c.contains(a); });
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<boost::asio::ip::address> client_address(const boost::asio::ip::address& peer,
                                                       std::string_view forwarded_for,
                                                       const std::vector<delivery::Cidr>& proxies) {
  auto current = unwrap(peer);
  if (proxies.empty() || !in_any(current, proxies)) return current;
  while (!forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto item = trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    if (item.empty()) continue;  // an empty list element (RFC 9110 5.6.1)
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(item, ec);
    if (ec) return std::nullopt;  // a trusted hop wrote something that is not an address: believe nothing
    current = unwrap(addr);
    if (!in_any(current, proxies)) return current;
  }
  return current;
}

bool address_allowed(const boost::asio::ip::address& client, const std::vector<delivery::Cidr>& allowed) {
  return allowed.empty() || in_any(unwrap(client), allowed);
}

}  // namespace hookwire::inbound
