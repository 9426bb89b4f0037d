#include "api/v1/tokens.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cassert>
#include <mutex>
#include <stdexcept>

#include "core/encoding.h"
#include "core/ids.h"

namespace hookwire::api::v1 {

namespace {
constexpr std::string_view kTokenIdPrefix = "tok";
constexpr size_t kTextBody = 32;  // characters after the prefix: 192 bits of the MAC

std::string_view prefix_of(int kind) {
  switch (kind) {
    case store::ApiToken::kAppPortal:
      return kAppPortalTokenPrefix;
    case store::ApiToken::kAppPortalLink:
      return kPortalLinkPrefix;
    case store::ApiToken::kPortalSession:
      return kPortalSessionPrefix;
    case store::ApiToken::kConsoleSession:
      return kConsoleSessionPrefix;
    default:
      return kPollerTokenPrefix;
  }
}

constexpr int kKinds[] = {store::ApiToken::kPoller, store::ApiToken::kAppPortal,
                          store::ApiToken::kAppPortalLink, store::ApiToken::kPortalSession,
                          store::ApiToken::kConsoleSession};

std::string hmac_sha256(const std::string& key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// base64url without padding (RFC 4648 §5): the token body is safe in a URL fragment and a header.
std::string base64url(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}
}  // namespace

bool capability::is_known(std::string_view name) {
  return std::find(std::begin(kAll), std::end(kAll), name) != std::end(kAll);
}

std::string token_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr))
    throw std::runtime_error("SHA-256 failed");
  return hex_encode({reinterpret_cast<const char*>(digest), len});
}

TokenRegistry::TokenRegistry(std::string key) : key_(std::move(key)) { assert(key_.size() == kTokenKeySize); }

std::string TokenRegistry::text_of(const store::ApiToken& t) const {
  return std::string(prefix_of(t.kind)) + base64url(hmac_sha256(key_, t.id)).substr(0, kTextBody);
}

std::string TokenRegistry::csrf_of(const store::ApiToken& session) const {
  return base64url(hmac_sha256(key_, "csrf:" + session.id));
}

bool TokenRegistry::has_shape(std::string_view presented, int kind) {
  const auto prefix = prefix_of(kind);
  return presented.starts_with(prefix) && presented.size() == prefix.size() + kTextBody;
}

store::ApiToken TokenRegistry::mint(store::ApiToken::Kind kind, std::string app_id,
                                    std::optional<std::string> endpoint_id,
                                    std::vector<std::string> capabilities, TimePoint now,
                                    std::optional<TimePoint> expires_at) const {
  store::ApiToken t;
  t.id = new_id(kTokenIdPrefix, now);
  t.kind = kind;
  t.app_id = std::move(app_id);
  t.endpoint_id = std::move(endpoint_id);
  t.capabilities = std::move(capabilities);
  t.created_at = now;
  t.expires_at = expires_at;
  t.hash = token_hash(text_of(t));
  return t;
}

void TokenRegistry::load(std::vector<store::ApiToken> tokens) {
  std::unique_lock lock(mu_);
  by_hash_.clear();
  hash_by_id_.clear();
  for (auto& t : tokens) {
    hash_by_id_[t.id] = t.hash;
    auto hash = t.hash;
    by_hash_[std::move(hash)] = std::move(t);
  }
}

void TokenRegistry::put(const store::ApiToken& t) {
  std::unique_lock lock(mu_);
  auto old = hash_by_id_.find(t.id);
  store::ApiToken record = t;
  if (old != hash_by_id_.end()) {
    auto it = by_hash_.find(old->second);
    if (it != by_hash_.end()) {
      const auto& had = it->second.expires_at;
      if (had && (!record.expires_at || *had < *record.expires_at)) record.expires_at = had;
      by_hash_.erase(it);
    }
  }
  hash_by_id_[record.id] = record.hash;
  auto hash = record.hash;
  by_hash_[std::move(hash)] = std::move(record);
}

void TokenRegistry::erase_expired_before(TimePoint t) {
  std::unique_lock lock(mu_);
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (it->second.expires_at && *it->second.expires_at < t) {
      hash_by_id_.erase(it->second.id);
      it = by_hash_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<store::ApiToken> TokenRegistry::find(std::string_view presented) const {
  const bool known_shape =
      std::any_of(std::begin(kKinds), std::end(kKinds), [&](int kind) { return has_shape(presented, kind); });
  if (!known_shape) return std::nullopt;
  const std::string hash = token_hash(presented);
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  // The prefix is part of the hashed text, so a poller text can only match a poller token; checked anyway.
  if (!presented.starts_with(prefix_of(it->second.kind))) return std::nullopt;
  return it->second;
}

size_t TokenRegistry::size() const {
  std::shared_lock lock(mu_);
  return by_hash_.size();
}

}  // namespace hookwire::api::v1
