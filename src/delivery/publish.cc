#include "delivery/publish.h"

#include "delivery/fan_out.h"
#include "store/message_keys.h"

namespace hookwire::delivery {

Result<Published> publish(store::Tx& tx, store::Message& msg, std::chrono::seconds key_ttl, TimePoint now) {
  auto held = store::insert_message_once(tx, msg, key_ttl, now);
  if (!held) return held.take_error();
  Published out;
  if (*held) {
    out.held = std::move(*held);
    return out;
  }
  out.id = msg.id;
  auto n = fan_out(tx, msg, now);
  if (!n) return n.take_error();
  out.deliveries = *n;
  return out;
}

}  // namespace hookwire::delivery
