// LogThrottle: the one rate limit for log lines that a remote party or a failing peer can cause at will
// (refused inbound requests, failed deliveries). Per key (an endpoint, a source and reason), at most
// `lines_per_window` lines per `window`; the lines held back are counted, and the next line written for the
// key says how many ("N similar suppressed"). Keys are bounded: past `max_keys` live keys, expired ones are
// dropped, and if all are live the newcomers share one overflow key (so a flood of made-up keys cannot grow
// memory or the log).
//
// Thread-safe (one mutex; callers log only on failures and refusals). The clock must outlive the throttle.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace hookwire {

class LogThrottle {
 public:
  struct Options {
    std::chrono::seconds window{60};
    uint32_t lines_per_window = 5;
    size_t max_keys = 4096;
  };
  struct Verdict {
    bool log = false;         // write the line
    uint64_t suppressed = 0;  // lines of this key held back since the last one written (when log)
    explicit operator bool() const { return log; }
  };

  explicit LogThrottle(const Clock& clock) : LogThrottle(clock, Options{}) {}
  LogThrottle(const Clock& clock, Options options) : clock_(clock), options_(options) {}

  Verdict admit(std::string_view key);

  size_t keys() const;  // live keys (tests)

 private:
  struct Entry {
    TimePoint window_start;
    uint32_t written = 0;
    uint64_t suppressed = 0;
  };

  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace hookwire
