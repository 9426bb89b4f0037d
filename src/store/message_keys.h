// Message creation with an idempotency key, shared by the API (`idempotency-key`) and the inbound gateway
// (deduplication keys): both keep the key in the message row, unique per application
// (Message::idempotency_key).
#pragma once

#include <chrono>
#include <optional>

#include "store/store.h"

namespace hookwire::store {

// Inserts `msg` (which gets its id, as from Tx::insert_message). Its key, if it has one, may be held by an
// earlier message: one younger than `ttl` at `now` keeps it, nothing is inserted, and that message comes back
// (its idempotency_key and request_hash set); an older one gives the key up to `msg`. The insert goes first,
// so a new key costs no lookup. Any other error, the kConflict of a taken eventId included, comes back as it
// is.
Result<std::optional<Message>> insert_message_once(Tx& tx, Message& msg, std::chrono::seconds ttl,
                                                   TimePoint now);

}  // namespace hookwire::store
