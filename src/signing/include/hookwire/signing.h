// hookwire signing: sign and verify webhooks the way Standard Webhooks (v1 HMAC-SHA256, v1a Ed25519), Svix,
// Stripe, GitHub, Shopify and generic HMAC providers do. Pure functions: no I/O, no clock (the caller passes
// `now`), no global state beyond OpenSSL's algorithm tables.
//
// Two callers shape the API:
//   - a sender (hookwire's delivery engine) builds one `Signer` per endpoint secret set and calls `sign()`
//   per
//     message; during rotation several secrets produce one `webhook-signature` value "v1,AAA= v1,BBB=".
//   - a receiver (hookwire's inbound gateway, or your own program) builds one `Verifier` per source and calls
//     `verify()` per request with a case-insensitive header lookup, the raw body bytes and the current time.
// Secrets are parsed (and keys set up) once, at create(); sign()/verify() never re-decode them.
//
// Thread-safety: Signer and Verifier are immutable after create(); copies share state; every const member may
// be called from any number of threads at once. verify() never throws and never crashes on hostile input:
// every failure comes back as a VerifyResult saying why. Comparisons of signatures are constant-time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookwire::signing {

// Setup-time outcome (create(), secret parsing): a value, or a human-readable reason that names the problem
// ("whsec_ secret decodes to 10 bytes; Standard Webhooks secrets are 24 to 64 bytes"). Never contains the
// secret.
template <class T>
class Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static Expected failure(std::string message) { return Expected(std::move(message), 0); }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  Expected(std::string message, int) : error_(std::move(message)) {}
  std::optional<T> value_;
  std::string error_;
};

// Why a verification failed. Stable names (to_string) are suitable for logs and metrics labels.
enum class Failure {
  kNone,                 // verified
  kMissingHeader,        // a required header is absent or empty
  kMalformedHeader,      // a header is present but cannot be parsed
  kTimestampTooOld,      // signed timestamp < now - tolerance (possible replay)
  kTimestampTooNew,      // signed timestamp > now + tolerance (clock skew or forgery)
  kNoMatchingSignature,  // well-formed, in time, but no signature matches any secret
};
std::string_view to_string(Failure f);

struct VerifyResult {
  Failure reason = Failure::kNone;
  std::string message;  // human text, safe to log: never contains secrets or expected signatures
  int key_index = -1;   // on success, the index of the secret that matched (rotation bookkeeping)

  bool ok() const { return reason == Failure::kNone; }
  explicit operator bool() const { return ok(); }
};

enum class Scheme {
  kStandard,     // Standard Webhooks / Svix: webhook-* or svix-* headers, v1 (whsec_) and v1a (whsk_/whpk_)
  kStripe,       // Stripe-Signature: t=..,v1=..; secret used verbatim
  kGithub,       // X-Hub-Signature-256: sha256=<hex>; legacy X-Hub-Signature: sha1=<hex>
  kShopify,      // X-Shopify-Hmac-SHA256: base64
  kGenericHmac,  // configurable: see GenericHmacOptions
  kStaticToken,  // a shared token in a header, compared in constant time
};
// "standard" (aliases "webhook", "standardwebhooks", "svix"), "stripe", "github", "shopify", "generic",
// "token".
std::optional<Scheme> parse_scheme(std::string_view name);
std::string_view to_string(Scheme s);

enum class HeaderFamily { kWebhook, kSvix };  // which names a Standard signer emits; verifiers accept both
enum class Encoding { kHex, kBase64 };
enum class Digest { kSha256, kSha512 };

// A provider's homemade HMAC. The defaults describe `X-Webhook-Signature: hex(HMAC-SHA256(secret,
// "{timestamp}.{body}"))` with `X-Webhook-Timestamp`.
struct GenericHmacOptions {
  std::string signature_header = "x-webhook-signature";
  std::string timestamp_header = "x-webhook-timestamp";  // required when the template uses {timestamp}
  std::string id_header;                                 // required when the template uses {id}
  std::string prefix;                                    // e.g. "sha256=", stripped before decoding
  std::string content_template = "{timestamp}.{body}";   // literal text and {id}, {timestamp}, {body}
  Encoding encoding = Encoding::kHex;
  bool secret_is_base64 = false;  // false: the secret's bytes are the key; true: base64-decode it first
  Digest digest = Digest::kSha256;
};

struct Options {
  Scheme scheme = Scheme::kStandard;
  // One or more secrets, in the scheme's format: Standard whsec_/whsk_ (signing) and whsec_/whsk_/whpk_
  // (verifying); everything else verbatim (or base64 for generic with secret_is_base64). Verifiers accept a
  // signature made with any of them (rotation); Standard signers sign with all of them; signers of schemes
  // that carry one signature use the first.
  std::vector<std::string> secrets;
  // Accepted distance between the signed timestamp and `now`, both directions, for schemes with timestamps.
  std::chrono::seconds tolerance{300};
  HeaderFamily family = HeaderFamily::kWebhook;  // Standard signer only
  bool github_allow_sha1 = true;                 // verify legacy sha1= when X-Hub-Signature-256 is absent
  std::string token_header = "x-webhook-token";  // kStaticToken
  GenericHmacOptions generic;                    // kGenericHmac
};

struct Header {
  std::string name;  // lowercase
  std::string value;
};

// Returns the value of the header called `name` (ASCII case-insensitive), or nullopt. The returned view must
// stay valid for the duration of the verify() call.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;
// A lookup over a list of headers; first match wins. `headers` must outlive the returned function.
HeaderLookup lookup_in(std::span<const Header> headers);

struct Message {
  std::string_view id;    // Standard Webhooks msg id; used by generic templates with {id}
  int64_t timestamp = 0;  // Unix seconds
  std::string_view body;  // the exact bytes sent on the wire
};

class Signer {
 public:
  // Fails if a secret is malformed or cannot sign (a whpk_ public key, an empty secret).
  static Expected<Signer> create(const Options& options);

  // The headers to add to the request (lowercase names).
  std::vector<Header> sign(const Message& message) const;
  // Standard only: the `webhook-signature` value, one "v1,<base64>" / "v1a,<base64>" entry per secret.
  std::string standard_signature(const Message& message) const;

  struct State;

 private:
  explicit Signer(std::shared_ptr<const State> s) : state_(std::move(s)) {}
  std::shared_ptr<const State> state_;
};

class Verifier {
 public:
  // Fails if a secret is malformed or the options are inconsistent (e.g. a template using {id} without
  // id_header).
  static Expected<Verifier> create(const Options& options);

  // `now_unix` is the receiver's current time in Unix seconds. Never throws.
  VerifyResult verify(const HeaderLookup& headers, std::string_view body, int64_t now_unix) const;

  struct State;

 private:
  explicit Verifier(std::shared_ptr<const State> s) : state_(std::move(s)) {}
  std::shared_ptr<const State> state_;
};

// Secrets. Fresh symmetric secret: "whsec_" + base64(32 random bytes).
std::string generate_secret();
struct KeyPair {
  std::string secret_key;  // "whsk_" + base64(seed ‖ public key), 64 bytes
  std::string public_key;  // "whpk_" + base64(public key), 32 bytes
};
KeyPair generate_key_pair();
// The whpk_ public key of a whsk_ secret key; fails with a reason if the key is malformed.
Expected<std::string> public_key_of(std::string_view secret_key);

}  // namespace hookwire::signing
