#include "delivery/fan_out.h"

#include <gtest/gtest.h>

namespace hookwire::delivery {
namespace {

store::Message message(std::string type, std::optional<std::vector<std::string>> channels = std::nullopt) {
  store::Message m;
  m.event_type = std::move(type);
  m.channels = std::move(channels);
  return m;
}

TEST(EndpointMatches, FiltersByDisabledEventTypeAndChannel) {
  store::Endpoint all;
  EXPECT_TRUE(endpoint_matches(all, message("a.b")));
  EXPECT_TRUE(endpoint_matches(all, message("a.b", std::vector<std::string>{"c"})));

  store::Endpoint disabled;
  disabled.disabled = true;
  EXPECT_FALSE(endpoint_matches(disabled, message("a.b")));

  store::Endpoint typed;
  typed.event_types = std::vector<std::string>{"a.b", "x.y"};
  EXPECT_TRUE(endpoint_matches(typed, message("x.y")));
  EXPECT_FALSE(endpoint_matches(typed, message("a.c")));

  store::Endpoint chan;
  chan.channels = std::vector<std::string>{"p1", "p2"};
  EXPECT_TRUE(endpoint_matches(chan, message("a.b", std::vector<std::string>{"p9", "p2"})));
  EXPECT_FALSE(endpoint_matches(chan, message("a.b", std::vector<std::string>{"p9"})));
  EXPECT_FALSE(endpoint_matches(chan, message("a.b")));
}

}  // namespace
}  // namespace hookwire::delivery
