#include "delivery/endpoint_secret.h"

#include <hookwire/signing.h>

#include <cctype>

#include "core/encoding.h"

namespace hookwire::delivery {
namespace {
constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kAsymmetricPrefix = "whsk_";
}  // namespace

Result<std::string> normalize_endpoint_secret(std::string_view s, std::string_view field) {
  if (s.starts_with(kAsymmetricPrefix)) {
    auto public_key = signing::public_key_of(s);
    if (!public_key)
      return Error::validation(std::string(field), "is not a usable whsk_ key: " + public_key.error());
    return std::string(s);
  }
  auto invalid = [&] {
    return Error::validation(std::string(field),
                             "must be whsec_ followed by base64 of 24 to 64 bytes, or a whsk_ Ed25519 key");
  };
  if (s.starts_with(kSecretPrefix)) s.remove_prefix(kSecretPrefix.size());
  if (s.size() < 32 || s.size() > 100) return invalid();
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '+' && c != '/' && c != '=') return invalid();
  auto bytes = base64_decode(s);
  if (!bytes || bytes->size() < 24 || bytes->size() > 64) return invalid();
  return std::string(kSecretPrefix) + std::string(s);
}

}  // namespace hookwire::delivery
