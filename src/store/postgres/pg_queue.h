// PgQueue: the PostgreSQL store's DeliveryQueue (delivery_queue.h). Leases live in the rows, so every node
// sharing the database respects them: a claim is one statement in a write (PgTx::lease_due), a renewal an
// update per lease checked against its claim_id, a settlement (Tx::settle_deliveries) likewise; release() has
// nothing to do (an unsettled lease expires in its row by itself). A dead node's leases are taken over by the
// next claim once they expire: no reaper.
// Thread-safety: any thread.
#pragma once

#include "store/delivery_queue.h"
#include "store/store.h"

namespace hookwire::store::postgres {

class PgQueue final : public DeliveryQueue {
 public:
  // `store` (the PostgresStore that owns the queue) outlives it.
  explicit PgQueue(Store& store) : store_(store) {}

  void claim(const ClaimRequest& r, std::function<void(Result<std::vector<Claim>>)> done) override;
  void renew(std::vector<LeaseToken> leases, TimePoint until,
             std::function<void(Result<std::vector<bool>>)> done) override;
  void release(const LeaseToken&, bool, TimePoint) override {}
  void stats(TimePoint now, std::function<void(Result<DeliveryQueueStats>)> done) override;

 private:
  Store& store_;
};

}  // namespace hookwire::store::postgres
