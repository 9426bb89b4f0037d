#include "feed/hub.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "feed/cursor.h"

namespace hookwire::feed {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Starts hub.wait() on `ioc` and records its outcome.
void start_wait(asio::io_context& ioc, FeedHub& hub, std::string app, int64_t seen,
                std::chrono::milliseconds t, std::optional<FeedHub::Wake>& out) {
  asio::co_spawn(
      ioc, [&hub, app, seen, t, &out]() -> asio::awaitable<void> { out = co_await hub.wait(app, seen, t); },
      asio::detached);
}

TEST(FeedHub, AnAdvanceOfTheApplicationWakesItsWaiterOnly) {
  asio::io_context ioc;
  FeedHub hub;
  std::optional<FeedHub::Wake> a, b;
  start_wait(ioc, hub, "app_a", 0, 1h, a);
  start_wait(ioc, hub, "app_b", 0, 1h, b);
  ioc.poll();
  EXPECT_EQ(hub.waiting(), 2u);
  // From another thread, as the store does.
  std::thread([&] { hub.advance({.head = 5, .app_ids = {"app_a"}}); }).join();
  ioc.poll();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, FeedHub::Wake::kAdvanced);
  EXPECT_FALSE(b.has_value());
  EXPECT_EQ(hub.waiting(), 1u);
  hub.stop();
  ioc.poll();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, FeedHub::Wake::kStopped);
  EXPECT_EQ(hub.waiting(), 0u);
}

TEST(FeedHub, AnAdvanceBetweenTheReadAndTheWaitIsNotLost) {
  asio::io_context ioc;
  FeedHub hub;
  hub.advance({.head = 7, .app_ids = {"app_a"}});
  std::optional<FeedHub::Wake> seen_6, seen_7;
  start_wait(ioc, hub, "app_a", 6, 1h, seen_6);   // read up to 6: the advance to 7 is news
  start_wait(ioc, hub, "app_a", 7, 1ms, seen_7);  // read up to 7: nothing new
  ioc.run_for(5s);
  ASSERT_TRUE(seen_6.has_value());
  EXPECT_EQ(*seen_6, FeedHub::Wake::kAdvanced);
  ASSERT_TRUE(seen_7.has_value());
  EXPECT_EQ(*seen_7, FeedHub::Wake::kTimeout);
  EXPECT_EQ(hub.waiting(), 0u);
}

TEST(FeedHub, AfterStopEveryWaitReturnsAtOnce) {
  asio::io_context ioc;
  FeedHub hub;
  hub.stop();
  std::optional<FeedHub::Wake> w;
  start_wait(ioc, hub, "app_a", 0, 1h, w);
  ioc.poll();
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, FeedHub::Wake::kStopped);
}

TEST(FeedCursor, RoundTripsAndRefusesAnythingElse) {
  for (int64_t p : {int64_t{0}, int64_t{1}, int64_t{123456789}, INT64_MAX}) {
    EXPECT_EQ(decode_cursor(encode_cursor(p)), p);
  }
  EXPECT_NE(encode_cursor(1), encode_cursor(2));
  for (std::string_view bad :
       {"", "itr_", "itr_000000000000000g", "itr_00000000000000001", "xyz_0000000000000001",
        "itr_ffffffffffffffff", "ITR_0000000000000001", "itr_000000000000000A"}) {
    EXPECT_FALSE(decode_cursor(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace hookwire::feed
