#include "app/app.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "api/http_server.h"

namespace hookwire::app {
namespace {

constexpr size_t kOverhead = api::HttpServer::kMaxRefusing + 1;  // refusals in progress, the acceptor

TEST(FitConnectionCap, KeepsTheRequestedCapWhenTheLimitAllowsIt) {
  EXPECT_EQ(fit_connection_cap(10'000, 1'048'576, 576), 10'000u);
  EXPECT_EQ(fit_connection_cap(10'000, SIZE_MAX, 576), 10'000u);
}

TEST(FitConnectionCap, LowersTheCapToLeaveTheReserve) {
  EXPECT_EQ(fit_connection_cap(10'000, 4096, 576), 4096 - 576 - kOverhead);
  // At most half the limit is reserved, and the cap is never 0.
  EXPECT_EQ(fit_connection_cap(10'000, 1024, 576), 1024 - 512 - kOverhead);
  EXPECT_EQ(fit_connection_cap(10'000, 40, 576), 1u);
}

TEST(PublicBaseUrl, TakesAnAbsoluteHttpUrlWithoutItsTrailingSlash) {
  EXPECT_EQ(*public_base_url("https://hooks.example.com"), "https://hooks.example.com");
  EXPECT_EQ(*public_base_url("https://hooks.example.com/"), "https://hooks.example.com");
  EXPECT_EQ(*public_base_url("http://[::1]:8071/hookwire/"), "http://[::1]:8071/hookwire");
  for (const char* bad :
       {"", "hooks.example.com", "/api", "ftp://example.com", "https://", "https://u:p@example.com",
        "https://example.com/?a=1", "https://example.com/#top", "https://exa mple.com"}) {
    auto r = public_base_url(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, "--public-url") << bad;
  }
}

}  // namespace
}  // namespace hookwire::app
