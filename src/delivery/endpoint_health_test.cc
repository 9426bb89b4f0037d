#include "delivery/endpoint_health.h"

#include <gtest/gtest.h>

#include <chrono>

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;
using std::chrono::days;

TEST(EndpointHealthTest, DefaultsAreSvixs) {
  EXPECT_EQ(EndpointHealthOptions{}.disable_after, days{5});
  EXPECT_EQ(EndpointHealthOptions{}.failing_after, 4);
  EXPECT_TRUE(EndpointHealth::validate({}).ok());
  EXPECT_FALSE(EndpointHealth::validate({0s, 4}).ok());
  EXPECT_FALSE(EndpointHealth::validate({1h, 0}).ok());
}

TEST(EndpointHealthTest, FirstFailureStartsTheClock) {
  ManualClock clock;
  const EndpointHealth health;
  EndpointHealthState state;
  EXPECT_EQ(health.disable_at(state), std::nullopt);

  HealthChange c = health.on_failure(state, clock.now());
  EXPECT_EQ(c, HealthChange{});
  EXPECT_EQ(state.first_failure_at, clock.now());
  EXPECT_EQ(state.consecutive_failures, 1);
  EXPECT_EQ(health.disable_at(state), clock.now() + days{5});

  // Later failures do not move the start.
  const TimePoint start = clock.now();
  clock.advance(1h);
  health.on_failure(state, clock.now());
  EXPECT_EQ(state.first_failure_at, start);
  EXPECT_EQ(state.consecutive_failures, 2);
}

TEST(EndpointHealthTest, AutoDisablesExactlyAtTheFiveDayBoundary) {
  ManualClock clock;
  const EndpointHealth health;
  EndpointHealthState state;
  const TimePoint start = clock.now();
  EXPECT_FALSE(health.on_failure(state, start).disable_endpoint);
  // Failing every hour for just under five days: never disabled.
  while (clock.now() + 1h < start + days{5}) {
    clock.advance(1h);
    ASSERT_FALSE(health.on_failure(state, clock.now()).disable_endpoint);
  }
  EXPECT_FALSE(health.on_failure(state, start + days{5} - 1ns).disable_endpoint);
  EXPECT_TRUE(health.on_failure(state, start + days{5}).disable_endpoint);
  // And on every failure after it (disabling again is a no-op for the caller).
  EXPECT_TRUE(health.on_failure(state, start + days{6}).disable_endpoint);
}

TEST(EndpointHealthTest, QuietTimeCountsAsFailingTime) {
  const EndpointHealth health;
  EndpointHealthState state;
  const TimePoint start = ManualClock().now();
  health.on_failure(state, start);
  // No traffic for six days, then one more failure: the streak was never ended by a success.
  EXPECT_TRUE(health.on_failure(state, start + days{6}).disable_endpoint);
}

TEST(EndpointHealthTest, SuccessResetsTheClock) {
  ManualClock clock;
  const EndpointHealth health;
  EndpointHealthState state;
  health.on_failure(state, clock.now());
  clock.advance(days{4});
  health.on_failure(state, clock.now());

  clock.advance(1h);
  health.on_success(state, clock.now());
  EXPECT_EQ(state.first_failure_at, std::nullopt);
  EXPECT_EQ(state.consecutive_failures, 0);
  EXPECT_EQ(state.last_success_at, clock.now());
  EXPECT_EQ(health.disable_at(state), std::nullopt);

  // A new streak counts from its own first failure.
  clock.advance(1h);
  const TimePoint restart = clock.now();
  health.on_failure(state, restart);
  EXPECT_FALSE(health.on_failure(state, restart + days{4}).disable_endpoint);  // 8+ days since the first ever
  EXPECT_FALSE(health.on_failure(state, restart + days{5} - 1s).disable_endpoint);
  EXPECT_TRUE(health.on_failure(state, restart + days{5}).disable_endpoint);
}

TEST(EndpointHealthTest, CustomPeriod) {
  const EndpointHealth health({90min, 4});
  EndpointHealthState state;
  const TimePoint t0 = ManualClock().now();
  health.on_failure(state, t0);
  EXPECT_FALSE(health.on_failure(state, t0 + 89min).disable_endpoint);
  EXPECT_TRUE(health.on_failure(state, t0 + 90min).disable_endpoint);
}

TEST(EndpointHealthTest, FailingFiresOnceOnTheFourthConsecutiveFailure) {
  ManualClock clock;
  const EndpointHealth health;
  EndpointHealthState state;
  for (int i = 1; i <= 10; ++i) {
    clock.advance(1min);
    EXPECT_EQ(health.on_failure(state, clock.now()).failing_started, i == 4) << i;
  }
  // Recovery is reported after a streak that reached "failing".
  HealthChange c = health.on_success(state, clock.now());
  EXPECT_TRUE(c.recovered);
  EXPECT_FALSE(c.failing_started);
  EXPECT_FALSE(c.disable_endpoint);
  // A second success is not a recovery; a new streak fires failing again.
  EXPECT_FALSE(health.on_success(state, clock.now()).recovered);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(health.on_failure(state, clock.now()).failing_started, i == 4);
}

TEST(EndpointHealthTest, NoRecoveredAfterAShortStreak) {
  const EndpointHealth health;
  EndpointHealthState state;
  const TimePoint t = ManualClock().now();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(health.on_failure(state, t).failing_started);
  EXPECT_FALSE(health.on_success(state, t).recovered);
}

TEST(EndpointHealthTest, FailingAfterOneMeansTheFirstFailure) {
  const EndpointHealth health({days{5}, 1});
  EndpointHealthState state;
  const TimePoint t = ManualClock().now();
  EXPECT_TRUE(health.on_failure(state, t).failing_started);
  EXPECT_FALSE(health.on_failure(state, t).failing_started);
  EXPECT_TRUE(health.on_success(state, t).recovered);
}

TEST(EndpointHealthTest, OutOfOrderFailureMovesTheStartBackButNotBeforeTheLastSuccess) {
  const EndpointHealth health;
  EndpointHealthState state;
  const TimePoint t = ManualClock().now();
  health.on_success(state, t);
  health.on_failure(state, t + 10min);
  health.on_failure(state, t + 5min);  // finished later, started earlier
  EXPECT_EQ(state.first_failure_at, t + 5min);
  health.on_failure(state, t - 1h);  // stamped before the success: the streak still starts at the success
  EXPECT_EQ(state.first_failure_at, t);
  EXPECT_EQ(state.consecutive_failures, 3);
}

TEST(EndpointHealthTest, PersistedStateResumesAfterRestart) {
  const TimePoint t0 = ManualClock().now();
  EndpointHealthState stored;
  {
    const EndpointHealth before_restart;
    before_restart.on_failure(stored, t0);
    before_restart.on_failure(stored, t0 + days{3});
  }
  EndpointHealthState loaded = stored;  // what the store gives back: plain values
  ASSERT_EQ(loaded, stored);
  const EndpointHealth after_restart;
  EXPECT_FALSE(after_restart.on_failure(loaded, t0 + days{5} - 1ms).disable_endpoint);
  EXPECT_TRUE(after_restart.on_failure(loaded, t0 + days{5}).disable_endpoint);
  EXPECT_EQ(loaded.consecutive_failures, 4);
}

}  // namespace
}  // namespace hookwire::delivery
