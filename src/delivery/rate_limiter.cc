#include "delivery/rate_limiter.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace hookwire::delivery {
namespace {

using Nanos = TimePoint::duration;

Nanos interval_for(double rate) {
  const double ns = 1e9 / rate;
  return Nanos{std::max<int64_t>(1, std::llround(ns))};
}

double burst_for(double rate, std::optional<double> burst) { return std::max(1.0, burst.value_or(rate)); }

Nanos tolerance_for(double burst, Nanos interval) {
  return Nanos{std::llround((burst - 1.0) * static_cast<double>(interval.count()))};
}

bool limited(std::optional<double> rate) { return rate && *rate > 0; }

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, std::optional<double> burst)
    : rate_(rate_per_second),
      burst_(burst_for(rate_per_second, burst)),
      interval_(interval_for(rate_per_second)),
      tolerance_(tolerance_for(burst_, interval_)) {
  assert(rate_per_second > 0);
}

bool TokenBucket::try_acquire(TimePoint now) {
  const TimePoint tat = std::max(tat_, now);
  if (tat - now > tolerance_) return false;
  tat_ = tat + interval_;
  return true;
}

TimePoint TokenBucket::next_available(TimePoint now) const {
  const TimePoint tat = std::max(tat_, now);
  return std::max(now, tat - tolerance_);
}

bool TokenBucket::full(TimePoint now) const { return tat_ <= now; }

void TokenBucket::set_rate(double rate_per_second, TimePoint now, std::optional<double> burst) {
  assert(rate_per_second > 0);
  const double new_burst = burst_for(rate_per_second, burst);
  if (rate_per_second == rate_ && new_burst == burst_) return;
  const Nanos new_interval = interval_for(rate_per_second);
  if (tat_ > now) {
    // Carry the debt over in tokens: what was owed at the old rate is owed at the new one.
    const double owed = static_cast<double>((tat_ - now).count()) / static_cast<double>(interval_.count());
    tat_ = now + Nanos{std::llround(owed * static_cast<double>(new_interval.count()))};
  }
  rate_ = rate_per_second;
  burst_ = new_burst;
  interval_ = new_interval;
  tolerance_ = tolerance_for(burst_, interval_);
}

void TokenBucket::keep_one(TimePoint now) { tat_ = now + tolerance_; }

bool InflightLimiter::try_acquire() {
  int current = count_.load();
  while (current < cap_.load()) {
    if (count_.compare_exchange_weak(current, current + 1)) return true;
  }
  return false;
}

void InflightLimiter::release() {
  [[maybe_unused]] int before = count_.fetch_sub(1);
  assert(before > 0);
}

InflightPermit& InflightPermit::operator=(InflightPermit&& other) noexcept {
  if (this != &other) {
    release();
    limiter_ = std::move(other.limiter_);
  }
  return *this;
}

void InflightPermit::release() {
  if (limiter_) {
    limiter_->release();
    limiter_.reset();
  }
}

RateLimiters::RateLimiters(RateLimiterOptions options) : options_(options) {
  assert(options_.max_in_flight_per_endpoint >= 1);
}

RateLimiters::Entry& RateLimiters::entry_locked(std::string_view endpoint_id, std::optional<double> rate,
                                                bool update_rate, TimePoint now,
                                                std::optional<double> burst) {
  auto it = entries_.find(endpoint_id);
  if (it == entries_.end()) {
    Entry e;
    e.inflight = std::make_shared<InflightLimiter>(options_.max_in_flight_per_endpoint);
    it = entries_.emplace(std::string(endpoint_id), std::move(e)).first;
  }
  Entry& e = it->second;
  e.last_used = std::max(e.last_used, now);
  if (update_rate) {
    if (!limited(rate)) {
      e.bucket.reset();
    } else if (!e.bucket) {
      e.bucket.emplace(*rate, burst);
    } else {
      e.bucket->set_rate(*rate, now, burst);
    }
  }
  return e;
}

Admission RateLimiters::try_admit(std::string_view endpoint_id, std::optional<double> rate, TimePoint now,
                                  std::optional<double> burst) {
  std::lock_guard lock(mu_);
  maybe_sweep_locked(now);
  Entry& e = entry_locked(endpoint_id, rate, true, now, burst);
  Admission a;
  if (e.inflight->in_flight() >= e.inflight->cap()) {
    a.kind = Admission::Kind::kInflightFull;
    return a;
  }
  if (e.bucket && !e.bucket->try_acquire(now)) {
    a.kind = Admission::Kind::kRateLimited;
    a.not_before = e.bucket->next_available(now);
    return a;
  }
  // Permits are released without mu_, so the count can only have dropped since the check above.
  [[maybe_unused]] bool ok = e.inflight->try_acquire();
  assert(ok);
  a.kind = Admission::Kind::kAdmitted;
  a.permit = InflightPermit(e.inflight);
  return a;
}

void RateLimiters::keep_one(std::string_view endpoint_id, double rate, std::optional<double> burst,
                            TimePoint now) {
  std::lock_guard lock(mu_);
  maybe_sweep_locked(now);
  Entry& e = entry_locked(endpoint_id, rate, true, now, burst);
  if (e.bucket) e.bucket->keep_one(now);
}

bool RateLimiters::try_acquire(std::string_view endpoint_id, std::optional<double> rate, TimePoint now) {
  std::lock_guard lock(mu_);
  maybe_sweep_locked(now);
  Entry& e = entry_locked(endpoint_id, rate, true, now);
  return !e.bucket || e.bucket->try_acquire(now);
}

TimePoint RateLimiters::next_available(std::string_view endpoint_id, std::optional<double> rate,
                                       TimePoint now) {
  if (!limited(rate)) return now;
  std::lock_guard lock(mu_);
  maybe_sweep_locked(now);
  Entry& e = entry_locked(endpoint_id, rate, true, now);
  return e.bucket->next_available(now);
}

std::optional<InflightPermit> RateLimiters::try_acquire_inflight(std::string_view endpoint_id,
                                                                 TimePoint now) {
  std::lock_guard lock(mu_);
  maybe_sweep_locked(now);
  Entry& e = entry_locked(endpoint_id, std::nullopt, false, now);
  if (!e.inflight->try_acquire()) return std::nullopt;
  return InflightPermit(e.inflight);
}

int RateLimiters::in_flight(std::string_view endpoint_id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(endpoint_id);
  return it == entries_.end() ? 0 : it->second.inflight->in_flight();
}

bool RateLimiters::has_token(std::string_view endpoint_id, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(endpoint_id);
  return it == entries_.end() || !it->second.bucket || it->second.bucket->next_available(now) <= now;
}

void RateLimiters::forget(std::string_view endpoint_id) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(endpoint_id); it != entries_.end()) entries_.erase(it);
}

size_t RateLimiters::sweep(TimePoint now) {
  std::lock_guard lock(mu_);
  return sweep_locked(now);
}

size_t RateLimiters::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

bool RateLimiters::idle_locked(const Entry& e, TimePoint now) const {
  return now - e.last_used >= options_.idle_ttl && e.inflight->in_flight() == 0 &&
         (!e.bucket || e.bucket->full(now));
}

void RateLimiters::maybe_sweep_locked(TimePoint now) {
  if (now - last_sweep_ >= options_.idle_ttl) sweep_locked(now);
}

size_t RateLimiters::sweep_locked(TimePoint now) {
  last_sweep_ = now;
  return std::erase_if(entries_, [&](const auto& kv) { return idle_locked(kv.second, now); });
}

}  // namespace hookwire::delivery
