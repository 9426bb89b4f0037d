#include "signing/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace hookwire::signing {
namespace {

// Fetched once: EVP_MAC_fetch is a table lookup under a lock, too slow for every message.
EVP_MAC* hmac_algorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

const char* digest_name(MacDigest d) {
  switch (d) {
    case MacDigest::kSha1:
      return "SHA1";
    case MacDigest::kSha256:
      return "SHA256";
    case MacDigest::kSha512:
      return "SHA512";
  }
  return "SHA256";
}

void free_pkey(void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); }

}  // namespace

// The keyed template is only read (duplicated), so it needs no lock. A context that has computed a MAC is
// kept for the next call: re-initialising it without a key restores the precomputed inner/outer pad
// states, with none of the allocations EVP_MAC_CTX_dup and EVP_MAC_CTX_free make (about a third of the cost
// of a 1 KB HMAC). The pool holds at most as many contexts as there were concurrent callers.
struct HmacKey::Pool {
  EVP_MAC_CTX* keyed = nullptr;
  std::mutex mu;
  std::vector<EVP_MAC_CTX*> idle;

  ~Pool() {
    for (EVP_MAC_CTX* c : idle) EVP_MAC_CTX_free(c);
    EVP_MAC_CTX_free(keyed);
  }
  EVP_MAC_CTX* take() {
    EVP_MAC_CTX* c = nullptr;
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        c = idle.back();
        idle.pop_back();
      }
    }
    if (c != nullptr) {
      if (EVP_MAC_init(c, nullptr, 0, nullptr) == 1) return c;  // same key, fresh state
      EVP_MAC_CTX_free(c);
    }
    return EVP_MAC_CTX_dup(keyed);
  }
  void give_back(EVP_MAC_CTX* c) {
    std::lock_guard lock(mu);
    idle.push_back(c);
  }
};

std::optional<HmacKey> HmacKey::create(std::string_view key, MacDigest digest) {
  EVP_MAC* mac = hmac_algorithm();
  if (mac == nullptr) return std::nullopt;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (ctx == nullptr) return std::nullopt;
  HmacKey k;
  k.pool_ = std::make_shared<Pool>();
  k.pool_->keyed = ctx;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(digest)), 0),
      OSSL_PARAM_construct_end(),
  };
  // A zero-length key needs a non-null pointer.
  static const unsigned char kEmpty = 0;
  const auto* key_bytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, key_bytes, key.size(), params) != 1) return std::nullopt;
  return k;
}

bool HmacKey::mac(std::span<const std::string_view> parts, MacBuffer& out) const {
  EVP_MAC_CTX* ctx = pool_->take();
  if (ctx == nullptr) return false;
  bool ok = true;
  for (std::string_view p : parts) {
    if (!p.empty() && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) != 1) {
      ok = false;
      break;
    }
  }
  size_t len = 0;
  ok = ok && EVP_MAC_final(ctx, out.bytes.data(), &len, out.bytes.size()) == 1;
  out.size = ok ? len : 0;
  if (ok) {
    pool_->give_back(ctx);
  } else {
    EVP_MAC_CTX_free(ctx);  // its state is unknown
  }
  return ok;
}

std::optional<Ed25519Key> Ed25519Key::from_seed(std::string_view seed32) {
  if (seed32.size() != 32) return std::nullopt;
  EVP_PKEY* p = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(seed32.data()), 32);
  if (p == nullptr) return std::nullopt;
  Ed25519Key k;
  k.pkey_ = std::shared_ptr<void>(p, free_pkey);
  k.private_ = true;
  return k;
}

std::optional<Ed25519Key> Ed25519Key::from_public(std::string_view public32) {
  if (public32.size() != 32) return std::nullopt;
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const unsigned char*>(public32.data()), 32);
  if (p == nullptr) return std::nullopt;
  Ed25519Key k;
  k.pkey_ = std::shared_ptr<void>(p, free_pkey);
  return k;
}

Ed25519Key Ed25519Key::generate() {
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (p == nullptr) std::abort();  // RNG or provider failure: nothing is safe then
  Ed25519Key k;
  k.pkey_ = std::shared_ptr<void>(p, free_pkey);
  k.private_ = true;
  return k;
}

std::string Ed25519Key::public_key() const {
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(static_cast<EVP_PKEY*>(pkey_.get()),
                                  reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != 32)
    return {};
  return out;
}

std::string Ed25519Key::seed() const {
  std::string out(32, '\0');
  size_t len = out.size();
  if (!private_ ||
      EVP_PKEY_get_raw_private_key(static_cast<EVP_PKEY*>(pkey_.get()),
                                   reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != 32)
    return {};
  return out;
}

std::string Ed25519Key::sign(std::string_view message) const {
  if (!private_) return {};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return {};
  std::string sig(kSignatureSize, '\0');
  size_t len = sig.size();
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
            len == kSignatureSize;
  EVP_MD_CTX_free(ctx);
  return ok ? sig : std::string{};
}

bool Ed25519Key::verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kSignatureSize) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

bool ct_equal(std::string_view expected, std::string_view given) {
  // The length of `expected` is public (it is fixed by the scheme), so an early exit on length leaks nothing.
  if (expected.size() != given.size()) return false;
  return expected.empty() || CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

bool ct_equal_hex(std::string_view expected_lower_hex, std::string_view given) {
  constexpr size_t kMax = 128;  // SHA-512 in hex
  if (given.size() != expected_lower_hex.size() || given.size() > kMax) return false;
  char lowered[kMax];
  for (size_t i = 0; i < given.size(); ++i) {
    char c = given[i];
    lowered[i] = static_cast<char>(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));  // branch on data, not secret
  }
  return ct_equal(expected_lower_hex, std::string_view(lowered, given.size()));
}

std::string_view hex_into(std::string_view bytes, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[c >> 4];
    out[2 * i + 1] = kHex[c & 15];
  }
  return {out, bytes.size() * 2};
}

std::string_view base64_into(std::string_view in, char* out) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0, i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out[o++] = kB64[(v >> 18) & 63];
    out[o++] = kB64[(v >> 12) & 63];
    out[o++] = kB64[(v >> 6) & 63];
    out[o++] = kB64[v & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out[o++] = kB64[(v >> 18) & 63];
    out[o++] = kB64[(v >> 12) & 63];
    out[o++] = rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return {out, o};
}

std::optional<std::string> b64_decode(std::string_view in) {
  static constexpr auto kTable = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kB64[i])] = static_cast<int8_t>(i);
    return t;
  }();
  size_t pad = 0;
  while (!in.empty() && in.back() == '=' && pad < 2) {
    in.remove_suffix(1);
    ++pad;
  }
  if (in.size() % 4 == 1) return std::nullopt;
  if (pad > 0 && (in.size() + pad) % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

std::string b64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4, '\0');
  base64_into(bytes, out.data());
  return out;
}

std::string secure_random(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    std::abort();
  return out;
}

}  // namespace hookwire::signing
