#include "app/figures_recorder.h"

#include <future>

namespace hookwire::app {

FiguresRecorder::FiguresRecorder(store::Store& store, const metrics::Registry& registry, const Clock& clock)
    : store_(store), clock_(clock), sampler_(registry, clock) {}

FiguresRecorder::~FiguresRecorder() { stop(); }

void FiguresRecorder::start() {
  thread_ = std::thread([this] {
    for (;;) {
      record_once();
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, metrics::FigureSampler::kInterval, [this] { return stopping_; })) return;
    }
  });
}

void FiguresRecorder::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FiguresRecorder::record_once() {
  const TimePoint now = clock_.now();
  auto promise = std::make_shared<std::promise<Result<store::DeliveryQueueStats>>>();
  auto future = promise->get_future();
  store_.delivery_queue().stats(
      now, [promise](Result<store::DeliveryQueueStats> r) { promise->set_value(std::move(r)); });
  auto stats = future.get();
  metrics::QueueFigures q;
  if (stats.ok()) {
    q.depth = stats->pending + stats->sending;
    q.due = stats->due;
    if (stats->oldest_due)
      q.lag_seconds = std::max(0.0, std::chrono::duration<double>(now - *stats->oldest_due).count());
  }
  sampler_.record(q);
}

}  // namespace hookwire::app
