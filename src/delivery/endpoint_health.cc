#include "delivery/endpoint_health.h"

#include <cassert>

namespace hookwire::delivery {

EndpointHealth::EndpointHealth(EndpointHealthOptions options) : options_(options) {
  assert(validate(options_).ok());
}

Status EndpointHealth::validate(const EndpointHealthOptions& o) {
  if (o.disable_after.count() <= 0)
    return Error::validation("endpoint_disable_after", "must be a positive duration");
  if (o.failing_after < 1) return Error::validation("endpoint_failing_after", "must be at least 1");
  return {};
}

HealthChange EndpointHealth::on_success(EndpointHealthState& state, TimePoint now) const {
  HealthChange change;
  change.recovered = state.consecutive_failures >= options_.failing_after;
  state.first_failure_at.reset();
  state.consecutive_failures = 0;
  state.last_success_at = now;
  return change;
}

HealthChange EndpointHealth::on_failure(EndpointHealthState& state, TimePoint now) const {
  HealthChange change;
  // A failure that finished out of order moves the start back, but never before the last success.
  TimePoint start = now;
  if (state.last_success_at && start < *state.last_success_at) start = *state.last_success_at;
  if (!state.first_failure_at || start < *state.first_failure_at) state.first_failure_at = start;
  ++state.consecutive_failures;
  change.failing_started = state.consecutive_failures == options_.failing_after;
  change.disable_endpoint = now - *state.first_failure_at >= options_.disable_after;
  return change;
}

std::optional<TimePoint> EndpointHealth::disable_at(const EndpointHealthState& state) const {
  if (!state.first_failure_at) return std::nullopt;
  return *state.first_failure_at + options_.disable_after;
}

}  // namespace hookwire::delivery
