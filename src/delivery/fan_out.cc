#include "delivery/fan_out.h"

#include <algorithm>

#include "core/ids.h"

namespace hookwire::delivery {

bool endpoint_matches(const store::Endpoint& endpoint, const store::Message& message) {
  if (endpoint.disabled) return false;
  if (endpoint.event_types && std::find(endpoint.event_types->begin(), endpoint.event_types->end(),
                                        message.event_type) == endpoint.event_types->end())
    return false;
  if (endpoint.channels) {
    if (!message.channels) return false;
    const bool shared =
        std::any_of(message.channels->begin(), message.channels->end(), [&](const std::string& c) {
          return std::find(endpoint.channels->begin(), endpoint.channels->end(), c) !=
                 endpoint.channels->end();
        });
    if (!shared) return false;
  }
  return true;
}

store::Delivery due_delivery(const std::string& app_id, const std::string& msg_id,
                             const std::string& endpoint_id, TimePoint now) {
  store::Delivery d;
  d.id = new_id("dlv", now);
  d.app_id = app_id;
  d.msg_id = msg_id;
  d.endpoint_id = endpoint_id;
  d.status = store::Delivery::kPending;
  d.next_attempt_at = now;
  d.created_at = d.updated_at = now;
  return d;
}

Result<int> fan_out(store::Tx& tx, const store::Message& message, TimePoint now) {
  int created = 0;
  auto endpoints = tx.list_enabled_endpoints(message.app_id);
  if (!endpoints.ok()) return endpoints.take_error();
  for (const auto& ep : *endpoints) {
    if (ep.pull_only || !endpoint_matches(ep, message)) continue;  // a sink is read, never pushed to
    if (auto st = tx.insert_delivery(due_delivery(message.app_id, message.id, ep.id, now)); !st.ok())
      return st.take_error();
    ++created;
  }
  return created;
}

}  // namespace hookwire::delivery
