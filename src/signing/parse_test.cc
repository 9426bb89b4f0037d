#include "signing/parse.h"

#include <gtest/gtest.h>

namespace hookwire::signing {
namespace {

TEST(signing_parse, UnixSeconds) {
  EXPECT_EQ(parse_unix_seconds("0"), 0);
  EXPECT_EQ(parse_unix_seconds("1614265330"), 1614265330);
  EXPECT_EQ(parse_unix_seconds("999999999999"), 999999999999);
  for (std::string_view bad : {"", "1e9", "-1", "+1", " 1", "1 ", "1.0", "9999999999999", "0x10"})
    EXPECT_FALSE(parse_unix_seconds(bad)) << bad;
}

TEST(signing_parse, StandardSignatures) {
  auto s = parse_standard_signatures("v1,abc  v1a,def,ghi junk v2,x ,");
  ASSERT_EQ(s.count, 4u);
  EXPECT_EQ(s.entries[0].version, "v1");
  EXPECT_EQ(s.entries[0].value, "abc");
  EXPECT_EQ(s.entries[1].version, "v1a");
  EXPECT_EQ(s.entries[1].value, "def,ghi");
  EXPECT_EQ(s.entries[2].version, "v2");
  EXPECT_EQ(s.entries[3].version, "");
  EXPECT_EQ(parse_standard_signatures("").count, 0u);
  std::string many;
  for (int i = 0; i < 100; ++i) many += "v1,x ";
  EXPECT_EQ(parse_standard_signatures(many).count, StandardSignatures::kMax);
}

TEST(signing_parse, StripeHeader) {
  auto h = parse_stripe_header("t=12,v1=aa,v0=bb,v1=cc,x");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->timestamp, 12);
  ASSERT_EQ(h->v1_count, 2u);
  EXPECT_EQ(h->v1[0], "aa");
  EXPECT_EQ(h->v1[1], "cc");
  EXPECT_FALSE(parse_stripe_header(""));
  EXPECT_FALSE(parse_stripe_header("t=12"));
  EXPECT_FALSE(parse_stripe_header("v1=aa"));
  EXPECT_FALSE(parse_stripe_header("t=x,v1=aa"));
  EXPECT_FALSE(parse_stripe_header("t=1,t=1,v1=aa"));
  EXPECT_TRUE(parse_stripe_header("v1=aa,t=1,"));
}

TEST(signing_parse, PrefixAndCase) {
  EXPECT_EQ(strip_prefix("sha256=ab", "sha256="), "ab");
  EXPECT_FALSE(strip_prefix("sha1=ab", "sha256="));
  EXPECT_EQ(strip_prefix("ab", ""), "ab");
  EXPECT_TRUE(iequals("Webhook-ID", "webhook-id"));
  EXPECT_FALSE(iequals("webhook-id", "webhook-ie"));
  EXPECT_FALSE(iequals("a", "ab"));
}

}  // namespace
}  // namespace hookwire::signing
