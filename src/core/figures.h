// FigureSampler: the server's own figures over time, for the console's charts (GET /api/v1/server/stats,
// issue #22). Every `interval` the app records one sample: the delivery queue as just measured, and how much
// each counter of the metrics registry moved since the previous sample. The last `capacity` samples are kept
// in a fixed ring (8,640 at 10 s: 24 h), in memory only: a restart starts an empty history.
//
// Time comes from the injected Clock (a sample is stamped with clock.now()), so tests record samples by
// hand. Thread-safe: record() and window() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"

namespace hookwire::metrics {

// The delivery queue at the moment of a sample (store::DeliveryQueueStats, as the caller measured it).
struct QueueFigures {
  int64_t depth = 0;           // live deliveries: pending + leased
  std::optional<int64_t> due;  // due and waiting, counted up to store::kDueCountLimit; nullopt: unknown
  double lag_seconds = 0;      // age of the oldest due delivery; 0 when none is due
};

struct FigureSample {
  TimePoint at;
  int64_t queue_depth = 0;
  std::optional<int64_t> due_now;
  double lag_seconds = 0;
  // Since the previous sample (the first: since the process started):
  int64_t delivered = 0;         // attempts that delivered (delivery_attempts_total{outcome="delivered"})
  int64_t failed = 0;            // attempts that failed (every other outcome: retry, exhausted, disabled)
  int64_t messages_created = 0;  // messages_created_total (the API's) + inbound accepted
  int64_t inbound_accepted = 0;  // inbound_accepted_total, every source
  int64_t inbound_rejected = 0;  // inbound_rejected_total, every source and reason
};

class FigureSampler {
 public:
  static constexpr std::chrono::seconds kInterval{10};
  static constexpr size_t kCapacity = 8640;  // 24 h of 10 s samples

  // `registry` and `clock` must outlive the sampler.
  FigureSampler(const Registry& registry, const Clock& clock, size_t capacity = kCapacity);

  // Records one sample at clock.now(); past `capacity` the oldest is dropped.
  void record(const QueueFigures& queue);
  // The samples stamped within the last `window` (at > now - window), oldest first.
  std::vector<FigureSample> window(std::chrono::seconds window) const;
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  struct Totals {
    double delivered = 0, failed = 0, messages = 0, accepted = 0, rejected = 0;
  };
  Totals totals() const;

  const Registry& registry_;
  const Clock& clock_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<FigureSample> ring_;  // grows to capacity_, then overwritten at next_
  size_t next_ = 0;                 // where the next sample goes once the ring is full
  Totals last_;
};

}  // namespace hookwire::metrics
