#include "delivery/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;
using Kind = Admission::Kind;

TEST(TokenBucketTest, BurstEqualsRateThenOneTokenPerInterval) {
  ManualClock clock;
  TokenBucket bucket(2);
  EXPECT_DOUBLE_EQ(bucket.burst(), 2);
  EXPECT_TRUE(bucket.full(clock.now()));
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.full(clock.now()));
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 500ms);

  clock.advance(499ms);
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 1ms);
  clock.advance(1ms);
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now());
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));

  // After a second of quiet the full burst is back.
  clock.advance(1s);
  EXPECT_TRUE(bucket.full(clock.now()));
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
}

TEST(TokenBucketTest, SlowRatesHaveABurstOfOne) {
  ManualClock clock;
  TokenBucket one(1);
  EXPECT_DOUBLE_EQ(one.burst(), 1);
  EXPECT_TRUE(one.try_acquire(clock.now()));
  EXPECT_FALSE(one.try_acquire(clock.now()));
  EXPECT_EQ(one.next_available(clock.now()), clock.now() + 1s);

  TokenBucket half(0.5);
  EXPECT_DOUBLE_EQ(half.burst(), 1);
  EXPECT_TRUE(half.try_acquire(clock.now()));
  EXPECT_FALSE(half.try_acquire(clock.now() + 1999ms));
  EXPECT_TRUE(half.try_acquire(clock.now() + 2s));
}

TEST(TokenBucketTest, SustainedRateOverTenSeconds) {
  ManualClock clock;
  TokenBucket bucket(10);
  const TimePoint start = clock.now();
  int admitted = 0;
  while (clock.now() <= start + 10s) {
    while (bucket.try_acquire(clock.now())) ++admitted;
    clock.advance(1ms);
  }
  EXPECT_EQ(admitted, 10 + 100);  // the burst, then one every 100 ms for 10 s
}

TEST(TokenBucketTest, RateChangeKeepsTheDebtInTokens) {
  ManualClock clock;
  TokenBucket bucket(1);
  EXPECT_TRUE(bucket.try_acquire(clock.now()));  // one token owed for the next second
  bucket.set_rate(2, clock.now());               // burst 2, one owed: one more now, then every 500 ms
  EXPECT_DOUBLE_EQ(bucket.rate(), 2);
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 500ms);

  bucket.set_rate(0.25, clock.now());  // two owed at 4 s each; burst 1
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 8s);
}

TEST(TokenBucketTest, ABurstSmallerThanTheRate) {
  ManualClock clock;
  TokenBucket bucket(10, 3);  // a node's share of a limit several nodes share: a tenth of a second per token
  EXPECT_DOUBLE_EQ(bucket.burst(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 100ms);
  clock.advance(10s);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()))
      << "the burst, not the rate, bounds what a quiet bucket saves";
  // A burst under one is one.
  EXPECT_DOUBLE_EQ(TokenBucket(10, 0.2).burst(), 1);
  // Changing only the burst keeps the debt.
  bucket.set_rate(10, clock.now(), 5);
  EXPECT_DOUBLE_EQ(bucket.burst(), 5);
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
}

TEST(TokenBucketTest, KeepOneForgetsWhatWasSavedUp) {
  ManualClock clock;
  TokenBucket bucket(2, 4);
  bucket.keep_one(clock.now());
  EXPECT_TRUE(bucket.try_acquire(clock.now()));
  EXPECT_FALSE(bucket.try_acquire(clock.now()));
  EXPECT_EQ(bucket.next_available(clock.now()), clock.now() + 500ms);
  // Also when the bucket owed tokens: one is there now, none before.
  TokenBucket owing(1);
  EXPECT_TRUE(owing.try_acquire(clock.now()));
  owing.keep_one(clock.now());
  EXPECT_TRUE(owing.try_acquire(clock.now()));
  EXPECT_FALSE(owing.try_acquire(clock.now()));
}

TEST(InflightLimiterTest, CapsConcurrentRequests) {
  InflightLimiter limiter(2);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  EXPECT_EQ(limiter.in_flight(), 2);
  limiter.release();
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  limiter.set_cap(1);  // lowering revokes nothing
  EXPECT_EQ(limiter.in_flight(), 2);
  limiter.release();
  EXPECT_FALSE(limiter.try_acquire());
  limiter.release();
  EXPECT_TRUE(limiter.try_acquire());
}

TEST(InflightLimiterTest, PermitReleasesOnDestructionAndMoves) {
  auto limiter = std::make_shared<InflightLimiter>(1);
  {
    ASSERT_TRUE(limiter->try_acquire());
    InflightPermit a(limiter);
    EXPECT_TRUE(a);
    InflightPermit b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(limiter->in_flight(), 1);
    InflightPermit c;
    c = std::move(b);
    EXPECT_EQ(limiter->in_flight(), 1);
  }
  EXPECT_EQ(limiter->in_flight(), 0);
  ASSERT_TRUE(limiter->try_acquire());
  InflightPermit early(limiter);
  early.release();
  early.release();  // idempotent
  EXPECT_EQ(limiter->in_flight(), 0);
}

TEST(InflightLimiterTest, NeverExceedsTheCapUnderContention) {
  InflightLimiter limiter(3);
  std::atomic<int> holders{0};
  std::atomic<int> max_holders{0};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!limiter.try_acquire()) continue;
        int now_holding = holders.fetch_add(1) + 1;
        int seen = max_holders.load();
        while (now_holding > seen && !max_holders.compare_exchange_weak(seen, now_holding)) {
        }
        admitted.fetch_add(1);
        holders.fetch_sub(1);
        limiter.release();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(max_holders.load(), 3);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_EQ(limiter.in_flight(), 0);
}

TEST(RateLimitersTest, AdmitsWithinRateAndInflightCap) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 3, .idle_ttl = std::chrono::minutes{10}});
  Admission a = limiters.try_admit("ep_a", 2, clock.now());
  ASSERT_EQ(a.kind, Kind::kAdmitted);
  EXPECT_TRUE(a.permit);
  Admission b = limiters.try_admit("ep_a", 2, clock.now());
  ASSERT_EQ(b.kind, Kind::kAdmitted);
  EXPECT_EQ(limiters.in_flight("ep_a"), 2);

  Admission c = limiters.try_admit("ep_a", 2, clock.now());
  EXPECT_EQ(c.kind, Kind::kRateLimited);
  EXPECT_EQ(c.not_before, clock.now() + 500ms);
  EXPECT_FALSE(c.permit);
  EXPECT_EQ(limiters.in_flight("ep_a"), 2);

  a.permit.release();
  EXPECT_EQ(limiters.in_flight("ep_a"), 1);
}

TEST(RateLimitersTest, InflightFullSpendsNoTokens) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 1});
  Admission a = limiters.try_admit("ep_a", 1, clock.now());
  ASSERT_EQ(a.kind, Kind::kAdmitted);
  clock.advance(5s);  // tokens refilled, but the slot is taken
  EXPECT_EQ(limiters.try_admit("ep_a", 1, clock.now()).kind, Kind::kInflightFull);
  EXPECT_EQ(limiters.try_admit("ep_a", 1, clock.now()).kind, Kind::kInflightFull);
  a = Admission{};  // the request finished
  EXPECT_EQ(limiters.try_admit("ep_a", 1, clock.now()).kind, Kind::kAdmitted);
}

TEST(RateLimitersTest, UnlimitedEndpointsOnlyMeetTheInflightCap) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 100});
  for (std::optional<double> rate : {std::optional<double>{}, std::optional<double>{0.0}}) {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiters.try_acquire("ep_free", rate, clock.now()));
    EXPECT_EQ(limiters.next_available("ep_free", rate, clock.now()), clock.now());
  }
  std::vector<Admission> held;
  for (int i = 0; i < 100; ++i) held.push_back(limiters.try_admit("ep_free", std::nullopt, clock.now()));
  EXPECT_EQ(limiters.try_admit("ep_free", std::nullopt, clock.now()).kind, Kind::kInflightFull);
}

TEST(RateLimitersTest, RateFollowsTheEndpointOnEachCall) {
  ManualClock clock;
  RateLimiters limiters;
  EXPECT_TRUE(limiters.try_acquire("ep_a", 1, clock.now()));
  EXPECT_FALSE(limiters.try_acquire("ep_a", 1, clock.now()));
  EXPECT_EQ(limiters.next_available("ep_a", 1, clock.now()), clock.now() + 1s);
  // The endpoint was edited to 100/s: the owed token becomes 10 ms and the burst 100.
  EXPECT_EQ(limiters.next_available("ep_a", 100, clock.now()), clock.now());
  int admitted = 0;
  while (limiters.try_acquire("ep_a", 100, clock.now())) ++admitted;
  EXPECT_EQ(admitted, 99);
  // Rate limit removed.
  EXPECT_TRUE(limiters.try_acquire("ep_a", std::nullopt, clock.now()));
}

TEST(RateLimitersTest, BurstKeepOneAndHasToken) {
  ManualClock clock;
  RateLimiters limiters;
  EXPECT_TRUE(limiters.has_token("ep_a", clock.now())) << "no bucket yet";
  int admitted = 0;
  while (limiters.try_admit("ep_a", 10, clock.now(), 2).kind == Admission::Kind::kAdmitted) ++admitted;
  EXPECT_EQ(admitted, 2);
  EXPECT_FALSE(limiters.has_token("ep_a", clock.now()));
  clock.advance(100ms);
  EXPECT_TRUE(limiters.has_token("ep_a", clock.now()));
  clock.advance(10s);                             // a full bucket again (2)...
  limiters.keep_one("ep_a", 10, 2, clock.now());  // ...of which one is kept
  EXPECT_EQ(limiters.try_admit("ep_a", 10, clock.now(), 2).kind, Admission::Kind::kAdmitted);
  EXPECT_EQ(limiters.try_admit("ep_a", 10, clock.now(), 2).kind, Admission::Kind::kRateLimited);
  // keep_one makes the bucket of an endpoint not seen before.
  limiters.keep_one("ep_b", 10, 5, clock.now());
  EXPECT_EQ(limiters.try_admit("ep_b", 10, clock.now(), 5).kind, Admission::Kind::kAdmitted);
  EXPECT_EQ(limiters.try_admit("ep_b", 10, clock.now(), 5).kind, Admission::Kind::kRateLimited);
}

TEST(RateLimitersTest, EndpointsAreIndependent) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 1});
  Admission slow = limiters.try_admit("ep_slow", 1, clock.now());
  ASSERT_EQ(slow.kind, Kind::kAdmitted);
  EXPECT_EQ(limiters.try_admit("ep_slow", 1, clock.now()).kind, Kind::kInflightFull);
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    Admission other = limiters.try_admit("ep_other", 1, clock.now());
    EXPECT_EQ(other.kind, Kind::kAdmitted) << i;
  }
}

TEST(RateLimitersTest, IdleEntriesExpire) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 2, .idle_ttl = std::chrono::minutes{10}});
  EXPECT_TRUE(limiters.try_acquire("ep_a", 1, clock.now()));
  auto held = limiters.try_acquire_inflight("ep_b", clock.now());
  ASSERT_TRUE(held);
  EXPECT_EQ(limiters.size(), 2u);

  clock.advance(std::chrono::minutes{10} - 1s);
  EXPECT_EQ(limiters.sweep(clock.now()), 0u);
  clock.advance(1s);
  EXPECT_EQ(limiters.sweep(clock.now()), 1u);  // ep_a; ep_b still has a request in flight
  EXPECT_EQ(limiters.size(), 1u);
  EXPECT_EQ(limiters.in_flight("ep_b"), 1);

  held.reset();
  clock.advance(std::chrono::minutes{10});
  EXPECT_EQ(limiters.sweep(clock.now()), 1u);
  EXPECT_EQ(limiters.size(), 0u);
}

TEST(RateLimitersTest, BucketStillRefillingIsNotDropped) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 1, .idle_ttl = std::chrono::minutes{1}});
  // 1 per hour: after one delivery the bucket is empty for an hour; forgetting it would grant a new token.
  EXPECT_TRUE(limiters.try_acquire("ep_slow", 1.0 / 3600, clock.now()));
  clock.advance(std::chrono::minutes{30});
  EXPECT_EQ(limiters.sweep(clock.now()), 0u);
  EXPECT_FALSE(limiters.try_acquire("ep_slow", 1.0 / 3600, clock.now()));
  clock.advance(std::chrono::minutes{29});
  EXPECT_EQ(limiters.sweep(clock.now()), 0u);  // unused for 29 minutes, but the bucket is not full yet
  clock.advance(std::chrono::minutes{1});
  EXPECT_EQ(limiters.sweep(clock.now()), 1u);  // full again an hour after the delivery: nothing to remember
}

TEST(RateLimitersTest, SweepRunsByItselfFromOtherCalls) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 1, .idle_ttl = std::chrono::minutes{1}});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiters.try_acquire("ep_" + std::to_string(i), 5, clock.now()));
  EXPECT_EQ(limiters.size(), 100u);
  clock.advance(std::chrono::minutes{2});
  EXPECT_TRUE(limiters.try_acquire("ep_new", 5, clock.now()));
  EXPECT_EQ(limiters.size(), 1u);
}

TEST(RateLimitersTest, ForgetKeepsOutstandingPermitsValid) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 1});
  Admission a = limiters.try_admit("ep_a", std::nullopt, clock.now());
  ASSERT_EQ(a.kind, Kind::kAdmitted);
  limiters.forget("ep_a");
  EXPECT_EQ(limiters.size(), 0u);
  EXPECT_EQ(limiters.in_flight("ep_a"), 0);
  a.permit.release();  // releases into the forgotten limiter, which the permit kept alive
}

TEST(RateLimitersTest, ConcurrentAdmissionsRespectTheCap) {
  ManualClock clock;
  RateLimiters limiters({.max_in_flight_per_endpoint = 2});
  std::atomic<int> holders_a{0}, max_a{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const std::string id = (i + t) % 2 == 0 ? "ep_a" : "ep_" + std::to_string(t);
        Admission adm = limiters.try_admit(id, std::nullopt, clock.now());
        if (adm.kind != Kind::kAdmitted || id != "ep_a") continue;
        int h = holders_a.fetch_add(1) + 1;
        int seen = max_a.load();
        while (h > seen && !max_a.compare_exchange_weak(seen, h)) {
        }
        holders_a.fetch_sub(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(max_a.load(), 2);
  EXPECT_EQ(limiters.in_flight("ep_a"), 0);
}

}  // namespace
}  // namespace hookwire::delivery
