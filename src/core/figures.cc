#include "core/figures.h"

#include <algorithm>

namespace hookwire::metrics {

namespace {
int64_t delta(double now, double before) {
  // Counters never go down; a smaller value (a registry replaced) counts from zero.
  return static_cast<int64_t>(now >= before ? now - before : now);
}
}  // namespace

FigureSampler::FigureSampler(const Registry& registry, const Clock& clock, size_t capacity)
    : registry_(registry), clock_(clock), capacity_(std::max<size_t>(1, capacity)) {
  ring_.reserve(std::min(capacity_, kCapacity));
}

FigureSampler::Totals FigureSampler::totals() const {
  Totals t;
  const double attempts = registry_.counter_sum("delivery_attempts_total");
  t.delivered = registry_.counter_sum("delivery_attempts_total", {{"outcome", "delivered"}});
  t.failed = attempts - t.delivered;
  t.accepted = registry_.counter_sum("inbound_accepted_total");
  t.rejected = registry_.counter_sum("inbound_rejected_total");
  // Inbound requests accepted are messages too (each becomes one in its source's application).
  t.messages = registry_.counter_sum("messages_created_total") + t.accepted;
  return t;
}

void FigureSampler::record(const QueueFigures& queue) {
  const Totals now = totals();
  std::lock_guard lock(mu_);
  FigureSample s;
  s.at = clock_.now();
  s.queue_depth = queue.depth;
  s.due_now = queue.due;
  s.lag_seconds = queue.lag_seconds;
  s.delivered = delta(now.delivered, last_.delivered);
  s.failed = delta(now.failed, last_.failed);
  s.messages_created = delta(now.messages, last_.messages);
  s.inbound_accepted = delta(now.accepted, last_.accepted);
  s.inbound_rejected = delta(now.rejected, last_.rejected);
  last_ = now;
  if (ring_.size() < capacity_) {
    ring_.push_back(s);
  } else {
    ring_[next_] = s;
    next_ = (next_ + 1) % capacity_;
  }
}

std::vector<FigureSample> FigureSampler::window(std::chrono::seconds window) const {
  const TimePoint from = clock_.now() - window;
  std::lock_guard lock(mu_);
  std::vector<FigureSample> out;
  const size_t n = ring_.size();
  const size_t oldest = n < capacity_ ? 0 : next_;
  for (size_t i = 0; i < n; ++i) {
    const FigureSample& s = ring_[(oldest + i) % n];
    if (s.at > from) out.push_back(s);
  }
  return out;
}

size_t FigureSampler::size() const {
  std::lock_guard lock(mu_);
  return ring_.size();
}

}  // namespace hookwire::metrics
