// The handlers' body readers as pure functions (body_readers.h).
#include "api/v1/body_readers.h"

#include <gtest/gtest.h>

namespace hookwire::api::v1 {
namespace {

// fuzz/fuzz_json_bodies.cc found a custom header name with a NUL accepted: strchr() finds the terminating NUL
// of its set, so "X\u0000Custom" passed as a token and would be stored and sent.
TEST(EndpointBody, RefusesAHeaderNameWithNul) {
  auto ep = parse_endpoint_body(R"({"url":"https://example.com/h","headers":{"X\u0000Custom":"1"}})",
                                EndpointBody::kIn);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().field, "body.headers");
}

TEST(EndpointBody, KeepsTokenHeaderNames) {
  auto ep = parse_endpoint_body(R"({"url":"https://example.com/h","headers":{"X-Custom_1~":"v"}})",
                                EndpointBody::kIn);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->headers.at("X-Custom_1~"), "v");
}

}  // namespace
}  // namespace hookwire::api::v1
