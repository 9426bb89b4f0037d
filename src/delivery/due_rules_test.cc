#include "delivery/due_rules.h"

#include <gtest/gtest.h>

#include <memory>

namespace hookwire::delivery {
namespace {

store::Claim sendable() {
  store::Claim c;
  c.message.emplace();
  c.message->payload = R"({"a":1})";
  c.endpoint = std::make_shared<const store::Endpoint>();
  return c;
}

TEST(DueRulesTest, ADeliveryWithAMessageAndAnEnabledPushEndpointIsSent) {
  EXPECT_TRUE(judge(sendable()).send);
}

TEST(DueRulesTest, NothingLeftToSendOrNowhereToSendItFailsUnsentWithTheReason) {
  auto no_message = sendable();
  no_message.message.reset();
  auto expunged = sendable();
  expunged.message->payload.clear();
  auto no_endpoint = sendable();
  no_endpoint.endpoint.reset();
  auto disabled = sendable();
  auto ep = std::make_shared<store::Endpoint>();
  ep->disabled = true;
  disabled.endpoint = ep;
  auto pull_only = sendable();
  auto sink = std::make_shared<store::Endpoint>();
  sink->pull_only = true;
  pull_only.endpoint = sink;
  for (const auto& [claim, reason] :
       {std::pair{no_message, "its message was deleted"}, std::pair{expunged, "its payload was expunged"},
        std::pair{no_endpoint, "its endpoint was deleted"}, std::pair{disabled, "its endpoint is disabled"},
        std::pair{pull_only, "its endpoint is pull-only"}}) {
    const DueVerdict v = judge(claim);
    EXPECT_FALSE(v.send) << reason;
    EXPECT_EQ(v.reason, reason);
  }
}

}  // namespace
}  // namespace hookwire::delivery
