#include "core/names.h"

#include <gtest/gtest.h>

#include <string>

#include "core/utf8.h"

namespace hookwire {
namespace {

TEST(Names, TokensFollowSvixRule) {
  EXPECT_TRUE(is_token("user.created-v2_x"));
  EXPECT_TRUE(is_token(std::string(256, 'a')));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a/b"));
  EXPECT_FALSE(is_token("evil\r\nX-Injected: yes"));
  EXPECT_FALSE(is_token(std::string(257, 'a')));
}

TEST(Names, InboundEventTypesAreTokensOrTokenPaths) {
  EXPECT_TRUE(is_inbound_event_type("invoice.paid"));
  EXPECT_TRUE(is_inbound_event_type("orders/create"));  // Shopify topics
  EXPECT_TRUE(is_inbound_event_type("a/b/c"));
  EXPECT_FALSE(is_inbound_event_type(""));
  EXPECT_FALSE(is_inbound_event_type("/a"));
  EXPECT_FALSE(is_inbound_event_type("a/"));
  EXPECT_FALSE(is_inbound_event_type("a//b"));
  EXPECT_FALSE(is_inbound_event_type("evil\r\nX-Injected: yes"));
  EXPECT_FALSE(is_inbound_event_type(std::string("a\0b", 3)));
  EXPECT_FALSE(is_inbound_event_type("caf\xc3\xa9"));
  EXPECT_FALSE(is_inbound_event_type(std::string(257, 'a')));
}

TEST(Names, FieldNamesAndValuesFollowRfc9110) {
  EXPECT_TRUE(is_field_name("X-Custom_Header!#$%&'*+.^`|~9"));
  EXPECT_FALSE(is_field_name(""));
  EXPECT_FALSE(is_field_name("a b"));
  EXPECT_FALSE(is_field_name("a:b"));
  EXPECT_FALSE(is_field_name("a\r\nb"));
  EXPECT_FALSE(is_field_name(std::string("a\0", 2)));
  EXPECT_TRUE(is_field_value(""));
  EXPECT_TRUE(is_field_value("Bearer abc, q=\"x\"\t\x80\xff"));
  EXPECT_FALSE(is_field_value("a\rb"));
  EXPECT_FALSE(is_field_value("a\nb"));
  EXPECT_FALSE(is_field_value(std::string("a\0b", 3)));
  EXPECT_FALSE(
      is_field_value("a\x01"
                     "b"));
  EXPECT_FALSE(is_field_value("a\x7f"));
}

TEST(Names, SensitiveHeadersAreNamedWhateverTheirCase) {
  for (const char* name :
       {"Authorization", "authorization", "PROXY-AUTHORIZATION", "Cookie", "x-api-key", "X-Api-Key"})
    EXPECT_TRUE(is_sensitive_header(name)) << name;
  for (const char* name :
       {"", "X-Tenant", "Authorizatio", "authorization2", "set-cookie", "webhook-signature", "x-api-keys"})
    EXPECT_FALSE(is_sensitive_header(name)) << name;
}

TEST(Names, ToValidUtf8ReplacesOnlyWhatIsNotUtf8) {
  EXPECT_EQ(to_valid_utf8("plain"), "plain");
  EXPECT_EQ(to_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(to_valid_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong";
  EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "surrogate";
  EXPECT_EQ(to_valid_utf8("a\xe2\x82"), "a\xEF\xBF\xBD\xEF\xBF\xBD") << "cut short";
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(to_valid_utf8(with_nul), with_nul) << "NUL is UTF-8";
  EXPECT_EQ(to_valid_utf8(with_nul, true),
            "a\xEF\xBF\xBD"
            "b")
      << "unless it must go";
  EXPECT_EQ(utf8_sequence_length(""), 0u);
  EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac!"), 3u);
}

TEST(Names, Utf8IsWellFormedOrRefused) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain ascii"));
  EXPECT_TRUE(is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(is_utf8("\xff"));
  EXPECT_FALSE(is_utf8("caf\xc3"));           // cut short
  EXPECT_FALSE(is_utf8("\xc3\x28"));          // bad continuation
  EXPECT_FALSE(is_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));      // overlong, three bytes
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_utf8("\xf0\x9f\x98"));      // four bytes cut short
}

}  // namespace
}  // namespace hookwire
