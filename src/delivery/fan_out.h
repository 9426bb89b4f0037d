// Fan-out: the deliveries a new message owes. Runs inside the transaction that inserts the message, so a
// message is never durable without its deliveries (and never has deliveries without being durable).
#pragma once

#include "core/result.h"
#include "store/store.h"

namespace hookwire::delivery {

// Whether `endpoint` subscribes to `message`: not disabled; its event-type filter (if any) names the
// message's type; its channel filter (if any) shares a channel with the message (a message without channels
// then does not match). Endpoints without filters receive everything, as in Svix.
bool endpoint_matches(const store::Endpoint& endpoint, const store::Message& message);

// A delivery of the message to the endpoint, pending and due at `now` (not yet inserted).
store::Delivery due_delivery(const std::string& app_id, const std::string& msg_id,
                             const std::string& endpoint_id, TimePoint now);

// Inserts one pending delivery, due at `now`, per matching endpoint of the message's application that is not
// pull-only (Endpoint::pull_only: a sink read through the feed). Returns how many were created. Producers
// call publish() (publish.h), which runs this.
Result<int> fan_out(store::Tx& tx, const store::Message& message, TimePoint now);

}  // namespace hookwire::delivery
