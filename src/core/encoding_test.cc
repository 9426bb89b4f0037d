#include "core/encoding.h"

#include <gtest/gtest.h>

namespace hookwire {
namespace {

TEST(Base64, RoundTripsAllLengths) {
  for (size_t n = 0; n < 40; ++n) {
    std::string bytes = random_bytes(n);
    auto enc = base64_encode(bytes);
    EXPECT_EQ(enc.size() % 4, 0u);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, bytes);
  }
}

TEST(Base64, KnownValuesAndRejects) {
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(*base64_decode("Zm8"), "fo");  // padding optional
  EXPECT_FALSE(base64_decode("Zm9=v"));
  EXPECT_FALSE(base64_decode("Zm8 "));
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_FALSE(base64_decode("Zm9-"));  // url-safe alphabet is not standard base64
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(hex_encode("\x01\xab"), "01ab");
  EXPECT_EQ(*hex_decode("01AB"), "\x01\xab");
  EXPECT_FALSE(hex_decode("0"));
  EXPECT_FALSE(hex_decode("zz"));
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

}  // namespace
}  // namespace hookwire
