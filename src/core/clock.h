// Time for everything that schedules, expires or stamps: injected, so tests move it by hand instead of
// sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookwire {

using TimePoint = std::chrono::system_clock::time_point;

// Thread-safe source of wall-clock time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  static SystemClock& instance();
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds{1'700'000'000}})
      : ns_(to_ns(start)) {}
  TimePoint now() const override { return TimePoint{std::chrono::nanoseconds{ns_.load()}}; }
  void set(TimePoint t) { ns_.store(to_ns(t)); }
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count()); }

 private:
  static int64_t to_ns(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  std::atomic<int64_t> ns_;
};

// ISO 8601 / RFC 3339 in UTC with millisecond precision and a `Z`: "2026-11-22T20:41:30.123Z" (Svix's shape).
std::string format_iso8601(TimePoint t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; nullopt for anything else, and for times that
// TimePoint cannot hold (before 1677-09-22 or from 2262-04-11T23:47:16Z on).
std::optional<TimePoint> parse_iso8601(std::string_view s);

int64_t unix_seconds(TimePoint t);
int64_t unix_millis(TimePoint t);
TimePoint from_unix_millis(int64_t ms);

}  // namespace hookwire
