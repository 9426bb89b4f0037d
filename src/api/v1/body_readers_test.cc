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

// Hookwire's extension fields: booleans, off unless given; PUT resets what it omits, PATCH keeps it.
TEST(EndpointBody, ReadsPullOnlyAndThin) {
  auto ep = parse_endpoint_body(R"({"url":"https://example.com/h","pullOnly":true,"thin":true})",
                                EndpointBody::kIn);
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->pull_only);
  EXPECT_TRUE(ep->thin);
  ep = parse_endpoint_body(R"({"url":"https://example.com/h"})", EndpointBody::kIn);
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->pull_only);
  EXPECT_FALSE(ep->thin);
  ep = parse_endpoint_body(R"({"url":"https://example.com/h","pullOnly":null})", EndpointBody::kUpdate);
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->pull_only);
  ep = parse_endpoint_body(R"({"thin":true})", EndpointBody::kPatch);
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->thin);
  EXPECT_FALSE(ep->pull_only);
  for (const char* body : {R"({"url":"https://example.com/h","pullOnly":"yes"})",
                           R"({"url":"https://example.com/h","pullOnly":1})"}) {
    auto bad = parse_endpoint_body(body, EndpointBody::kIn);
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().code, Errc::kValidation);
    EXPECT_EQ(bad.error().field, "body.pullOnly");
  }
  auto bad = parse_endpoint_body(R"({"thin":[]})", EndpointBody::kPatch);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "body.thin");
  // A pull-only endpoint keeps Svix's required url, checked as any other.
  bad = parse_endpoint_body(R"({"pullOnly":true})", EndpointBody::kIn);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "body.url");
  bad = parse_endpoint_body(R"({"url":"http://169.254.169.254/","pullOnly":true})", EndpointBody::kIn);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "body.url");
}

// payloadRetentionPeriod (days, 1..90) / payloadRetentionHours (1..2160), one or the other: the payload's
// deletion time, counted from creation (the epoch here: parse_message_in sets no time).
TEST(MessageBody, ReadsPayloadRetention) {
  auto m = parse_message_in(R"({"eventType":"a","payload":{}})");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->payload_expires_at);
  m = parse_message_in(R"({"eventType":"a","payload":{},"payloadRetentionPeriod":1})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload_expires_at, m->created_at + std::chrono::hours{24});
  m = parse_message_in(R"({"eventType":"a","payload":{},"payloadRetentionHours":2160,
                           "payloadRetentionPeriod":null})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload_expires_at, m->created_at + std::chrono::hours{2160});
  for (const auto& [body, field] : std::vector<std::pair<const char*, const char*>>{
           {R"({"eventType":"a","payload":{},"payloadRetentionPeriod":0})", "body.payloadRetentionPeriod"},
           {R"({"eventType":"a","payload":{},"payloadRetentionPeriod":91})", "body.payloadRetentionPeriod"},
           {R"({"eventType":"a","payload":{},"payloadRetentionPeriod":"7"})", "body.payloadRetentionPeriod"},
           {R"({"eventType":"a","payload":{},"payloadRetentionHours":0})", "body.payloadRetentionHours"},
           {R"({"eventType":"a","payload":{},"payloadRetentionHours":2161})", "body.payloadRetentionHours"},
           {R"({"eventType":"a","payload":{},"payloadRetentionPeriod":2,"payloadRetentionHours":3})",
            "body.payloadRetentionHours"}}) {
    auto bad = parse_message_in(body);
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().code, Errc::kValidation) << body;
    EXPECT_EQ(bad.error().field, field) << body;
  }
}

}  // namespace
}  // namespace hookwire::api::v1
