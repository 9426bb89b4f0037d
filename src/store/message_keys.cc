#include "store/message_keys.h"

namespace hookwire::store {

Result<std::optional<Message>> insert_message_once(Tx& tx, Message& msg, std::chrono::seconds ttl,
                                                   TimePoint now) {
  // A failed insert changes nothing, so a used key costs one failed insert and one lookup.
  for (bool retried = false;; retried = true) {
    auto st = tx.insert_message(msg);
    if (st) return std::optional<Message>();
    if (st.error().code != Errc::kConflict || !msg.idempotency_key || retried) return st.take_error();
    auto prior = tx.get_message_by_idempotency_key(msg.app_id, *msg.idempotency_key);
    if (!prior) return prior.error().code == Errc::kNotFound ? st.take_error() : prior.take_error();
    if (prior->created_at + ttl > now) return std::optional<Message>(std::move(*prior));
    // Expired: the key is free again.
    if (auto cleared = tx.clear_message_idempotency_key(msg.app_id, prior->id); !cleared)
      return cleared.take_error();
  }
}

}  // namespace hookwire::store
