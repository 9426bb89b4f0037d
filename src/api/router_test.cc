#include "api/router.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hookwire::api {
namespace {

Handler tagged(std::string tag) {
  return [tag](const Request&, const PathParams&) -> boost::asio::awaitable<Response> {
    Response res{http::status::ok, 11};
    res.body() = tag;
    co_return res;
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void add(http::verb v, std::string pattern) {
    router_.add(v, pattern, tagged(pattern));
    handlers_.push_back(pattern);
  }
  Router router_;
  std::vector<std::string> handlers_;
};

TEST_F(RouterTest, MatchesLiteralPath) {
  add(http::verb::get, "/health");
  auto m = router_.match(http::verb::get, "/health");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.route, "/health");
  EXPECT_TRUE(m.allowed.empty());
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  add(http::verb::get, "/health");
  for (std::string_view target : {"/healthz", "/", "/health/x", "health", "", "*"}) {
    auto m = router_.match(http::verb::get, target);
    EXPECT_EQ(m.handler, nullptr) << target;
    EXPECT_TRUE(m.route.empty()) << target;
    EXPECT_TRUE(m.allowed.empty()) << target;
  }
}

TEST_F(RouterTest, CapturesArePercentDecoded) {
  add(http::verb::get, "/api/v1/app/{app_id}/msg/{msg_id}");
  auto m = router_.match(http::verb::get, "/api/v1/app/my%20app/msg/a%2Fb%2bc");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.route, "/api/v1/app/{app_id}/msg/{msg_id}");
  EXPECT_EQ(m.params.get("app_id"), "my app");
  EXPECT_EQ(m.params.get("msg_id"), "a/b+c");
  EXPECT_EQ(m.params.get("nope"), "");
}

TEST_F(RouterTest, CaptureNeedsNonEmptyValidSegment) {
  add(http::verb::get, "/app/{id}");
  EXPECT_EQ(router_.match(http::verb::get, "/app/").handler, nullptr);
  EXPECT_EQ(router_.match(http::verb::get, "/app/%zz").handler, nullptr);
  EXPECT_EQ(router_.match(http::verb::get, "/app/%4").handler, nullptr);
  EXPECT_NE(router_.match(http::verb::get, "/app/x").handler, nullptr);
}

TEST_F(RouterTest, MoreLiteralSegmentsWin) {
  add(http::verb::get, "/app/{id}/{sub}");
  add(http::verb::get, "/app/{id}/secret");
  add(http::verb::get, "/app/{id}");
  EXPECT_EQ(router_.match(http::verb::get, "/app/x/secret").route, "/app/{id}/secret");
  EXPECT_EQ(router_.match(http::verb::get, "/app/x/other").route, "/app/{id}/{sub}");
  EXPECT_EQ(router_.match(http::verb::get, "/app/x").route, "/app/{id}");
}

TEST_F(RouterTest, EarlierLiteralWinsATie) {
  add(http::verb::get, "/a/{x}/c");
  add(http::verb::get, "/a/b/{y}");
  EXPECT_EQ(router_.match(http::verb::get, "/a/b/c").route, "/a/b/{y}");
}

TEST_F(RouterTest, QueryStringIsIgnored) {
  add(http::verb::get, "/app/{id}");
  auto m = router_.match(http::verb::get, "/app/x?limit=10&iterator=/app/y");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.get("id"), "x");
}

TEST_F(RouterTest, WrongMethodListsAllowedMethods) {
  add(http::verb::get, "/app/{id}");
  add(http::verb::delete_, "/app/{id}");
  add(http::verb::post, "/app");
  auto m = router_.match(http::verb::put, "/app/x");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.route, "/app/{id}");
  std::vector<http::verb> expected{http::verb::delete_, http::verb::get, http::verb::head};
  EXPECT_EQ(m.allowed, expected);
}

TEST_F(RouterTest, MethodIsChosenAcrossPatterns) {
  // A GET on /app/all goes to the capture route: the literal route exists for DELETE only.
  add(http::verb::get, "/app/{id}");
  add(http::verb::delete_, "/app/all");
  EXPECT_EQ(router_.match(http::verb::get, "/app/all").route, "/app/{id}");
  EXPECT_EQ(router_.match(http::verb::delete_, "/app/all").route, "/app/all");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  add(http::verb::get, "/thing");
  auto m = router_.match(http::verb::head, "/thing");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.route, "/thing");
}

TEST_F(RouterTest, ExplicitHeadRouteWinsOverGet) {
  add(http::verb::get, "/thing");
  add(http::verb::head, "/thing");
  auto m = router_.match(http::verb::head, "/thing");
  ASSERT_NE(m.handler, nullptr);
  // The handler registered second (HEAD) is chosen.
  EXPECT_EQ(m.handler, router_.match(http::verb::head, "/thing").handler);
  EXPECT_NE(m.handler, router_.match(http::verb::get, "/thing").handler);
}

TEST_F(RouterTest, RootPath) {
  add(http::verb::get, "/");
  EXPECT_NE(router_.match(http::verb::get, "/").handler, nullptr);
  EXPECT_NE(router_.match(http::verb::get, "/?x=1").handler, nullptr);
  EXPECT_EQ(router_.match(http::verb::get, "/x").handler, nullptr);
}

}  // namespace
}  // namespace hookwire::api
