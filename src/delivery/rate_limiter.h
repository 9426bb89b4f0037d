// Per-endpoint fairness: a rate limit (the endpoint's `rateLimit`, deliveries per second) and a cap on
// concurrent requests, so one slow or dead endpoint can hold at most `max_in_flight` of the dispatcher's
// capacity and never delays the others. Time is always passed in; nothing here sleeps, reads a clock or
// starts threads.
//
// TokenBucket is a token bucket with rate r and burst max(1, r) (or a burst given, at least 1), implemented
// as GCRA (a "theoretical arrival time" in integer nanoseconds) so that results are exact under a
// ManualClock: at rate 2 the bucket admits 2 at once and then one every 500 ms, to the nanosecond. A fresh
// bucket is full.
//
// InflightLimiter counts requests in flight against a cap (atomics; thread-safe). InflightPermit is the RAII
// handle for one slot: it releases on destruction and keeps its limiter alive, so a permit may outlive the
// registry entry (or the registry) that issued it.
//
// RateLimiters is the dispatcher's registry keyed by endpoint id. Thread-safe (one mutex; every operation is
// O(log n) and never blocks on I/O). The caller passes the endpoint's current rate on each call, so a changed
// rateLimit takes effect on the next call with no invalidation step; nullopt or <= 0 means "no rate limit"
// (the API stores 1..1'000'000). Entries that are idle (unused for `idle_ttl`, bucket full, nothing in
// flight) are dropped by sweep(), which also runs by itself at most once per `idle_ttl` from the other calls,
// so memory stays bounded by the endpoints active in the last `idle_ttl`. Dropping an idle entry loses
// nothing: a new entry starts in the same state (full bucket, nothing in flight).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace hookwire::delivery {

// Not thread-safe on its own (RateLimiters guards it).
class TokenBucket {
 public:
  // rate_per_second > 0 (asserted); burst: nullopt for max(1, rate), else at least 1 (less counts as 1).
  explicit TokenBucket(double rate_per_second, std::optional<double> burst = std::nullopt);

  // Takes a token if one is available at `now`.
  bool try_acquire(TimePoint now);
  // The earliest time >= now at which try_acquire would succeed.
  TimePoint next_available(TimePoint now) const;
  // True when the bucket holds its full burst at `now` (forgetting it would change nothing).
  bool full(TimePoint now) const;

  // Changes the rate (and burst), keeping the tokens already spent: the debt is carried over in tokens.
  void set_rate(double rate_per_second, TimePoint now, std::optional<double> burst = std::nullopt);
  // Leaves exactly one token available at `now` (whatever was saved up is forgotten).
  void keep_one(TimePoint now);
  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  using Nanos = TimePoint::duration;
  double rate_ = 1;
  double burst_ = 1;
  Nanos interval_{};   // time per token
  Nanos tolerance_{};  // (burst - 1) * interval: how far ahead of schedule a burst may run
  TimePoint tat_{};    // theoretical arrival time of the next token
};

class InflightLimiter {
 public:
  explicit InflightLimiter(int cap) : cap_(cap) {}
  InflightLimiter(const InflightLimiter&) = delete;
  InflightLimiter& operator=(const InflightLimiter&) = delete;

  bool try_acquire();
  void release();  // exactly once per successful try_acquire (asserted)
  int in_flight() const { return count_.load(); }
  int cap() const { return cap_.load(); }
  // Lowering the cap below in_flight() revokes nothing; new acquisitions wait until the count drops.
  void set_cap(int cap) { cap_.store(cap); }

 private:
  std::atomic<int> count_{0};
  std::atomic<int> cap_;
};

// One in-flight slot; releases it when destroyed or on release(). Move-only. Empty when default-constructed.
class InflightPermit {
 public:
  InflightPermit() = default;
  explicit InflightPermit(std::shared_ptr<InflightLimiter> limiter) : limiter_(std::move(limiter)) {}
  InflightPermit(InflightPermit&& other) noexcept = default;
  InflightPermit& operator=(InflightPermit&& other) noexcept;
  InflightPermit(const InflightPermit&) = delete;
  InflightPermit& operator=(const InflightPermit&) = delete;
  ~InflightPermit() { release(); }

  void release();
  explicit operator bool() const { return limiter_ != nullptr; }

 private:
  std::shared_ptr<InflightLimiter> limiter_;
};

struct RateLimiterOptions {
  int max_in_flight_per_endpoint = 10;
  std::chrono::seconds idle_ttl = std::chrono::minutes{10};
};

// The answer to "may I send to this endpoint now?".
struct Admission {
  enum class Kind {
    kAdmitted,      // go: `permit` holds the in-flight slot, a token was taken
    kRateLimited,   // no token: try again at `not_before`
    kInflightFull,  // the endpoint has max_in_flight requests outstanding: retry when one finishes
  };
  Kind kind = Kind::kAdmitted;
  InflightPermit permit;   // kAdmitted only
  TimePoint not_before{};  // kRateLimited only
};

class RateLimiters {
 public:
  explicit RateLimiters(RateLimiterOptions options = {});

  // The dispatcher's one call: checks the in-flight cap first (so a full endpoint spends no tokens), then the
  // rate; on success takes both a token and a slot, atomically with respect to other callers. `burst`: the
  // bucket's (TokenBucket), nullopt for max(1, rate).
  Admission try_admit(std::string_view endpoint_id, std::optional<double> rate, TimePoint now,
                      std::optional<double> burst = std::nullopt);
  // Leaves the endpoint's bucket (made if need be, at `rate` and `burst`) with one token at `now`: a sender
  // that starts again after others took over its share starts without what it had saved up.
  void keep_one(std::string_view endpoint_id, double rate, std::optional<double> burst, TimePoint now);

  // The two halves separately.
  bool try_acquire(std::string_view endpoint_id, std::optional<double> rate, TimePoint now);
  TimePoint next_available(std::string_view endpoint_id, std::optional<double> rate, TimePoint now);
  std::optional<InflightPermit> try_acquire_inflight(std::string_view endpoint_id, TimePoint now);
  int in_flight(std::string_view endpoint_id) const;
  // Whether the endpoint's bucket has a token at `now` (true without a bucket).
  bool has_token(std::string_view endpoint_id, TimePoint now) const;

  // Drops an endpoint's entry (deleted endpoint). Outstanding permits stay valid.
  void forget(std::string_view endpoint_id);
  // Drops idle entries; returns how many.
  size_t sweep(TimePoint now);
  size_t size() const;

 private:
  struct Entry {
    std::optional<TokenBucket> bucket;  // nullopt: no rate limit
    std::shared_ptr<InflightLimiter> inflight;
    TimePoint last_used{};
  };
  // Requires mu_. Finds or creates the entry and brings its rate up to date.
  Entry& entry_locked(std::string_view endpoint_id, std::optional<double> rate, bool update_rate,
                      TimePoint now, std::optional<double> burst = std::nullopt);
  bool idle_locked(const Entry& e, TimePoint now) const;
  void maybe_sweep_locked(TimePoint now);
  size_t sweep_locked(TimePoint now);

  const RateLimiterOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
  TimePoint last_sweep_{};
};

}  // namespace hookwire::delivery
