// Operational webhooks: hookwire tells the operator about its own delivery trouble, in Svix's contract —
// `endpoint.disabled`, `message.attempt.exhausted`, `message.attempt.failing`, `message.attempt.recovered`,
// each a JSON body `{"type": ..., "data": {...}}` shaped like Svix's *Event schemas.
//
// They are ordinary messages of one application, the operational application (uid `hookwire-operational`),
// whose one endpoint is the configured operational URL. So they are signed (Standard Webhooks, the endpoint's
// secret, readable through the endpoint secret API), retried, logged and recoverable like every other
// delivery; and the dispatcher writes them in the same transaction as the attempt that caused them, so an
// event is never lost and never sent for an attempt that was not recorded. Trouble delivering to the
// operational endpoint itself never raises further operational events.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace hookwire::delivery {

inline constexpr std::string_view kOperationalAppUid = "hookwire-operational";
inline constexpr std::string_view kOperationalEndpointUid = "operational";

struct OperationalConfig {
  std::string url;                    // where operational webhooks go
  std::optional<std::string> secret;  // whsec_/whsk_ key; nullopt: keep the stored one, or generate one
};

// An event ready to be stored as a message of the operational application.
struct OperationalEvent {
  std::string type;     // e.g. "endpoint.disabled"
  std::string payload;  // {"type": type, "data": {...}}
};

// The last attempt, as Svix's MessageAttempetLast reports it.
struct LastAttempt {
  std::string id;
  int response_status_code = 0;
  TimePoint timestamp;
};

// `endpoint.disabled`: `fail_since` is when the endpoint started failing (the streak start, or the 410).
OperationalEvent endpoint_disabled_event(const store::Application& app, const store::Endpoint& endpoint,
                                         TimePoint fail_since);
// `message.attempt.exhausted` / `.failing` / `.recovered` (`type` is one of those three names).
OperationalEvent message_attempt_event(std::string_view type, const store::Application& app,
                                       std::string_view endpoint_id, std::string_view msg_id,
                                       const std::optional<std::string>& msg_event_id,
                                       const LastAttempt& last);

// Publishes `event` as a new message of the operational application `operational_app_id` (publish.h, inside
// the caller's transaction: the dispatcher's attempt record, after which it looks for due work again).
// Returns how many deliveries were created.
Result<int> emit_operational(store::Tx& tx, std::string_view operational_app_id,
                             const OperationalEvent& event, TimePoint now);

// Creates or updates the operational application and its endpoint: the URL from `config`; the secret from
// `config` if given, else the stored one, else a generated whsec_ key; enabled. Returns the application's id.
Result<std::string> ensure_operational_app(store::Tx& tx, const OperationalConfig& config, TimePoint now);

}  // namespace hookwire::delivery
