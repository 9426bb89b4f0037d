#include "store/postgres/pg_queue.h"

#include <memory>
#include <optional>

#include "store/postgres/pg_tx.h"

namespace hookwire::store::postgres {

namespace {

// The PgTx behind a Tx the store gave (an UnavailableTx when it is stopped or the database unreachable).
PgTx* pg_tx(Tx& tx) { return dynamic_cast<PgTx*>(&tx); }

// Runs `fn(PgTx&)` -> Result<T> in a write and hands its result to `done` once committed. The dispatcher's
// bookkeeping is acknowledged at commit (Ack::kCommitted): a lost lease only means a delivery sent again.
template <class T, class Fn>
void write_for(Store& store, Fn fn, std::function<void(Result<T>)> done) {
  auto out = std::make_shared<std::optional<Result<T>>>();
  store.submit_write(
      [fn = std::move(fn), out](Tx& tx) -> Status {
        PgTx* pg = pg_tx(tx);
        if (!pg) return Error::unavailable("store is not available");
        out->emplace(fn(*pg));
        if (!out->value().ok()) return out->value().error();
        return {};
      },
      [out, done = std::move(done)](Status st) {
        if (!st.ok()) return done(st.take_error());
        done(std::move(out->value()));
      },
      Ack::kCommitted);
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
  auto out = std::make_shared<std::optional<Result<DeliveryQueueStats>>>();
  store_.submit_read(
      [now, out](Tx& tx) {
        PgTx* pg = pg_tx(tx);
        out->emplace(pg ? pg->queue_stats(now)
                        : Result<DeliveryQueueStats>(Error::unavailable("store is not available")));
      },
      [out, done = std::move(done)] { done(std::move(out->value())); });
}

}  // namespace hookwire::store::postgres
