// Record shapes whose rules are hookwire's own (the rest are checked against Svix's schema by
// tests/interop/svix_parity.test.mjs).
#include "api/v1/serialize.h"

#include <gtest/gtest.h>

namespace hookwire::api::v1 {
namespace {

// The single attempt's `requestHeaders`: the recorded lines as an object in the order sent; null when none.
// The listings' shape (to_json) leaves the field out.
TEST(AttemptJson, RequestHeadersAreAnObjectInTheOrderSentOrNull) {
  store::Attempt a;
  a.request_headers =
      "User-Agent: hookwire/0.1\nAuthorization: [redacted]\nX-Empty: \nX-Colon: a: b\n"
      "webhook-signature: v1,abc=\nContent-Type: application/json";
  EXPECT_FALSE(to_json(a).contains("requestHeaders"));
  const json::object out = attempt_detail_json(a);
  const auto& headers = out.at("requestHeaders").as_object();
  std::vector<std::string> names;
  for (const auto& kv : headers) names.emplace_back(kv.key());
  EXPECT_EQ(names, (std::vector<std::string>{"User-Agent", "Authorization", "X-Empty", "X-Colon",
                                             "webhook-signature", "Content-Type"}));
  EXPECT_EQ(headers.at("Authorization").as_string(), "[redacted]");
  EXPECT_EQ(headers.at("X-Empty").as_string(), "");
  EXPECT_EQ(headers.at("X-Colon").as_string(), "a: b");  // a name ends at the first ':'
  EXPECT_EQ(headers.at("webhook-signature").as_string(), "v1,abc=");

  a.request_headers.clear();
  EXPECT_TRUE(attempt_detail_json(a).at("requestHeaders").is_null());
}

// A name sent twice (compared case-insensitively) appears once, with its first spelling and the values
// joined as RFC 9110 combines them.
TEST(AttemptJson, ARepeatedHeaderNameHasItsValuesJoined) {
  store::Attempt a;
  a.request_headers = "X-Trace: one\nx-other: 1\nx-trace: two";
  const json::object out = attempt_detail_json(a);
  const auto& headers = out.at("requestHeaders").as_object();
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers.at("X-Trace").as_string(), "one, two");
  EXPECT_EQ(json::serialize(headers), R"({"X-Trace":"one, two","x-other":"1"})");
}

}  // namespace
}  // namespace hookwire::api::v1
