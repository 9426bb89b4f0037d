#include "hookwire/signing.h"

#include <charconv>
#include <exception>

#include "signing/crypto.h"
#include "signing/parse.h"

namespace hookwire::signing {
namespace internal {
// One parsed secret. Which members are set depends on the scheme and the secret's kind.
struct Key {
  std::optional<HmacKey> hmac;       // v1, Stripe, GitHub sha256, Shopify, generic
  std::optional<HmacKey> hmac_sha1;  // GitHub legacy
  std::optional<Ed25519Key> ed;      // v1a
  std::string token;                 // static token
};

struct Part {
  enum Kind { kLiteral, kId, kTimestamp, kBody } kind;
  std::string literal;
};

struct Common {
  Options options;
  std::vector<Key> keys;
  std::vector<Part> parts;  // generic template
  bool uses_id = false;
  bool uses_timestamp = false;
};

}  // namespace internal
using internal::Common;
using internal::Key;
using internal::Part;

namespace {

constexpr size_t kStandardMinKey = 24;
constexpr size_t kStandardMaxKey = 64;
constexpr std::string_view kWhsec = "whsec_";
constexpr std::string_view kWhsk = "whsk_";
constexpr std::string_view kWhpk = "whpk_";

std::string label(size_t i) { return "secret #" + std::to_string(i + 1); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

Expected<HmacKey> make_hmac(std::string_view key, MacDigest d) {
  auto k = HmacKey::create(key, d);
  if (!k) return Expected<HmacKey>::failure("OpenSSL has no HMAC implementation available");
  return *k;
}

Expected<Key> parse_standard_secret(std::string_view s, size_t i, bool for_signing) {
  using E = Expected<Key>;
  if (s.empty()) return E::failure(label(i) + " is empty");
  for (char c : s)
    if (is_space(c)) return E::failure(label(i) + " contains whitespace (a trailing newline from a file?)");
  Key key;
  if (s.starts_with(kWhsk)) {
    auto raw = b64_decode(s.substr(kWhsk.size()));
    if (!raw) return E::failure(label(i) + " (whsk_) is not valid standard base64 after the whsk_ prefix");
    if (raw->size() != 64)
      return E::failure(label(i) + " (whsk_) decodes to " + std::to_string(raw->size()) +
                        " bytes; a whsk_ key is 64 bytes: 32-byte seed then 32-byte public key");
    auto ed = Ed25519Key::from_seed(std::string_view(*raw).substr(0, 32));
    if (!ed) return E::failure(label(i) + " (whsk_) is not a usable Ed25519 seed");
    if (!ct_equal(ed->public_key(), std::string_view(*raw).substr(32)))
      return E::failure(label(i) +
                        " (whsk_): its last 32 bytes are not the public key of its first 32 bytes");
    key.ed = std::move(*ed);
    return key;
  }
  if (s.starts_with(kWhpk)) {
    if (for_signing)
      return E::failure(
          label(i) + " is a whpk_ public key: it verifies v1a signatures but cannot sign; use the whsk_ key");
    auto raw = b64_decode(s.substr(kWhpk.size()));
    if (!raw) return E::failure(label(i) + " (whpk_) is not valid standard base64 after the whpk_ prefix");
    if (raw->size() != 32)
      return E::failure(label(i) + " (whpk_) decodes to " + std::to_string(raw->size()) +
                        " bytes; an Ed25519 public key is 32 bytes");
    auto ed = Ed25519Key::from_public(*raw);
    if (!ed) return E::failure(label(i) + " (whpk_) is not a valid Ed25519 public key");
    key.ed = std::move(*ed);
    return key;
  }
  // whsec_ or bare base64, as the reference libraries accept.
  bool prefixed = s.starts_with(kWhsec);
  auto raw = b64_decode(prefixed ? s.substr(kWhsec.size()) : s);
  if (!raw) {
    return E::failure(label(i) + (prefixed ? " (whsec_) is not valid standard base64 after the whsec_ prefix"
                                           : " is not a Standard Webhooks secret: expected whsec_<base64>, "
                                             "whsk_<base64> or whpk_<base64>"));
  }
  if (raw->size() < kStandardMinKey || raw->size() > kStandardMaxKey)
    return E::failure(label(i) + " decodes to " + std::to_string(raw->size()) +
                      " bytes; Standard Webhooks secrets are 24 to 64 bytes");
  auto h = make_hmac(*raw, MacDigest::kSha256);
  if (!h) return E::failure(h.error());
  key.hmac = std::move(h).value();
  return key;
}

Expected<Key> parse_verbatim_secret(std::string_view s, size_t i, const Options& o) {
  using E = Expected<Key>;
  if (s.empty()) return E::failure(label(i) + " is empty");
  if (is_space(s.front()) || is_space(s.back()))
    return E::failure(label(i) + " starts or ends with whitespace (a trailing newline from a file?)");
  Key key;
  std::string decoded;
  std::string_view bytes = s;
  MacDigest digest = MacDigest::kSha256;
  switch (o.scheme) {
    case Scheme::kStaticToken:
      key.token = std::string(s);
      return key;
    case Scheme::kStripe:
      for (char c : s)
        if (is_space(c)) return E::failure(label(i) + " contains whitespace; Stripe secrets never do");
      break;
    case Scheme::kGenericHmac:
      if (o.generic.secret_is_base64) {
        auto raw = b64_decode(s);
        if (!raw) return E::failure(label(i) + " is not valid standard base64 (secret_is_base64 is set)");
        if (raw->empty()) return E::failure(label(i) + " decodes to zero bytes");
        decoded = std::move(*raw);
        bytes = decoded;
      }
      if (o.generic.digest == Digest::kSha512) digest = MacDigest::kSha512;
      break;
    default:
      break;
  }
  auto h = make_hmac(bytes, digest);
  if (!h) return E::failure(h.error());
  key.hmac = std::move(h).value();
  if (o.scheme == Scheme::kGithub) {
    auto h1 = make_hmac(bytes, MacDigest::kSha1);
    if (!h1) return E::failure(h1.error());
    key.hmac_sha1 = std::move(h1).value();
  }
  return key;
}

Expected<std::vector<Part>> parse_template(std::string_view t) {
  using E = Expected<std::vector<Part>>;
  std::vector<Part> parts;
  bool has_body = false;
  size_t pos = 0;
  while (pos < t.size()) {
    size_t open = t.find('{', pos);
    if (open == std::string_view::npos) open = t.size();
    if (open > pos) parts.push_back({Part::kLiteral, std::string(t.substr(pos, open - pos))});
    if (open == t.size()) break;
    size_t close = t.find('}', open);
    if (close == std::string_view::npos) return E::failure("template has a '{' without a closing '}'");
    std::string_view name = t.substr(open + 1, close - open - 1);
    if (name == "id") {
      parts.push_back({Part::kId, {}});
    } else if (name == "timestamp") {
      parts.push_back({Part::kTimestamp, {}});
    } else if (name == "body") {
      parts.push_back({Part::kBody, {}});
      has_body = true;
    } else {
      return E::failure("template has unknown placeholder {" + std::string(name) +
                        "}; use {id}, {timestamp} and {body}");
    }
    pos = close + 1;
  }
  if (!has_body) return E::failure("template must contain {body}, or the body would not be authenticated");
  return parts;
}

Expected<Common> build(const Options& o, bool for_signing) {
  using E = Expected<Common>;
  Common c;
  c.options = o;
  if (o.secrets.empty()) return E::failure("no secret given");
  if (o.tolerance.count() < 0) return E::failure("tolerance must not be negative");
  for (size_t i = 0; i < o.secrets.size(); ++i) {
    auto k = o.scheme == Scheme::kStandard ? parse_standard_secret(o.secrets[i], i, for_signing)
                                           : parse_verbatim_secret(o.secrets[i], i, o);
    if (!k) return E::failure(k.error());
    c.keys.push_back(std::move(k).value());
  }
  if (o.scheme == Scheme::kGenericHmac) {
    if (o.generic.signature_header.empty()) return E::failure("generic: signature header name is empty");
    auto parts = parse_template(o.generic.content_template);
    if (!parts) return E::failure("generic: " + parts.error());
    c.parts = std::move(parts).value();
    for (const auto& p : c.parts) {
      c.uses_id |= p.kind == Part::kId;
      c.uses_timestamp |= p.kind == Part::kTimestamp;
    }
    if (c.uses_id && o.generic.id_header.empty())
      return E::failure("generic: the template uses {id} but no id header is configured");
    if (c.uses_timestamp && o.generic.timestamp_header.empty())
      return E::failure("generic: the template uses {timestamp} but no timestamp header is configured");
  }
  if (o.scheme == Scheme::kStaticToken && o.token_header.empty())
    return E::failure("token: header name is empty");
  return c;
}

// Decimal digits of a timestamp, on the stack.
struct Digits {
  char buf[24];
  size_t len = 0;
  explicit Digits(int64_t v) { len = static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf); }
  std::string_view view() const { return {buf, len}; }
};

VerifyResult fail(Failure f, std::string message) { return {f, std::move(message), -1}; }
VerifyResult success(size_t key_index) { return {Failure::kNone, {}, static_cast<int>(key_index)}; }

std::optional<std::string_view> get(const HeaderLookup& h, std::string_view name) {
  auto v = h(name);
  if (v && !v->empty()) return v;
  return std::nullopt;
}

// nullopt when `ts` is inside [now - tolerance, now + tolerance].
std::optional<VerifyResult> check_window(int64_t ts, int64_t now, std::chrono::seconds tolerance) {
  // 128-bit so that any `now` the caller passes cannot overflow.
  __int128 delta = static_cast<__int128>(now) - ts;
  __int128 tol = tolerance.count();
  if (delta > tol)
    return fail(Failure::kTimestampTooOld,
                "timestamp " + std::to_string(ts) + " is " + std::to_string(static_cast<long long>(delta)) +
                    " s in the past; tolerance is " + std::to_string(tolerance.count()) + " s");
  if (-delta > tol)
    return fail(Failure::kTimestampTooNew,
                "timestamp " + std::to_string(ts) + " is " + std::to_string(static_cast<long long>(-delta)) +
                    " s in the future; tolerance is " + std::to_string(tolerance.count()) + " s");
  return std::nullopt;
}

VerifyResult verify_standard(const Common& c, const HeaderLookup& h, std::string_view body, int64_t now) {
  // Each header from the webhook-* family, else the svix-* family (Svix-compatible senders).
  auto id = get(h, "webhook-id");
  if (!id) id = get(h, "svix-id");
  auto ts_text = get(h, "webhook-timestamp");
  if (!ts_text) ts_text = get(h, "svix-timestamp");
  auto sig = get(h, "webhook-signature");
  if (!sig) sig = get(h, "svix-signature");
  if (!id) return fail(Failure::kMissingHeader, "missing webhook-id (or svix-id) header");
  if (!ts_text) return fail(Failure::kMissingHeader, "missing webhook-timestamp (or svix-timestamp) header");
  if (!sig) return fail(Failure::kMissingHeader, "missing webhook-signature (or svix-signature) header");

  auto ts = parse_unix_seconds(*ts_text);
  if (!ts)
    return fail(Failure::kMalformedHeader, "webhook-timestamp is not an integer number of Unix seconds");
  if (auto r = check_window(*ts, now, c.options.tolerance)) return std::move(*r);

  StandardSignatures entries = parse_standard_signatures(*sig);
  if (entries.count == 0)
    return fail(Failure::kMalformedHeader, "webhook-signature has no \"version,signature\" entries");

  // The signed content is rebuilt from the parsed timestamp (as the reference libraries do).
  Digits digits(*ts);
  std::string ed_content;  // built lazily: only v1a needs the content in one piece
  bool any_known = false;
  for (size_t k = 0; k < c.keys.size(); ++k) {
    const Key& key = c.keys[k];
    if (key.hmac) {
      MacBuffer mac;
      if (!key.hmac->mac({*id, ".", digits.view(), ".", body}, mac)) continue;
      char b64[128];
      std::string_view expected = base64_into(mac.view(), b64);
      bool match = false;
      for (size_t e = 0; e < entries.count; ++e) {
        if (entries.entries[e].version != "v1") continue;
        any_known = true;
        match |= ct_equal(expected, entries.entries[e].value);  // no early exit: every entry is compared
      }
      if (match) return success(k);
    } else if (key.ed) {
      for (size_t e = 0; e < entries.count; ++e) {
        if (entries.entries[e].version != "v1a") continue;
        any_known = true;
        std::string_view v = entries.entries[e].value;
        if (v.size() != 88) continue;  // base64 of 64 bytes
        auto raw = b64_decode(v);
        if (!raw) continue;
        if (ed_content.empty()) {
          ed_content.reserve(id->size() + digits.len + body.size() + 2);
          ed_content.append(*id).append(".").append(digits.view()).append(".").append(body);
        }
        if (key.ed->verify(ed_content, *raw)) return success(k);
      }
    }
  }
  if (!any_known) {
    // Count what the header offered, for the message only.
    bool has_v1 = false, has_v1a = false;
    for (size_t e = 0; e < entries.count; ++e) {
      has_v1 |= entries.entries[e].version == "v1";
      has_v1a |= entries.entries[e].version == "v1a";
    }
    if (!has_v1 && !has_v1a)
      return fail(Failure::kNoMatchingSignature,
                  "webhook-signature has no v1 or v1a entry (unknown versions are ignored)");
    return fail(Failure::kNoMatchingSignature,
                has_v1 ? "webhook-signature has only v1 entries but the secrets are v1a keys"
                       : "webhook-signature has only v1a entries but the secrets are v1 (whsec_) secrets");
  }
  return fail(Failure::kNoMatchingSignature, "no signature in webhook-signature matches any secret");
}

VerifyResult verify_stripe(const Common& c, const HeaderLookup& h, std::string_view body, int64_t now) {
  auto header = get(h, "stripe-signature");
  if (!header) return fail(Failure::kMissingHeader, "missing Stripe-Signature header");
  auto parsed = parse_stripe_header(*header);
  if (!parsed)
    return fail(Failure::kMalformedHeader,
                "Stripe-Signature needs one t=<unix seconds> and at least one v1=<hex>");
  if (auto r = check_window(parsed->timestamp, now, c.options.tolerance)) return std::move(*r);
  Digits digits(parsed->timestamp);
  for (size_t k = 0; k < c.keys.size(); ++k) {
    MacBuffer mac;
    if (!c.keys[k].hmac->mac({digits.view(), ".", body}, mac)) continue;
    char hex[128];
    std::string_view expected = hex_into(mac.view(), hex);
    bool match = false;
    for (size_t e = 0; e < parsed->v1_count; ++e) match |= ct_equal_hex(expected, parsed->v1[e]);
    if (match) return success(k);
  }
  return fail(Failure::kNoMatchingSignature,
              "no v1 signature in Stripe-Signature matches any secret (the secret is used verbatim, whsec_ "
              "included)");
}

VerifyResult verify_github(const Common& c, const HeaderLookup& h, std::string_view body) {
  bool sha1 = false;
  auto header = get(h, "x-hub-signature-256");
  if (!header && c.options.github_allow_sha1) {
    header = get(h, "x-hub-signature");
    sha1 = true;
  }
  if (!header)
    return fail(Failure::kMissingHeader, c.options.github_allow_sha1
                                             ? "missing X-Hub-Signature-256 (and X-Hub-Signature) header"
                                             : "missing X-Hub-Signature-256 header");
  auto hex_sig = strip_prefix(*header, sha1 ? "sha1=" : "sha256=");
  if (!hex_sig)
    return fail(Failure::kMalformedHeader, sha1 ? "X-Hub-Signature does not start with sha1="
                                                : "X-Hub-Signature-256 does not start with sha256=");
  for (size_t k = 0; k < c.keys.size(); ++k) {
    const auto& key = sha1 ? c.keys[k].hmac_sha1 : c.keys[k].hmac;
    MacBuffer mac;
    if (!key->mac({body}, mac)) continue;
    char hex[128];
    if (ct_equal_hex(hex_into(mac.view(), hex), *hex_sig)) return success(k);
  }
  return fail(Failure::kNoMatchingSignature, sha1 ? "X-Hub-Signature (sha1) does not match any secret"
                                                  : "X-Hub-Signature-256 does not match any secret");
}

VerifyResult verify_shopify(const Common& c, const HeaderLookup& h, std::string_view body) {
  auto header = get(h, "x-shopify-hmac-sha256");
  if (!header) return fail(Failure::kMissingHeader, "missing X-Shopify-Hmac-SHA256 header");
  if (header->size() != 44)
    return fail(Failure::kMalformedHeader, "X-Shopify-Hmac-SHA256 is not base64 of 32 bytes");
  for (size_t k = 0; k < c.keys.size(); ++k) {
    MacBuffer mac;
    if (!c.keys[k].hmac->mac({body}, mac)) continue;
    char b64[64];
    if (ct_equal(base64_into(mac.view(), b64), *header)) return success(k);
  }
  return fail(Failure::kNoMatchingSignature, "X-Shopify-Hmac-SHA256 does not match any secret");
}

VerifyResult verify_generic(const Common& c, const HeaderLookup& h, std::string_view body, int64_t now) {
  const GenericHmacOptions& g = c.options.generic;
  auto header = get(h, g.signature_header);
  if (!header) return fail(Failure::kMissingHeader, "missing " + g.signature_header + " header");
  std::optional<std::string_view> id;
  if (c.uses_id && !(id = get(h, g.id_header)))
    return fail(Failure::kMissingHeader, "missing " + g.id_header + " header");
  std::optional<int64_t> ts;
  if (c.uses_timestamp) {
    auto ts_text = get(h, g.timestamp_header);
    if (!ts_text) return fail(Failure::kMissingHeader, "missing " + g.timestamp_header + " header");
    ts = parse_unix_seconds(*ts_text);
    if (!ts)
      return fail(Failure::kMalformedHeader,
                  g.timestamp_header + " is not an integer number of Unix seconds");
    if (auto r = check_window(*ts, now, c.options.tolerance)) return std::move(*r);
  }
  auto sig = strip_prefix(*header, g.prefix);
  if (!sig)
    return fail(Failure::kMalformedHeader, g.signature_header + " does not start with \"" + g.prefix + "\"");

  Digits digits(ts.value_or(0));
  std::array<std::string_view, 16> views;
  std::vector<std::string_view> many;  // only for unusually long templates
  std::span<std::string_view> content;
  if (c.parts.size() <= views.size()) {
    content = std::span<std::string_view>(views.data(), c.parts.size());
  } else {
    many.resize(c.parts.size());
    content = many;
  }
  for (size_t i = 0; i < c.parts.size(); ++i) {
    switch (c.parts[i].kind) {
      case Part::kLiteral:
        content[i] = c.parts[i].literal;
        break;
      case Part::kId:
        content[i] = *id;
        break;
      case Part::kTimestamp:
        content[i] = digits.view();
        break;
      case Part::kBody:
        content[i] = body;
        break;
    }
  }
  for (size_t k = 0; k < c.keys.size(); ++k) {
    MacBuffer mac;
    if (!c.keys[k].hmac->mac(content, mac)) continue;
    char enc[160];
    bool match = g.encoding == Encoding::kHex ? ct_equal_hex(hex_into(mac.view(), enc), *sig)
                                              : ct_equal(base64_into(mac.view(), enc), *sig);
    if (match) return success(k);
  }
  return fail(Failure::kNoMatchingSignature, g.signature_header + " does not match any secret");
}

VerifyResult verify_token(const Common& c, const HeaderLookup& h) {
  auto header = get(h, c.options.token_header);
  if (!header) return fail(Failure::kMissingHeader, "missing " + c.options.token_header + " header");
  for (size_t k = 0; k < c.keys.size(); ++k)
    if (ct_equal(c.keys[k].token, *header)) return success(k);
  return fail(Failure::kNoMatchingSignature, c.options.token_header + " does not match any token");
}

std::string hmac_encoded(const HmacKey& key, std::span<const std::string_view> parts, Encoding e) {
  MacBuffer mac;
  if (!key.mac(parts, mac)) return {};
  char buf[160];
  return std::string(e == Encoding::kHex ? hex_into(mac.view(), buf) : base64_into(mac.view(), buf));
}

}  // namespace

struct Signer::State : Common {};
struct Verifier::State : Common {};

std::string_view to_string(Failure f) {
  switch (f) {
    case Failure::kNone:
      return "ok";
    case Failure::kMissingHeader:
      return "missing_header";
    case Failure::kMalformedHeader:
      return "malformed_header";
    case Failure::kTimestampTooOld:
      return "timestamp_too_old";
    case Failure::kTimestampTooNew:
      return "timestamp_too_new";
    case Failure::kNoMatchingSignature:
      return "no_matching_signature";
  }
  return "unknown";
}

std::optional<Scheme> parse_scheme(std::string_view name) {
  // The names of the inbound API and config file (verifier), and the older spellings as aliases.
  if (name == "standard-webhooks" || name == "standard" || name == "webhook" || name == "standardwebhooks" ||
      name == "svix")
    return Scheme::kStandard;
  if (name == "stripe") return Scheme::kStripe;
  if (name == "github") return Scheme::kGithub;
  if (name == "shopify") return Scheme::kShopify;
  if (name == "generic-hmac" || name == "generic") return Scheme::kGenericHmac;
  if (name == "static-token" || name == "token") return Scheme::kStaticToken;
  return std::nullopt;
}

std::string_view to_string(Scheme s) {
  switch (s) {
    case Scheme::kStandard:
      return "standard-webhooks";
    case Scheme::kStripe:
      return "stripe";
    case Scheme::kGithub:
      return "github";
    case Scheme::kShopify:
      return "shopify";
    case Scheme::kGenericHmac:
      return "generic-hmac";
    case Scheme::kStaticToken:
      return "static-token";
  }
  return "unknown";
}

HeaderLookup lookup_in(std::span<const Header> headers) {
  return [headers](std::string_view name) -> std::optional<std::string_view> {
    for (const Header& h : headers)
      if (iequals(h.name, name)) return std::string_view(h.value);
    return std::nullopt;
  };
}

Expected<Signer> Signer::create(const Options& options) {
  auto c = build(options, /*for_signing=*/true);
  if (!c) return Expected<Signer>::failure(c.error());
  auto state = std::make_shared<State>();
  static_cast<Common&>(*state) = std::move(c).value();
  return Signer(std::move(state));
}

std::string Signer::standard_signature(const Message& m) const {
  Digits digits(m.timestamp);
  std::string out;
  std::string ed_content;
  for (const Key& key : state_->keys) {
    if (!out.empty()) out += ' ';
    if (key.hmac) {
      out += "v1,";
      out += hmac_encoded(*key.hmac,
                          std::initializer_list<std::string_view>{m.id, ".", digits.view(), ".", m.body},
                          Encoding::kBase64);
    } else if (key.ed) {
      if (ed_content.empty())
        ed_content.append(m.id).append(".").append(digits.view()).append(".").append(m.body);
      out += "v1a,";
      out += b64_encode(key.ed->sign(ed_content));
    }
  }
  return out;
}

std::vector<Header> Signer::sign(const Message& m) const {
  const Common& c = *state_;
  const Key& first = c.keys.front();
  Digits digits(m.timestamp);
  std::vector<Header> out;
  switch (c.options.scheme) {
    case Scheme::kStandard: {
      bool svix = c.options.family == HeaderFamily::kSvix;
      out.push_back({svix ? "svix-id" : "webhook-id", std::string(m.id)});
      out.push_back({svix ? "svix-timestamp" : "webhook-timestamp", std::string(digits.view())});
      out.push_back({svix ? "svix-signature" : "webhook-signature", standard_signature(m)});
      break;
    }
    case Scheme::kStripe: {
      std::string v = "t=" + std::string(digits.view());
      for (const Key& key : c.keys)
        v += ",v1=" + hmac_encoded(*key.hmac,
                                   std::initializer_list<std::string_view>{digits.view(), ".", m.body},
                                   Encoding::kHex);
      out.push_back({"stripe-signature", std::move(v)});
      break;
    }
    case Scheme::kGithub: {
      std::string_view body[] = {m.body};
      out.push_back({"x-hub-signature-256", "sha256=" + hmac_encoded(*first.hmac, body, Encoding::kHex)});
      out.push_back({"x-hub-signature", "sha1=" + hmac_encoded(*first.hmac_sha1, body, Encoding::kHex)});
      break;
    }
    case Scheme::kShopify: {
      std::string_view body[] = {m.body};
      out.push_back({"x-shopify-hmac-sha256", hmac_encoded(*first.hmac, body, Encoding::kBase64)});
      break;
    }
    case Scheme::kGenericHmac: {
      const GenericHmacOptions& g = c.options.generic;
      std::vector<std::string_view> content;
      for (const Part& p : c.parts) {
        switch (p.kind) {
          case Part::kLiteral:
            content.push_back(p.literal);
            break;
          case Part::kId:
            content.push_back(m.id);
            break;
          case Part::kTimestamp:
            content.push_back(digits.view());
            break;
          case Part::kBody:
            content.push_back(m.body);
            break;
        }
      }
      out.push_back({g.signature_header, g.prefix + hmac_encoded(*first.hmac, content, g.encoding)});
      if (c.uses_timestamp) out.push_back({g.timestamp_header, std::string(digits.view())});
      if (c.uses_id) out.push_back({g.id_header, std::string(m.id)});
      break;
    }
    case Scheme::kStaticToken:
      out.push_back({c.options.token_header, first.token});
      break;
  }
  for (Header& h : out)
    for (char& ch : h.name)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
  return out;
}

Expected<Verifier> Verifier::create(const Options& options) {
  auto c = build(options, /*for_signing=*/false);
  if (!c) return Expected<Verifier>::failure(c.error());
  auto state = std::make_shared<State>();
  static_cast<Common&>(*state) = std::move(c).value();
  return Verifier(std::move(state));
}

VerifyResult Verifier::verify(const HeaderLookup& headers, std::string_view body, int64_t now_unix) const {
  // Fail closed on anything unexpected (allocation failure, a throwing header lookup): never propagate.
  try {
    const Common& c = *state_;
    switch (c.options.scheme) {
      case Scheme::kStandard:
        return verify_standard(c, headers, body, now_unix);
      case Scheme::kStripe:
        return verify_stripe(c, headers, body, now_unix);
      case Scheme::kGithub:
        return verify_github(c, headers, body);
      case Scheme::kShopify:
        return verify_shopify(c, headers, body);
      case Scheme::kGenericHmac:
        return verify_generic(c, headers, body, now_unix);
      case Scheme::kStaticToken:
        return verify_token(c, headers);
    }
    return fail(Failure::kNoMatchingSignature, "unknown scheme");
  } catch (const std::exception& e) {
    try {
      return fail(Failure::kNoMatchingSignature, std::string("verification aborted: ") + e.what());
    } catch (...) {
      return VerifyResult{Failure::kNoMatchingSignature, {}, -1};
    }
  } catch (...) {
    return VerifyResult{Failure::kNoMatchingSignature, {}, -1};
  }
}

std::string generate_secret() { return std::string(kWhsec) + b64_encode(secure_random(32)); }

KeyPair generate_key_pair() {
  Ed25519Key k = Ed25519Key::generate();
  std::string pub = k.public_key();
  return {std::string(kWhsk) + b64_encode(k.seed() + pub), std::string(kWhpk) + b64_encode(pub)};
}

Expected<std::string> public_key_of(std::string_view secret_key) {
  if (!secret_key.starts_with(kWhsk)) return Expected<std::string>::failure("not a whsk_ secret key");
  auto key = parse_standard_secret(secret_key, 0, true);
  if (!key) return Expected<std::string>::failure(key.error());
  return std::string(kWhpk) + b64_encode(key->ed->public_key());
}

}  // namespace hookwire::signing
