// DeliveryQueue: how the dispatcher takes due deliveries from a store and gives them back, the same for every
// backend: leases in memory for the embedded SQLite store (one process owns its file), in rows for a
// database several nodes share.
//
// A claim leases due deliveries (pending, or leased with a lease that has expired: a dead holder's work is
// taken over by the next claim) until `lease_until`; nobody else is given a leased delivery before then. The
// holder keeps it longer with renew(), and ends it by settling it (Tx::settle_deliveries, inside the write
// that records the attempt) and then release(). Every lease carries a fence: a holder whose lease expired and
// was taken over is refused when it settles (kFenced) or renews (false), so its late record never overwrites
// the state the new holder owns.
//
// Choosing what is due is the queue's (oldest due first, a share per endpoint, rows read past an endpoint's
// share and overdue moved behind: due at `now`). Judging a claimed delivery (message or endpoint gone,
// endpoint disabled, payload expunged) is the caller's (delivery/due_rules.h): a claim returns such
// deliveries leased like the others, with what is missing left empty.
//
// Thread-safety: every method may be called from any thread; `done` runs on a store thread and must only
// hand the result over.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/model.h"

namespace hookwire::store {

// A lease on one delivery, as the queue that granted it gave it. Opaque: its handle and fence are read
// only by the store (store/lease_tokens.h).
class LeaseToken {
 public:
  LeaseToken() = default;
  const std::string& delivery_id() const { return delivery_id_; }
  // The same grant of the same delivery.
  friend bool operator==(const LeaseToken&, const LeaseToken&) = default;

 private:
  friend struct LeaseTokens;
  std::string delivery_id_;
  int64_t handle_ = 0;  // where the row is (SQLite: its rowid), or 0
  int64_t fence_ = 0;   // which grant this is: refused once another claim holds the delivery
};

struct ClaimRequest {
  TimePoint now;
  TimePoint lease_until;  // after `now`
  int limit = 256;        // most deliveries leased
  int per_endpoint = 30;  // most of them for any one endpoint
};

// A leased delivery with what sending it needs.
struct Claim {
  LeaseToken lease;
  Delivery delivery;               // as it was before the lease (status, attempts, manual)
  std::optional<Message> message;  // nullopt: deleted
  // Null: deleted. Shared (read-only) by the claims of one batch to the same endpoint.
  std::shared_ptr<const Endpoint> endpoint;
};

// A leased delivery's next state (Tx::settle_deliveries): `next`'s status, attempts, manual, next_attempt_at
// and updated_at are written; its other fields are ignored.
struct Settlement {
  const LeaseToken* lease = nullptr;
  const Delivery* next = nullptr;
};
enum class Settled {
  kDone,
  kFenced,  // the lease had expired and another claim holds the delivery now: nothing written
  kGone,    // the delivery was deleted meanwhile: nothing written
};

class DeliveryQueue {
 public:
  virtual ~DeliveryQueue() = default;

  // Leases up to r.limit due deliveries, oldest due first, at most r.per_endpoint per endpoint.
  virtual void claim(const ClaimRequest& r, std::function<void(Result<std::vector<Claim>>)> done) = 0;
  // Extends the leases that are still held to `until`; per lease, whether it was (false: expired and taken
  // over, or already settled).
  virtual void renew(std::vector<LeaseToken> leases, TimePoint until,
                     std::function<void(Result<std::vector<bool>>)> done) = 0;
  // After the write that settled `lease` (written: committed) or failed to. A lease whose settlement was not
  // written stays held until `hold_until`, then expires (its delivery is sent again then, not at once: a
  // failing store must not turn into a storm of repeated sends).
  virtual void release(const LeaseToken& lease, bool written, TimePoint hold_until) = 0;
  // Live deliveries by state and the oldest due one (queue metrics).
  virtual void stats(TimePoint now, std::function<void(Result<DeliveryQueueStats>)> done) = 0;
};

}  // namespace hookwire::store
