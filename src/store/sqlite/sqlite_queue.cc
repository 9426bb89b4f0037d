#include "store/sqlite/sqlite_queue.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "store/async.h"
#include "store/lease_tokens.h"
#include "store/sqlite/sqlite_tx.h"

namespace hookwire::store {

namespace {

// The SqliteTx behind a Tx the store gave (an UnavailableTx once it is stopped).
SqliteTx* sqlite_tx(Tx& tx) { return dynamic_cast<SqliteTx*>(&tx); }
Error stopped() { return Error::unavailable("store is stopped"); }

// How long a grant that expired is remembered, so that its late holder is told kFenced rather than finding
// its row free (as a lease in a row keeps its claim_id until another claim takes it).
constexpr auto kForgetExpiredAfter = std::chrono::hours(1);

}  // namespace

// ---- MemoryLeases
// -------------------------------------------------------------------------------------------

int64_t MemoryLeases::grant(int64_t row, TimePoint until) {
  std::lock_guard lock(mu_);
  const int64_t fence = next_fence_++;
  held_[row] = Grant{fence, until};
  return fence;
}

bool MemoryLeases::holds(int64_t row, int64_t fence) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(row);
  return it != held_.end() && it->second.fence == fence;
}

bool MemoryLeases::extend(int64_t row, int64_t fence, TimePoint until) {
  std::lock_guard lock(mu_);
  auto it = held_.find(row);
  if (it == held_.end() || it->second.fence != fence) return false;
  it->second.until = std::max(it->second.until, until);
  return true;
}

void MemoryLeases::release(int64_t row, int64_t fence, bool written, TimePoint hold_until) {
  std::lock_guard lock(mu_);
  auto it = held_.find(row);
  if (it == held_.end() || it->second.fence != fence) return;
  if (written) {
    held_.erase(it);
  } else {
    it->second.until = hold_until;
  }
}

std::vector<int64_t> MemoryLeases::live_rows(TimePoint now) {
  std::vector<int64_t> rows;
  {
    std::lock_guard lock(mu_);
    std::erase_if(held_,
                  [forget = now - kForgetExpiredAfter](const auto& h) { return h.second.until <= forget; });
    rows.reserve(held_.size());
    for (const auto& [row, grant] : held_)
      if (grant.until > now) rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// ---- SqliteQueue
// --------------------------------------------------------------------------------------------

void SqliteQueue::claim(const ClaimRequest& r, std::function<void(Result<std::vector<Claim>>)> done) {
  if (row_leases_) {
    write_then<std::vector<Claim>>(
        store_,
        [this, r](Tx& tx) -> Result<std::vector<Claim>> {
          SqliteTx* st = sqlite_tx(tx);
          if (!st) return stopped();
          return st->lease_due(r, next_claim_id_);
        },
        std::move(done), Ack::kCommitted);  // a lease lost to a power cut is only a delivery sent again
    return;
  }
  // Memory leases: a read (no write per claim). Its snapshot starts after it is submitted, so it sees every
  // record whose lease was released before (a lease is released only once its record is committed); rows
  // released later are still in `held`, and skipped.
  read_then<SqliteTx::DueScan>(
      store_,
      [r, held = memory_.live_rows(r.now)](Tx& tx) -> Result<SqliteTx::DueScan> {
        SqliteTx* st = sqlite_tx(tx);
        if (!st) return stopped();
        return st->scan_due(r.now, r.limit, r.per_endpoint, held);
      },
      [this, r, done = std::move(done)](Result<SqliteTx::DueScan> found) {
        if (!found.ok()) return done(found.take_error());
        for (size_t i = 0; i < found->due.size(); ++i) {
          Claim& c = found->due[i];
          c.lease =
              LeaseTokens::make(c.delivery.id, found->rows[i], memory_.grant(found->rows[i], r.lease_until));
        }
        if (found->passed_over.empty()) return done(std::move(found->due));
        // Held (for good) until moved behind, so that no claim takes them meanwhile; the claim is answered
        // once they are (a claim returns with the queue put right, as a claim in rows does).
        auto rows = std::make_shared<std::vector<SqliteTx::RowRef>>(std::move(found->passed_over));
        auto fences = std::make_shared<std::vector<int64_t>>();
        for (const auto& row : *rows) fences->push_back(memory_.grant(row.row, TimePoint::max()));
        auto due = std::make_shared<std::vector<Claim>>(std::move(found->due));
        store_.submit_write(
            [rows, now = r.now](Tx& tx) -> Status {
              SqliteTx* st = sqlite_tx(tx);
              return st ? st->move_behind(*rows, now) : Status(stopped());
            },
            [this, rows, fences, due, now = r.now, done = std::move(done)](Status st) {
              for (size_t i = 0; i < rows->size(); ++i)
                memory_.release((*rows)[i].row, (*fences)[i], st.ok(), now);
              done(std::move(*due));
            },
            Ack::kCommitted);
      });
}

void SqliteQueue::renew(std::vector<LeaseToken> leases, TimePoint until,
                        std::function<void(Result<std::vector<bool>>)> done) {
  if (!row_leases_) {
    std::vector<bool> held;
    held.reserve(leases.size());
    for (const auto& l : leases)
      held.push_back(memory_.extend(LeaseTokens::handle(l), LeaseTokens::fence(l), until));
    return done(std::move(held));
  }
  write_then<std::vector<bool>>(
      store_,
      [leases = std::move(leases), until](Tx& tx) -> Result<std::vector<bool>> {
        SqliteTx* st = sqlite_tx(tx);
        if (!st) return stopped();
        return st->renew_row_leases(leases, until);
      },
      std::move(done), Ack::kCommitted);
}

void SqliteQueue::release(const LeaseToken& lease, bool written, TimePoint hold_until) {
  // A lease in a row ends with its settlement, or expires there by itself.
  if (!row_leases_)
    memory_.release(LeaseTokens::handle(lease), LeaseTokens::fence(lease), written, hold_until);
}

void SqliteQueue::stats(TimePoint now, std::function<void(Result<DeliveryQueueStats>)> done) {
  std::vector<int64_t> held;
  if (!row_leases_) held = memory_.live_rows(now);
  read_then<DeliveryQueueStats>(
      store_,
      [now, held = std::move(held)](Tx& tx) -> Result<DeliveryQueueStats> {
        SqliteTx* st = sqlite_tx(tx);
        if (!st) return stopped();
        return st->queue_stats(now, held);
      },
      std::move(done));
}

}  // namespace hookwire::store
