#include "delivery/provider_headers.h"

#include <gtest/gtest.h>

namespace hookwire::delivery {
namespace {

TEST(ProviderHeaders, ForwardsTheProvidersOwnButNeverHookwiresOrTheEndpoints) {
  Headers out;
  append_provider_headers(
      R"({"stripe-signature":"t=1,v1=ab","x-github-event":"push","content-type":"application/json",)"
      R"("user-agent":"Stripe/1.0","webhook-signature":"v1,xyz","svix-id":"msg_1","x-hookwire-event-type":"x",)"
      R"("x-custom":"from-provider"})",
      {{"X-Custom", "from-endpoint"}}, out);
  EXPECT_EQ(out, (Headers{{"stripe-signature", "t=1,v1=ab"}, {"x-github-event", "push"}}));
}

TEST(ProviderHeaders, TextThatIsNotAnObjectOfStringsAddsNothing) {
  for (const char* kept : {"", "[]", "{", R"({"a":1})", "null"}) {
    Headers out;
    append_provider_headers(kept, {}, out);
    EXPECT_TRUE(out.empty()) << kept;
  }
}

}  // namespace
}  // namespace hookwire::delivery
