// Publishing: the one way a message enters the log. Every producer (the message API, the inbound gateway,
// operational webhooks) calls publish() inside its write transaction, and published() once that transaction
// is durable. Readers of the feed need nothing from here: the store tells the feed hub after each durable
// batch that inserted messages (Store::set_feed_listener).
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace hookwire::delivery {

// What publish() did.
struct Published {
  // The message holding `msg`'s idempotency key, when one younger than the key TTL did: nothing was inserted
  // (a replay, or an inbound duplicate). Its idempotency_key and request_hash are set.
  std::optional<store::Message> held;
  int deliveries = 0;  // push deliveries created by fan-out (0 when held)
  std::string id;      // the id the store gave the inserted message ("" when held)
};

// Runs inside the caller's write transaction (and like any write function may run more than once). Inserts
// `msg` (app_id, event type, payload and created_at set by the caller; the store gives its id, set in `msg`
// and in Published::id, and its position)
// unless its idempotency key, if it has one, is held by a message younger than `key_ttl` at `now` (an older
// holder gives the key up: store::insert_message_once); then fans it out (fan_out: one pending delivery per
// matching push endpoint), so the message is never durable without its deliveries. Errors are the store's,
// the kConflict of a taken eventId included. Costs no copy of the message and no read on a new key.
Result<Published> publish(store::Tx& tx, store::Message& msg, std::chrono::seconds key_ttl, TimePoint now);

// After the transaction that ran publish() is durable: wakes the dispatcher (`wake`; may be empty) if
// deliveries were created.
inline void published(const Published& result, const std::function<void()>& wake) {
  if (result.deliveries > 0 && wake) wake();
}

}  // namespace hookwire::delivery
