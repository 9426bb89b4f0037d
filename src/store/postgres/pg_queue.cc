#include "store/postgres/pg_queue.h"

#include <memory>
#include <optional>

#include "store/async.h"
#include "store/postgres/pg_tx.h"

namespace hookwire::store::postgres {

namespace {

// The PgTx behind a Tx the store gave (an UnavailableTx when it is stopped or the database unreachable).
PgTx* pg_tx(Tx& tx) { return dynamic_cast<PgTx*>(&tx); }

// `fn(PgTx&)` in a write acknowledged at commit (Ack::kCommitted): a lease lost to a power cut only means a
// delivery sent again.
template <class T, class Fn>
void write_for(Store& store, Fn fn, std::function<void(Result<T>)> done) {
  write_then<T>(
      store,
      [fn = std::move(fn)](Tx& tx) mutable -> Result<T> {
        PgTx* pg = pg_tx(tx);
        if (!pg) return Error::unavailable("store is not available");
        return fn(*pg);
      },
      std::move(done), Ack::kCommitted);
}

}  // namespace

void PgQueue::claim(const ClaimRequest& r, std::function<void(Result<std::vector<Claim>>)> done) {
  write_for<std::vector<Claim>>(
      store_, [r](PgTx& tx) { return tx.lease_due(r); }, std::move(done));
}

void PgQueue::renew(std::vector<LeaseToken> leases, TimePoint until,
                    std::function<void(Result<std::vector<bool>>)> done) {
  write_for<std::vector<bool>>(
      store_, [leases = std::move(leases), until](PgTx& tx) { return tx.renew_leases(leases, until); },
      std::move(done));
}

void PgQueue::stats(TimePoint now, std::function<void(Result<DeliveryQueueStats>)> done) {
  read_then<DeliveryQueueStats>(
      store_,
      [now](Tx& tx) -> Result<DeliveryQueueStats> {
        PgTx* pg = pg_tx(tx);
        if (!pg) return Error::unavailable("store is not available");
        return pg->queue_stats(now);
      },
      std::move(done));
}

}  // namespace hookwire::store::postgres
