#include "core/clock.h"

#include <gtest/gtest.h>

namespace hookwire {
namespace {

TEST(Iso8601, FormatsUtcWithMillis) {
  EXPECT_EQ(format_iso8601(from_unix_millis(1614265330123)), "2021-02-25T15:02:10.123Z");
  EXPECT_EQ(format_iso8601(from_unix_millis(0)), "1970-01-01T00:00:00.000Z");
}

TEST(Iso8601, ParsesZuluOffsetsAndFractions) {
  EXPECT_EQ(unix_millis(*parse_iso8601("2021-02-25T15:02:10.123Z")), 1614265330123);
  EXPECT_EQ(unix_millis(*parse_iso8601("2021-02-25T15:02:10Z")), 1614265330000);
  EXPECT_EQ(unix_millis(*parse_iso8601("2021-02-25T17:02:10.5+02:00")), 1614265330500);
  EXPECT_EQ(unix_millis(*parse_iso8601("2021-02-25T13:02:10-02:00")), 1614265330000);
}

TEST(Iso8601, RefusesJunk) {
  for (const char* s :
       {"", "2021-02-25", "2021-02-30T00:00:00Z", "2021-02-25T25:00:00Z", "2021-02-25T15:02:10",
        "2021-02-25T15:02:10.Z", "2021-02-25T15:02:10Zjunk", "yesterday"})
    EXPECT_FALSE(parse_iso8601(s)) << s;
}

// Issue #18: dates outside what TimePoint holds (nanoseconds since 1970 in 64 bits: 1677-09-21 to
// 2262-04-11) overflowed into wrong times; they are refused instead.
TEST(Iso8601, RefusesDatesOutsideTheRangeOfTimePoint) {
  EXPECT_FALSE(parse_iso8601("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(parse_iso8601("2263-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("0000-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("1677-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601("2262-04-11T23:47:16.854775808+00:00"));  // one past the last nanosecond
  auto late = parse_iso8601("2262-04-10T00:00:00Z");
  ASSERT_TRUE(late);
  EXPECT_EQ(format_iso8601(*late), "2262-04-10T00:00:00.000Z");
  auto early = parse_iso8601("1678-01-01T00:00:00Z");
  ASSERT_TRUE(early);
  EXPECT_LT(*early, TimePoint{});
  EXPECT_EQ(format_iso8601(*early), "1678-01-01T00:00:00.000Z");
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock;
  const auto t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(std::chrono::seconds{5});
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds{5});
}

}  // namespace
}  // namespace hookwire
