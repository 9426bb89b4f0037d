// Scoped tokens (issue #19): credentials narrower than the admin token. A poller token (`sk_poll_...`) reads
// one sink; an app-portal token (`appsk_...`) acts on one application with Svix's capabilities. Browser
// sessions (issue #22, sessions.cc) are tokens too: a one-time portal link (`applink_...`, redeemed once for
// a session), a portal session (`hwportal_...`, acts as an app-portal token) and a console session
// (`hwconsole_...`, acts as the admin token); a session's text is only ever its cookie's value, a link's only
// the login route's input: neither is accepted as a bearer token.
//
// A token's text is derived, never stored: prefix + base64url(HMAC-SHA256(token key, token id)), cut to 32
// characters (192 bits), so GET .../poller/{sink}/token can show the current one again. The store keeps only
// the hex SHA-256 of the text (store::ApiToken::hash). The token key is 32 random bytes kept in a 0600 file
// of the data directory (app/app.h load_token_key); losing it makes the existing tokens unshowable, not
// invalid (their hashes still match what their holders present).
//
// TokenRegistry keeps every token in memory, by hash, so an admission checks a presented token on the request
// head without a store read. The app loads it from the store at start and updates it after each committed
// change. Thread-safe.
#pragma once

#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "store/model.h"

namespace hookwire::api::v1 {

inline constexpr std::string_view kPollerTokenPrefix = "sk_poll_";
inline constexpr std::string_view kAppPortalTokenPrefix = "appsk_";
inline constexpr std::string_view kPortalLinkPrefix = "applink_";
inline constexpr std::string_view kPortalSessionPrefix = "hwportal_";
inline constexpr std::string_view kConsoleSessionPrefix = "hwconsole_";
inline constexpr size_t kTokenKeySize = 32;

// Svix's AppPortalCapability names.
namespace capability {
inline constexpr std::string_view kViewBase = "ViewBase";
inline constexpr std::string_view kViewEndpointSecret = "ViewEndpointSecret";
inline constexpr std::string_view kManageEndpointSecret = "ManageEndpointSecret";
inline constexpr std::string_view kManageTransformations = "ManageTransformations";
inline constexpr std::string_view kCreateAttempts = "CreateAttempts";
inline constexpr std::string_view kManageEndpoint = "ManageEndpoint";
inline constexpr std::string_view kAll[] = {
    kViewBase,       kViewEndpointSecret, kManageEndpointSecret, kManageTransformations,
    kCreateAttempts, kManageEndpoint};
bool is_known(std::string_view name);
}  // namespace capability

// The hex SHA-256 of a token's text: what the store keeps.
std::string token_hash(std::string_view text);

class TokenRegistry {
 public:
  // `key`: the token key (kTokenKeySize bytes).
  explicit TokenRegistry(std::string key);

  // The text of `t`, derived from its id and kind.
  std::string text_of(const store::ApiToken& t) const;
  // A session's CSRF token, derived (never stored): base64url(HMAC-SHA256(key, "csrf:" + its id)).
  std::string csrf_of(const store::ApiToken& session) const;
  // A new token (fresh id, hash of its text set); nothing is recorded.
  store::ApiToken mint(store::ApiToken::Kind kind, std::string app_id, std::optional<std::string> endpoint_id,
                       std::vector<std::string> capabilities, TimePoint now,
                       std::optional<TimePoint> expires_at) const;

  // Replaces everything known (at start, from Tx::list_tokens).
  void load(std::vector<store::ApiToken> tokens);
  // Records a committed token: added, or replacing the one with its id. A token's expiry only ever moves
  // earlier (rotation shortens, nothing lengthens), so the earlier of the two expiries is kept: records of
  // concurrent changes may arrive here out of commit order.
  void put(const store::ApiToken& t);
  // Forgets the tokens whose expiry is before `t` (after Tx::delete_tokens_expired_before(t) committed).
  void erase_expired_before(TimePoint t);

  // The token whose text is `presented`, whatever its expiry and kind (callers check both); nullopt if none.
  // Only texts with a known prefix and length are hashed and looked up.
  std::optional<store::ApiToken> find(std::string_view presented) const;
  // Whether `presented` has the shape of a token of `kind` (its prefix and length); nothing is looked up.
  static bool has_shape(std::string_view presented, int kind);
  size_t size() const;

 private:
  std::string key_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, store::ApiToken> by_hash_;
  std::unordered_map<std::string, std::string> hash_by_id_;
};

}  // namespace hookwire::api::v1
