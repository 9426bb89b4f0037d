#include "delivery/rate_shares.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kEp = "ep_2aVvBqQkn8xcjsqZ3fCNQvzjb1T";

RateShares::Options options(std::string node = "a1") {
  return RateShares::Options{std::move(node), 1000ms, 100ms, 3000ms};
}

TEST(RateSharesTest, TopicsNameTheNodeWhetherItWorksAndTheEndpoint) {
  EXPECT_EQ(RateShares::topic("a1", kEp, true), "rate_a1_1_ep_2aVvBqQkn8xcjsqZ3fCNQvzjb1T");
  EXPECT_EQ(RateShares::topic("a1", kEp, false), "rate_a1_0_ep_2aVvBqQkn8xcjsqZ3fCNQvzjb1T");
  EXPECT_TRUE(RateShares::is_topic("rate_a1_1_ep_x"));
  EXPECT_FALSE(RateShares::is_topic("sources"));
  EXPECT_FALSE(RateShares::is_topic("*"));
}

TEST(RateSharesTest, UntilItHasHeardLongEnoughEveryLiveNodeCounts) {
  ManualClock clock;
  RateShares shares(options(), clock.now());
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 3);
  clock.advance(2999ms);
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 3);
  clock.advance(1ms);
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 1) << "nobody announced work: this node has the whole limit";
  // "*": announcements may have been missed; every live node counts again for a while.
  shares.heard("*", clock.now());
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 3);
  clock.advance(3s);
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 1);
}

TEST(RateSharesTest, TheLimitIsDividedBetweenTheNodesAnnouncedToHaveWork) {
  ManualClock clock;
  RateShares shares(options(), clock.now());
  clock.advance(3s);
  shares.heard(RateShares::topic("b2", kEp, true), clock.now());
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 2);
  EXPECT_EQ(shares.sharers("ep_other", 3, clock.now()), 1);
  shares.heard(RateShares::topic("c3", kEp, true), clock.now());
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 3);
  shares.heard(RateShares::topic("c3", kEp, true), clock.now());  // a renewal counts once
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 3);
  // One stops: the others share its part at once.
  shares.heard(RateShares::topic("c3", kEp, false), clock.now());
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 2);
  // One not renewed (a node that died) is forgotten after expire_after.
  clock.advance(2999ms);
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 2);
  clock.advance(1ms);
  EXPECT_EQ(shares.sharers(kEp, 3, clock.now()), 1);
}

TEST(RateSharesTest, ItsOwnAnnouncementsAndOtherTopicsAreIgnored) {
  ManualClock clock;
  RateShares shares(options("a1"), clock.now());
  clock.advance(3s);
  for (std::string_view t :
       {"rate_a1_1_ep_x", "sources", "rate__1_ep_x", "rate_b2_2_ep_x", "rate_b2_1_", "rate_b2_1", "rate_b2"})
    shares.heard(t, clock.now());
  EXPECT_EQ(shares.sharers("ep_x", 3, clock.now()), 1);
}

TEST(RateSharesTest, AnnouncesWorkWhenItStartsRenewsItAndEndsItAfterTheHoldDown) {
  ManualClock clock;
  RateShares shares(options("a1"), clock.now());
  bool started = false;
  auto first = shares.hold(kEp, clock.now(), &started);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, RateShares::topic("a1", kEp, true));
  EXPECT_TRUE(started);
  EXPECT_EQ(shares.holding(), 1u);
  // More work within the period: nothing new to say.
  clock.advance(500ms);
  EXPECT_FALSE(shares.hold(kEp, clock.now(), &started));
  EXPECT_FALSE(started);
  bool holds = true;
  auto tick = [&] { return shares.tick(clock.now(), [&](std::string_view) { return holds; }); };
  EXPECT_TRUE(tick().empty());
  // Renewed every announce_every while it lasts.
  clock.advance(500ms);
  EXPECT_EQ(tick(), std::vector<std::string>{RateShares::topic("a1", kEp, true)});
  clock.advance(500ms);
  EXPECT_TRUE(tick().empty());
  // None left: announced stopped once the hold-down has passed, and only once.
  holds = false;
  clock.advance(99ms);
  EXPECT_TRUE(tick().empty());
  clock.advance(1ms);
  EXPECT_EQ(tick(), std::vector<std::string>{RateShares::topic("a1", kEp, false)});
  EXPECT_EQ(shares.holding(), 0u);
  EXPECT_TRUE(tick().empty());
  // Work again: a new start.
  auto again = shares.hold(kEp, clock.now(), &started);
  ASSERT_TRUE(again);
  EXPECT_TRUE(started);
}

}  // namespace
}  // namespace hookwire::delivery
