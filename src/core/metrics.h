// Prometheus metrics: counters and histograms with labels, rendered in the text exposition format.
//
// A Registry owns every metric family; families and series are created once (at start-up or on first use)
// and then updated lock-free-ish from any thread: a series lookup takes a shared lock, the update itself is
// atomic. References returned by the registry stay valid for the registry's lifetime.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace hookwire::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double v = 1) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf; and the sum.
  std::vector<uint64_t> cumulative_counts() const;
  double sum() const { return sum_.value(); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound, plus +Inf
  Counter sum_;
  std::atomic<uint64_t> count_{0};
};

// Latency buckets in seconds, 0.1 ms .. 10 s.
std::vector<double> latency_buckets();

class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                       const Labels& labels = {});
  // The whole registry in Prometheus text format 0.0.4.
  std::string render() const;
  // Reading back (the server figures' sampler): the sum of the family's counter series whose labels include
  // every pair of `match` (all of them when empty); 0 when there is no such family. Creates nothing.
  double counter_sum(const std::string& name, const Labels& match = {}) const;
  // The value of one gauge series; nullopt when it was never set.
  std::optional<double> gauge_value(const std::string& name, const Labels& labels = {}) const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // key: rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, const char* type);

  mutable std::shared_mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace hookwire::metrics
