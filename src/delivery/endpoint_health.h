// EndpointHealth: when an endpoint that keeps failing must be disabled automatically. Pure logic over a plain
// state struct; no I/O, no clock reads, no threads.
//
// The dispatcher keeps one EndpointHealthState per endpoint, persists it in the store next to the endpoint
// (all fields are plain values) and applies the outcome of every finished attempt in the order it observes
// them: `on_success` for a 2xx, `on_failure` for anything the RetryPolicy counts as a failure. Because the
// failure clock is an absolute time in that struct, a restart resumes it exactly.
//
// Rule (Svix): an endpoint failing continuously for `disable_after` (default 5 days), counted from the first
// failure since the last success, is disabled: on_failure(now) reports disable_endpoint once
// now - first_failure_at >= disable_after. Any success resets the clock. Time without traffic counts as
// failing time (the streak is only ended by a success), as in Svix.
//
// Streak events, for logs, metrics and the endpoint's health in the UI:
//   * failing_started: on the failure that makes the current streak reach `failing_after` consecutive failed
//     attempts (default 4, the count at which Svix declares a message failing; set 1 for "first failure").
//     Fires once per streak.
//   * recovered: on the first success after a streak that fired failing_started.
// Note that Svix's operational webhooks `message.attempt.failing` / `message.attempt.recovered` are per
// message, not per endpoint: those come from RetryPolicy's Decision (emit_failing / emit_recovered). These
// endpoint-level events are the same idea one level up; map them to op-webhooks only if that is wanted.
//
// Thread-safety: EndpointHealth is immutable after construction; the state struct is the caller's to guard.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "core/clock.h"
#include "core/result.h"

namespace hookwire::delivery {

struct EndpointHealthState {
  std::optional<TimePoint> first_failure_at;  // start of the current failing streak; nullopt = healthy
  std::optional<TimePoint> last_success_at;
  int64_t consecutive_failures = 0;  // failed attempts since the last success

  bool operator==(const EndpointHealthState&) const = default;
};

struct EndpointHealthOptions {
  std::chrono::seconds disable_after = std::chrono::days{5};
  int64_t failing_after = 4;  // consecutive failures that make the endpoint "failing" (>= 1)
};

// What a recorded outcome changed.
struct HealthChange {
  bool disable_endpoint = false;  // on_failure: failing for >= disable_after; disable it (endpoint.disabled)
  bool failing_started = false;   // on_failure: the streak just reached failing_after failures
  bool recovered = false;         // on_success: the streak that ended had fired failing_started

  bool operator==(const HealthChange&) const = default;
};

class EndpointHealth {
 public:
  // Options must pass validate() (asserted).
  explicit EndpointHealth(EndpointHealthOptions options = {});
  // disable_after > 0 and failing_after >= 1; errors are kValidation naming the option.
  static Status validate(const EndpointHealthOptions& options);

  // A 2xx: ends any failing streak.
  HealthChange on_success(EndpointHealthState& state, TimePoint now) const;
  // A failed attempt. Reports disable_endpoint on every failure once the period is reached (idempotent for
  // the caller: disabling an already disabled endpoint is a no-op). A failure stamped before the streak's
  // recorded start (outcomes finishing out of order) moves the start back to it, but never before
  // last_success_at.
  HealthChange on_failure(EndpointHealthState& state, TimePoint now) const;

  // When the current streak reaches the disable period; nullopt when healthy. For the UI and for tests.
  std::optional<TimePoint> disable_at(const EndpointHealthState& state) const;

  const EndpointHealthOptions& options() const { return options_; }

 private:
  EndpointHealthOptions options_;
};

}  // namespace hookwire::delivery
