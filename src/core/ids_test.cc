#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace hookwire {
namespace {

TEST(Ids, HaveSvixShape) {
  auto id = new_id(id_prefix::kMessage);
  EXPECT_EQ(id.size(), 4u + 27u);
  EXPECT_TRUE(is_id(id, "msg"));
  EXPECT_FALSE(is_id(id, "app"));
  EXPECT_FALSE(is_id("msg_short", "msg"));
  EXPECT_FALSE(is_id("msg_!!!!!!!!!!!!!!!!!!!!!!!!!!!", "msg"));
}

TEST(Ids, StrictlyIncreasingEvenWhenTheClockStandsStill) {
  ManualClock clock;
  std::string prev = new_id("msg", clock.now());
  for (int i = 0; i < 10000; ++i) {
    auto next = new_id("msg", clock.now());
    ASSERT_LT(prev, next);
    prev = next;
  }
}

TEST(Ids, UniqueAcrossThreads) {
  std::vector<std::vector<std::string>> out(4);
  std::vector<std::thread> threads;
  for (auto& v : out)
    threads.emplace_back([&v] {
      for (int i = 0; i < 5000; ++i) v.push_back(new_id("msg"));
    });
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 20000u);
}

TEST(Ids, IdAfterIsTheNextValueWithTheSamePrefix) {
  EXPECT_EQ(id_after("msg_1oyiezkiIsZwgMEpGn566RMFvXM"), "msg_1oyiezkiIsZwgMEpGn566RMFvXN");
  EXPECT_EQ(id_after("msg_1oyiezkiIsZwgMEpGn566RMFvX9"), "msg_1oyiezkiIsZwgMEpGn566RMFvXA");
  EXPECT_EQ(id_after("msg_1oyiezkiIsZwgMEpGn566RMFvXz"), "msg_1oyiezkiIsZwgMEpGn566RMFvY0");
  EXPECT_EQ(id_after("msg_1oyiezkiIsZwgMEpGn566RMFvzz"), "msg_1oyiezkiIsZwgMEpGn566RMFw00");
  const std::string id = new_id("msg");
  EXPECT_LT(id, id_after(id));
  EXPECT_TRUE(is_id(id_after(id), "msg"));
}

TEST(Ids, SortByTimeAcrossSeconds) {
  ManualClock clock{from_unix_millis(1'900'000'000'000)};  // later than any id other tests made
  auto early = new_id("msg", clock.now());
  clock.advance(std::chrono::seconds{1});
  EXPECT_LE(min_id_at("msg", clock.now()), new_id("msg", clock.now()));
  EXPECT_LT(early, min_id_at("msg", clock.now() + std::chrono::seconds{1}));
}

}  // namespace
}  // namespace hookwire

namespace hookwire {
namespace {

// Known value computed independently (big-integer base62 of the 20 KSUID bytes): the encoding is KSUID's.
TEST(Ids, EncodeLikeKsuid) {
  EXPECT_EQ(min_id_at("msg", from_unix_millis(1614265330000)), "msg_1oyiezkiIsZwgMEpGn566RMFvXM");
  EXPECT_EQ(min_id_at("msg", from_unix_millis(1400000000000)), "msg_000000000000000000000000000");
}

}  // namespace
}  // namespace hookwire
