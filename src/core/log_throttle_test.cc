#include "core/log_throttle.h"

#include <gtest/gtest.h>

#include <string>

namespace hookwire {
namespace {

using std::chrono::seconds;

TEST(LogThrottle, LimitsEachKeyPerWindowAndCountsWhatItHeldBack) {
  ManualClock clock;
  LogThrottle t(clock, {seconds{60}, 2, 100});
  EXPECT_TRUE(t.admit("ep_a"));
  EXPECT_TRUE(t.admit("ep_a"));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(t.admit("ep_a"));
  EXPECT_TRUE(t.admit("ep_b"));  // another key has its own budget
  clock.advance(seconds{59});
  EXPECT_FALSE(t.admit("ep_a"));
  clock.advance(seconds{1});
  auto v = t.admit("ep_a");
  EXPECT_TRUE(v);
  EXPECT_EQ(v.suppressed, 11u);
  EXPECT_EQ(t.admit("ep_a").suppressed, 0u);
}

TEST(LogThrottle, AFloodOfKeysIsBounded) {
  ManualClock clock;
  LogThrottle t(clock, {seconds{60}, 1, 8});
  int written = 0;
  for (int i = 0; i < 1000; ++i) written += t.admit("key" + std::to_string(i)) ? 1 : 0;
  EXPECT_LE(t.keys(), 9u);  // 8 keys and the shared overflow key
  EXPECT_EQ(written, 9);
  clock.advance(seconds{60});  // expired keys make room again
  EXPECT_TRUE(t.admit("fresh"));
  EXPECT_LE(t.keys(), 9u);
}

}  // namespace
}  // namespace hookwire
