// Source: what an inbound source is configured to do, as the API body / config file states it
// (`SourceSpec`), and the ready-to-use form the gateway runs requests against (`CompiledSource`).
//
// One JSON shape serves the API (`POST/PUT /api/v1/source`), the config file (each `[source.NAME]` section
// becomes this object) and the store (`store::Source::config`, the spec minus uid and destinations):
//   {"uid", "description", "verifier": "standard-webhooks|svix|stripe|github|shopify|generic-hmac|
//    static-token|none", "secrets": [..], "toleranceSeconds", "allowSha1", "tokenHeader",
//    "hmac": {"signatureHeader", "timestampHeader", "idHeader", "prefix", "template", "encoding",
//             "secretIsBase64", "digest"},
//    "allowedCidrs": [..], "trustedProxies": [..], "bodyLimit", "dedupKey": "header:NAME|json:PATH|none",
//    "dedupTtlSeconds", "eventType": "header:NAME|json:PATH", "destinations": [url..], "pull"}
// Values are plain and immutable once built; thread-safe to share.
#pragma once

#include <hookwire/signing.h>

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "delivery/url_guard.h"
#include "store/model.h"

namespace hookwire::inbound {

enum class VerifierType {
  kStandardWebhooks,
  kSvix,
  kStripe,
  kGithub,
  kShopify,
  kGenericHmac,
  kStaticToken,
  kNone
};
std::string_view to_string(VerifierType t);
std::optional<VerifierType> parse_verifier_type(std::string_view name);

// Where a value is read from: a request header, or a field of the JSON body (dotted path: "data.object.id").
struct Extract {
  enum class From { kNone, kHeader, kJson };
  From from = From::kNone;
  std::string name;                                     // header name in lowercase, or the JSON path
  static Result<Extract> parse(std::string_view text);  // "header:X-GitHub-Delivery", "json:id", "none"
  std::string to_string() const;
  bool operator==(const Extract&) const = default;
};

struct SourceSpec {
  std::optional<std::string> uid;
  std::string description;
  VerifierType verifier = VerifierType::kNone;
  std::vector<std::string> secrets;  // several during a rotation: a request signed with any is accepted
  std::chrono::seconds tolerance{300};
  bool allow_sha1 = false;  // github: accept the legacy X-Hub-Signature (sha1) when sha256 is absent
  std::string token_header = "x-webhook-token";  // static-token
  signing::GenericHmacOptions hmac;              // generic-hmac
  std::vector<std::string> allowed_cidrs;        // empty: any address
  std::vector<std::string> trusted_proxies;      // peers whose X-Forwarded-For is believed
  size_t body_limit = 1 << 20;
  Extract dedup_key;  // defaults per verifier (see default_dedup_key)
  std::chrono::seconds dedup_ttl{std::chrono::hours{72}};
  Extract event_type;                     // defaults per verifier (see default_event_type)
  std::vector<std::string> destinations;  // endpoint URLs of the source's application
  // The signing secret chosen for a destination (by URL; a SourceIn destination {"url", "secret"}); the
  // others get a generated one. Normalized (delivery/endpoint_secret.h). Kept in the endpoints, not in the
  // config.
  std::map<std::string, std::string> destination_secrets;
  bool pull = false;  // keep events for the pull feed (they are in the message log)
  // Declared in the config file: the file is its truth (replaced at every start, deleted when no longer
  // declared), and the API may read it but not change it. Set by the config-file loader, never by a SourceIn.
  bool declared_in_config = false;
};

Extract default_dedup_key(VerifierType t);
Extract default_event_type(VerifierType t);

// Validates a SourceIn object. `max_body_limit` is the server's own body limit: a source may only lower it.
// Errors are kValidation naming the field under `prefix` ("body.secrets", "body.hmac.digest").
Result<SourceSpec> parse_source_spec(const boost::json::object& obj, size_t max_body_limit,
                                     std::string_view prefix = "body");

// The destinations against the delivery SSRF guard (UrlGuard::check_configured_host, no DNS): one whose host
// is an address the guard refuses is a kValidation error on `<prefix>.destinations` (naming the flag that
// allows it). Checked where a source is configured (API, config file), not on stored configs.
Status check_destinations(const SourceSpec& spec, const delivery::UrlGuard& guard,
                          std::string_view prefix = "body");

// The stored config (everything but uid and destinations), and its inverse (the store wrote it: errors are
// kInternal).
std::string config_json(const SourceSpec& spec);
Result<SourceSpec> spec_from_config(const std::string& config);

// The spec as the API shows it: no secrets (their count instead), no destinations (listed from endpoints).
boost::json::object public_json(const SourceSpec& spec);

// The config file's TOML is untyped text: the kind of each SourceIn field, by dotted name ("hmac.digest").
enum class FieldKind { kString, kInteger, kBoolean, kStringArray };
std::optional<FieldKind> field_kind(std::string_view dotted_name);
// Every SourceIn field by dotted name (what the OpenAPI document must describe).
std::vector<std::string_view> source_field_names();

// The request headers an accepted event keeps (Message::headers; lowercase names), so `hookwire listen` can
// pass the provider's own headers through: Content-Type, User-Agent, and the verifier kind's signature,
// timestamp, id and event headers (Stripe-Signature; X-Hub-Signature-256, X-GitHub-Event/-Delivery/-Hook-ID;
// X-Shopify-Hmac-Sha256/-Topic/-Webhook-Id/-Shop-Domain; webhook-* and svix-* id/timestamp/signature;
// generic-hmac's configured headers). Never a static token's header: that is the secret itself.
std::vector<std::string> kept_header_names(const SourceSpec& spec);

// A source ready to run requests against: its verifier built, its networks parsed.
struct CompiledSource {
  store::Source record;
  SourceSpec spec;
  std::optional<signing::Verifier> verifier;  // nullopt for "none"
  std::vector<delivery::Cidr> allowed;
  std::vector<delivery::Cidr> proxies;
  std::string label;                      // metrics label: uid, else id
  std::vector<std::string> kept_headers;  // kept_header_names(spec)
};
Result<CompiledSource> compile(const store::Source& record);

// The verifier for a spec (nullopt for none); the error says what is wrong with the secrets or options.
Result<std::optional<signing::Verifier>> make_verifier(const SourceSpec& spec, std::string_view field);

// The client's address: the peer, unless the peer is a trusted proxy, in which case X-Forwarded-For (every
// field line of it, joined with commas in order, RFC 9110 5.3) is read right to left and the first address
// that is not a trusted proxy is the client (all trusted: the leftmost). Empty list elements are skipped; an
// entry that is not an address (reached before the client is found) makes it nullopt: the request must be
// refused, since the hops behind it cannot be judged. IPv4-mapped IPv6 is unwrapped.
std::optional<boost::asio::ip::address> client_address(const boost::asio::ip::address& peer,
                                                       std::string_view forwarded_for,
                                                       const std::vector<delivery::Cidr>& proxies);
bool address_allowed(const boost::asio::ip::address& client, const std::vector<delivery::Cidr>& allowed);

}  // namespace hookwire::inbound
