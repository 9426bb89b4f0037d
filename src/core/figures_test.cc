#include "core/figures.h"

#include <gtest/gtest.h>

namespace hookwire::metrics {
namespace {

using std::chrono::seconds;

TEST(FigureSampler, RecordsQueueFiguresAndCounterMovesSinceTheLastSample) {
  Registry reg;
  ManualClock clock;
  FigureSampler sampler(reg, clock);
  auto& delivered = reg.counter("delivery_attempts_total", "", {{"outcome", "delivered"}});
  auto& retry = reg.counter("delivery_attempts_total", "", {{"outcome", "retry"}});
  auto& exhausted = reg.counter("delivery_attempts_total", "", {{"outcome", "exhausted"}});
  auto& accepted_a = reg.counter("inbound_accepted_total", "", {{"source", "a"}});
  auto& accepted_b = reg.counter("inbound_accepted_total", "", {{"source", "b"}});
  auto& rejected = reg.counter("inbound_rejected_total", "", {{"source", "a"}, {"reason", "signature"}});
  auto& created = reg.counter("messages_created_total", "", {{"via", "api"}});
  delivered.inc(5);
  retry.inc(2);
  accepted_a.inc(1);
  sampler.record({7, 3, 1.5});
  clock.advance(seconds{10});
  delivered.inc(1);
  exhausted.inc(1);
  accepted_b.inc(2);
  rejected.inc(4);
  created.inc(9);
  sampler.record({2, std::nullopt, 0});

  auto samples = sampler.window(seconds{3600});
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].queue_depth, 7);
  EXPECT_EQ(samples[0].due_now, 3);
  EXPECT_DOUBLE_EQ(samples[0].lag_seconds, 1.5);
  EXPECT_EQ(samples[0].delivered, 5);
  EXPECT_EQ(samples[0].failed, 2);
  EXPECT_EQ(samples[0].inbound_accepted, 1);
  EXPECT_EQ(samples[0].messages_created, 1);
  EXPECT_EQ(samples[1].at - samples[0].at, seconds{10});
  EXPECT_EQ(samples[1].queue_depth, 2);
  EXPECT_FALSE(samples[1].due_now);
  EXPECT_EQ(samples[1].delivered, 1);
  EXPECT_EQ(samples[1].failed, 1);
  EXPECT_EQ(samples[1].inbound_accepted, 2);
  EXPECT_EQ(samples[1].inbound_rejected, 4);
  EXPECT_EQ(samples[1].messages_created, 9 + 2);  // the API's and the inbound ones
}

TEST(FigureSampler, KeepsAFixedRingOfTheNewestSamples) {
  Registry reg;
  ManualClock clock;
  FigureSampler sampler(reg, clock, 5);
  for (int i = 0; i < 12; ++i) {
    sampler.record({i, std::nullopt, 0});
    clock.advance(seconds{10});
  }
  EXPECT_EQ(sampler.size(), 5u);
  auto samples = sampler.window(seconds{86400});
  ASSERT_EQ(samples.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(samples[i].queue_depth, 7 + i) << i;  // oldest first
  EXPECT_EQ(FigureSampler::kCapacity, 8640u);
}

TEST(FigureSampler, WindowKeepsOnlyTheSamplesStampedWithinIt) {
  Registry reg;
  ManualClock clock;
  FigureSampler sampler(reg, clock);
  for (int i = 0; i < 30; ++i) {  // 300 s of samples
    sampler.record({i, std::nullopt, 0});
    clock.advance(seconds{10});
  }
  // now = start + 300 s; samples at start + 0, 10, ..., 290.
  auto last_minute = sampler.window(seconds{60});
  ASSERT_EQ(last_minute.size(), 5u);  // at 250..290 (240 is exactly 60 s old: out)
  EXPECT_EQ(last_minute.front().queue_depth, 25);
  EXPECT_EQ(last_minute.back().queue_depth, 29);
  EXPECT_EQ(sampler.window(seconds{3600}).size(), 30u);
  clock.advance(std::chrono::hours{2});
  EXPECT_TRUE(sampler.window(seconds{3600}).empty());
}

TEST(Registry, CounterSumMatchesWholeLabels) {
  Registry reg;
  reg.counter("c", "", {{"outcome", "delivered"}}).inc(2);
  reg.counter("c", "", {{"outcome", "delivered_late"}}).inc(3);
  reg.counter("c", "", {{"kind", "x"}, {"outcome", "delivered"}}).inc(4);
  EXPECT_DOUBLE_EQ(reg.counter_sum("c"), 9);
  EXPECT_DOUBLE_EQ(reg.counter_sum("c", {{"outcome", "delivered"}}), 6);
  EXPECT_DOUBLE_EQ(reg.counter_sum("absent"), 0);
  EXPECT_FALSE(reg.gauge_value("g"));
  reg.gauge("g", "").set(1.5);
  EXPECT_EQ(reg.gauge_value("g"), 1.5);
}

}  // namespace
}  // namespace hookwire::metrics
