// FiguresRecorder: keeps the server's figures over time (core/figures.h) for GET /api/v1/server/stats. Every
// FigureSampler::kInterval (real time) its thread measures the delivery queue (DeliveryQueue::stats: the
// counters and the due index's head, as a /metrics scrape does) and records a sample stamped by the injected
// Clock. Tests call record_once() without start().
//
// Lifecycle: start() records at once and then every interval; stop() (also called by the destructor) joins.
// The store, the registry and the clock must outlive it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/figures.h"
#include "core/metrics.h"
#include "store/store.h"

namespace hookwire::app {

class FiguresRecorder {
 public:
  FiguresRecorder(store::Store& store, const metrics::Registry& registry, const Clock& clock);
  ~FiguresRecorder();
  FiguresRecorder(const FiguresRecorder&) = delete;
  FiguresRecorder& operator=(const FiguresRecorder&) = delete;

  void start();
  void stop();
  // One sample on the calling thread, blocking on the store's queue statistics (a failed read records the
  // queue as empty with no due count, so the counters' history has no hole).
  void record_once();

  const metrics::FigureSampler& sampler() const { return sampler_; }

 private:
  store::Store& store_;
  const Clock& clock_;
  metrics::FigureSampler sampler_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hookwire::app
