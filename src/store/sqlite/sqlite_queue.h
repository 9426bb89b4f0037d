// The SQLite store's DeliveryQueue (delivery_queue.h), in one of two modes:
//  - memory leases (the default): this process owns the file (the store flocks it), so a lease need not be
//    written anywhere. A claim is a read on a reader thread (SqliteTx::scan_due, skipping the rows held
//    here), off the writer's path; the fence is a grant number checked in memory when the record is written.
//  - row leases (SqliteOptions::row_leases): the lease is in the row (status 3, next_attempt_at = until,
//    claim_id = the fence), as a database several nodes share keeps it. A claim is a write. Tests of what
//    several dispatchers on one store do run on it.
// Thread-safety: any thread (MemoryLeases is locked inside).
#pragma once

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "store/delivery_queue.h"
#include "store/store.h"

namespace hookwire::store {

// The leases held in memory, by rowid: which grant holds each row, and until when.
class MemoryLeases {
 public:
  // A new grant of `row` until `until`, replacing any earlier one; returns its fence.
  int64_t grant(int64_t row, TimePoint until);
  // Whether grant `fence` still holds `row` (it may have expired: until a new claim takes the row over, its
  // holder may still settle it, as with a lease in a row).
  bool holds(int64_t row, int64_t fence) const;
  bool extend(int64_t row, int64_t fence, TimePoint until);
  // Ends grant `fence` of `row` (written), or keeps it until `hold_until`.
  void release(int64_t row, int64_t fence, bool written, TimePoint hold_until);
  // The rows held at `now` (until > now), sorted; forgets grants expired for long.
  std::vector<int64_t> live_rows(TimePoint now);

 private:
  struct Grant {
    int64_t fence;
    TimePoint until;
  };
  mutable std::mutex mu_;
  std::unordered_map<int64_t, Grant> held_;
  int64_t next_fence_ = 1;
};

class SqliteQueue final : public DeliveryQueue {
 public:
  // `store` must outlive the queue (the store owns it). `first_claim_id`: above every claim_id in the file.
  SqliteQueue(Store& store, bool row_leases, int64_t first_claim_id)
      : store_(store), row_leases_(row_leases), next_claim_id_(first_claim_id) {}

  void claim(const ClaimRequest& r, std::function<void(Result<std::vector<Claim>>)> done) override;
  void renew(std::vector<LeaseToken> leases, TimePoint until,
             std::function<void(Result<std::vector<bool>>)> done) override;
  void release(const LeaseToken& lease, bool written, TimePoint hold_until) override;
  void stats(TimePoint now, std::function<void(Result<DeliveryQueueStats>)> done) override;

  // The writer's SqliteTx checks memory fences here (nullptr with row leases).
  const MemoryLeases* memory_leases() const { return row_leases_ ? nullptr : &memory_; }

 private:
  Store& store_;
  const bool row_leases_;
  MemoryLeases memory_;
  std::atomic<int64_t> next_claim_id_;
};

}  // namespace hookwire::store
