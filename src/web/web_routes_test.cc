// The web UI's routes over real HTTP: what each page and file is served with (the policy, framing, caching),
// and that nothing but the embedded files is served.
#include "web/web_routes.h"

#include <gtest/gtest.h>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "core/metrics.h"
#include "web/assets.h"

namespace hookwire::web {
namespace {

namespace http = api::http;
using api::testing::TestClient;

class WebRoutesTest : public ::testing::Test {
 protected:
  void start(WebOptions options) {
    add_web_routes(router_, options);
    server_ = std::make_unique<api::HttpServer>(api::ServerOptions{}, router_, metrics_);
    auto ep = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(ep);
    port_ = ep->port();
    server_->start();
  }
  ~WebRoutesTest() override {
    if (server_) server_->stop();
  }
  api::Response get(std::string_view target, const api::testing::Headers& headers = {}) {
    TestClient c(port_);
    return c.request(http::verb::get, target, {}, headers);
  }

  metrics::Registry metrics_;
  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(WebRoutesTest, ConsoleMayNotBeFramedAndRunsOnlyThisOriginsScripts) {
  start({});
  auto res = get("/console");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(res.body(), find_asset("console.html")->bytes);
  const std::string policy(res["Content-Security-Policy"]);
  EXPECT_NE(policy.find("script-src 'self';"), std::string::npos) << policy;
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe"), std::string::npos) << policy;
  EXPECT_TRUE(policy.ends_with("frame-ancestors 'none'")) << policy;
  EXPECT_EQ(res["X-Frame-Options"], "DENY");
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res[http::field::cache_control], "no-store");
}

TEST_F(WebRoutesTest, PortalMayBeFramedByTheConfiguredOriginsOnly) {
  start({{"https://app.example.com", "http://127.0.0.1:8080"}});
  auto res = get("/portal");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), find_asset("portal.html")->bytes);
  const std::string policy(res["Content-Security-Policy"]);
  EXPECT_TRUE(policy.ends_with("frame-ancestors 'self' https://app.example.com http://127.0.0.1:8080"))
      << policy;
  EXPECT_EQ(res["X-Frame-Options"], "");  // CSP decides (X-Frame-Options cannot list origins)
}

TEST_F(WebRoutesTest, FilesAreRevalidatedByTheirETag) {
  start({});
  auto res = get("/ui/app.js");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(res.body(), find_asset("app.js")->bytes);
  const std::string etag(res[http::field::etag]);
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(res[http::field::cache_control], "no-cache");
  auto again = get("/ui/app.js", {{"if-none-match", etag}});
  EXPECT_EQ(again.result(), http::status::not_modified);
  EXPECT_TRUE(again.body().empty());
  auto changed = get("/ui/app.js", {{"if-none-match", "\"other\""}});
  EXPECT_EQ(changed.result(), http::status::ok);
}

TEST_F(WebRoutesTest, OnlyEmbeddedFilesAreServed) {
  start({});
  EXPECT_EQ(get("/ui/nope.js").result(), http::status::not_found);
  EXPECT_EQ(get("/ui/..%2F..%2Fetc%2Fpasswd").result(), http::status::not_found);
  EXPECT_EQ(get("/ui/%2E%2E/app.js").result(), http::status::not_found);
  // The pages only at their own paths, with their own framing rules.
  EXPECT_EQ(get("/ui/portal.html").result(), http::status::not_found);
  auto root = get("/");
  EXPECT_EQ(root.result(), http::status::found);
  EXPECT_EQ(root[http::field::location], "/console");
}

TEST_F(WebRoutesTest, NoPageUsesInlineScriptOrMarkupInjection) {
  // The pages load one module and one stylesheet; the scripts never write markup (every value becomes text).
  for (const auto& asset : embedded_assets()) {
    const std::string_view text = asset.bytes;
    EXPECT_EQ(text.find("innerHTML"), std::string_view::npos) << asset.path;
    EXPECT_EQ(text.find("outerHTML"), std::string_view::npos) << asset.path;
    EXPECT_EQ(text.find("insertAdjacentHTML"), std::string_view::npos) << asset.path;
    EXPECT_EQ(text.find("document.write"), std::string_view::npos) << asset.path;
    EXPECT_EQ(text.find("eval("), std::string_view::npos) << asset.path;
    EXPECT_EQ(text.find("new Function"), std::string_view::npos) << asset.path;
    if (asset.path.ends_with(".html")) {
      EXPECT_EQ(text.find("<script>"), std::string_view::npos) << asset.path;
      EXPECT_EQ(text.find(" style="), std::string_view::npos) << asset.path;
    }
  }
}

TEST(FrameAncestors, OnlyPlainOriginsAreAccepted) {
  for (const char* ok : {"https://app.example.com", "http://127.0.0.1:8080", "https://*.example.com"})
    EXPECT_TRUE(check_frame_ancestor(ok, "f")) << ok;
  for (const char* bad : {"app.example.com", "https://", "https://a.com/path", "https://a.com; script-src *",
                          "https://a.com 'unsafe-inline'", "javascript:alert(1)", "https://a.com:99999x",
                          "https://a.com:", "https://.a.com", "*"})
    EXPECT_FALSE(check_frame_ancestor(bad, "f")) << bad;
}

}  // namespace
}  // namespace hookwire::web
