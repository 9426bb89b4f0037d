// Keys behind the signing schemes, set up once and used from many threads: HMAC with pre-keyed OpenSSL
// contexts (reused from a small pool instead of re-deriving the key pads), Ed25519 private and public keys.
// Internal to the signing module.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hookwire/signing.h"

namespace hookwire::signing {

enum class MacDigest { kSha1, kSha256, kSha512 };

// Holds the largest digest (SHA-512) so callers keep MACs on the stack.
struct MacBuffer {
  std::array<unsigned char, 64> bytes{};
  size_t size = 0;
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes.data()), size}; }
};

// An HMAC key. Immutable; mac() is safe to call from several threads at once.
class HmacKey {
 public:
  // nullopt only if OpenSSL itself fails (no HMAC provider); an empty key is the caller's business to refuse.
  static std::optional<HmacKey> create(std::string_view key, MacDigest digest);

  // MAC over the concatenation of `parts` (streamed, never copied). False on an OpenSSL failure.
  bool mac(std::span<const std::string_view> parts, MacBuffer& out) const;
  bool mac(std::initializer_list<std::string_view> parts, MacBuffer& out) const {
    return mac(std::span<const std::string_view>(parts.begin(), parts.size()), out);
  }

 private:
  struct Pool;                  // keyed EVP_MAC_CTXs: a template and the idle copies (crypto.cc)
  std::shared_ptr<Pool> pool_;  // shared by copies of this key
};

// Ed25519 key: private (can sign and verify) or public only.
class Ed25519Key {
 public:
  static constexpr size_t kSignatureSize = 64;
  static std::optional<Ed25519Key> from_seed(std::string_view seed32);
  static std::optional<Ed25519Key> from_public(std::string_view public32);
  static Ed25519Key generate();

  bool can_sign() const { return private_; }
  std::string public_key() const;  // 32 raw bytes
  std::string seed() const;        // 32 raw bytes; requires can_sign()
  // Signs `message`; empty string on OpenSSL failure.
  std::string sign(std::string_view message) const;
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
  bool private_ = false;
};

// Constant-time equality of `expected` (public length) and `given`.
bool ct_equal(std::string_view expected, std::string_view given);
// Like ct_equal for lowercase-hex `expected`, accepting `given` in either case.
bool ct_equal_hex(std::string_view expected_lower_hex, std::string_view given);
// Encoders into caller-provided stack storage (no allocation on the verify path).
std::string_view hex_into(std::string_view bytes, char* out);     // out: 2 * bytes.size()
std::string_view base64_into(std::string_view bytes, char* out);  // out: 4 * ceil(size / 3)

// Standard-alphabet base64 (padding optional, canonical trailing bits, no whitespace), like core/encoding.h
// but kept inside this module so the installed library depends on OpenSSL only.
std::optional<std::string> b64_decode(std::string_view text);
std::string b64_encode(std::string_view bytes);
// Cryptographically secure random bytes; aborts if the RNG fails (nothing is safe then).
std::string secure_random(size_t n);

}  // namespace hookwire::signing
