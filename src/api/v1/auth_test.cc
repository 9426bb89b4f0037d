// Scoped tokens over real HTTP, the real router and server and a real store (SQLite and PostgreSQL:
// store/testing/backends.h), with an injected clock: the token routes' shapes, what a poller token and an
// app-portal token may reach (and the 401/403 they get elsewhere), expiry and rotation.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <vector>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "api/testing/served_api.h"
#include "api/v1/routes.h"
#include "api/v1/tokens.h"
#include "core/clock.h"
#include "core/testing/log_capture.h"
#include "store/async.h"
#include "store/store.h"
#include "store/testing/test_dir.h"

namespace hookwire::api::v1 {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::TestClient;

constexpr const char* kAdmin = "admin-token";

// A feed route of one sink as the poller routes are (sink_reader, uids resolved, then authorize()): answers
// the sink's id. Registered by the test so the admission is tested on its own.
asio::awaitable<Response> sink_probe(const ApiContext* ctx, const Request& req, std::string app_id,
                                     std::string sink_id) {
  using Ids = std::pair<std::string, std::string>;
  auto fn = [app_id, sink_id](store::Tx& tx) -> Result<Ids> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    auto ep = tx.get_endpoint(app->id, sink_id);
    if (!ep) return ep.take_error();
    return Ids{app->id, ep->id};
  };
  auto ids = co_await store::read<Ids>(*ctx->store, std::move(fn));
  if (!ids) co_return error_response(ids.error(), req.version(), req.keep_alive());
  if (auto st = authorize(ctx, req, ids->first, ids->second); !st)
    co_return error_response(st.error(), req.version(), req.keep_alive());
  co_return make_response(req, Reply{http::status::ok, R"({"sink":")" + ids->second + "\"}"});
}

class ScopedTokenTest : public testing::ServedApiTest,
                        public ::testing::WithParamInterface<store::testing::Backend> {
 protected:
  ScopedTokenTest() : ServedApiTest("hookwire-auth", GetParam()) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_store());
    with_feed();
    ctx_.admin_token = kAdmin;
    ctx_.tokens = &tokens_;
    ctx_.public_url = "https://hooks.example.test";
    add_routes(router_, &ctx_);
    router_.add(http::verb::get, "/api/v1/app/{app_id}/test-sink/{sink_id}",
                sink_reader(&ctx_, [ctx = &ctx_](const Request& req, const PathParams& p) {
                  return sink_probe(ctx, req, p.get("app_id"), p.get("sink_id"));
                }));
    ASSERT_NO_FATAL_FAILURE(serve());

    app_a_ = id_of(call(http::verb::post, "/api/v1/app", kAdmin, R"({"name":"A","uid":"app-a"})"), 201);
    app_b_ = id_of(call(http::verb::post, "/api/v1/app", kAdmin, R"({"name":"B","uid":"app-b"})"), 201);
    a1_ = id_of(call(http::verb::post, "/api/v1/app/app-a/endpoint", kAdmin, endpoint("a1")), 201);
    a2_ = id_of(call(http::verb::post, "/api/v1/app/app-a/endpoint", kAdmin, endpoint("a2")), 201);
    b1_ = id_of(call(http::verb::post, "/api/v1/app/app-b/endpoint", kAdmin, endpoint("b1")), 201);
    msg_a_ = id_of(call(http::verb::post, "/api/v1/app/app-a/msg", kAdmin, kMessage), 202);
    msg_b_ = id_of(call(http::verb::post, "/api/v1/app/app-b/msg", kAdmin, kMessage), 202);
  }
  static constexpr const char* kMessage = R"({"eventType":"a.b","payload":{"n":1}})";
  static std::string endpoint(const char* uid) {
    return std::string(R"({"url":"http://127.0.0.1:9/hook","uid":")") + uid + "\"}";
  }

  // A connection per request: a refusal on the head of a request with a body closes its connection.
  Response call(http::verb verb, std::string_view target, std::string_view token, std::string body = {}) {
    testing::Headers headers{{"content-type", "application/json"}};
    if (!token.empty()) headers.emplace_back("authorization", "Bearer " + std::string(token));
    TestClient client(port_);
    return client.request(verb, target, std::move(body), headers);
  }
  int status(http::verb verb, std::string_view target, std::string_view token, std::string body = {}) {
    return call(verb, target, token, std::move(body)).result_int();
  }
  int get(std::string_view target, std::string_view token) { return status(http::verb::get, target, token); }

  static boost::json::object json_of(const Response& res) {
    return boost::json::parse(res.body()).as_object();
  }
  static std::string id_of(const Response& res, unsigned expected) {
    EXPECT_EQ(res.result_int(), expected) << res.body();
    if (res.result_int() != expected) return {};
    return std::string(json_of(res).at("id").as_string());
  }
  static std::string string_at(const Response& res, const char* key) {
    return std::string(json_of(res).at(key).as_string());
  }

  std::string poller_token(const std::string& app, const std::string& sink) {
    auto res = call(http::verb::get, "/api/v1/auth/app/" + app + "/poller/" + sink + "/token", kAdmin);
    EXPECT_EQ(res.result_int(), 200) << res.body();
    return res.result_int() == 200 ? string_at(res, "token") : std::string{};
  }
  std::string rotate(const std::string& app, const std::string& sink, const std::string& body) {
    auto res =
        call(http::verb::post, "/api/v1/auth/app/" + app + "/poller/" + sink + "/token/rotate", kAdmin, body);
    EXPECT_EQ(res.result_int(), 201) << res.body();
    return res.result_int() == 201 ? string_at(res, "token") : std::string{};
  }
  std::string portal_token(const std::string& app, const std::string& body = "{}") {
    auto res = call(http::verb::post, "/api/v1/auth/app-portal-access/" + app, kAdmin, body);
    EXPECT_EQ(res.result_int(), 200) << res.body();
    return res.result_int() == 200 ? string_at(res, "token") : std::string{};
  }

  TokenRegistry tokens_{std::string(kTokenKeySize, 'k')};
  std::string app_a_, app_b_, a1_, a2_, b1_, msg_a_, msg_b_;
};

TEST_P(ScopedTokenTest, ThePollerTokenRoutesHaveSvixShapes) {
  auto first = call(http::verb::get, "/api/v1/auth/app/app-a/poller/a1/token", kAdmin);
  ASSERT_EQ(first.result_int(), 200) << first.body();
  auto out = json_of(first);
  const std::string token(out.at("token").as_string());
  EXPECT_TRUE(token.starts_with("sk_poll_")) << token;
  EXPECT_EQ(token.size(), 8u + 32u);
  EXPECT_TRUE(std::string_view(out.at("id").as_string()).starts_with("tok_"));
  EXPECT_EQ(out.at("createdAt").as_string(), format_iso8601(clock_.now()));
  EXPECT_TRUE(out.at("expiresAt").is_null());
  EXPECT_TRUE(out.at("name").is_null());
  EXPECT_TRUE(out.at("scopes").is_null());
  // The same token every time (by id or uid), until rotated.
  EXPECT_EQ(poller_token(app_a_, a1_), token);
  EXPECT_NE(poller_token("app-a", "a2"), token);

  clock_.advance(1s);
  auto rotated = call(http::verb::post, "/api/v1/auth/app/app-a/poller/a1/token/rotate", kAdmin,
                      R"({"expiry":3600,"oldTokenExpiry":60})");
  ASSERT_EQ(rotated.result_int(), 201) << rotated.body();
  auto fresh = json_of(rotated);
  EXPECT_NE(fresh.at("token").as_string(), token);
  EXPECT_EQ(fresh.at("expiresAt").as_string(), format_iso8601(clock_.now() + 3600s));
  EXPECT_EQ(poller_token("app-a", "a1"), std::string(fresh.at("token").as_string()));

  // Svix's bounds, and unknown objects.
  const std::string rotate_a1 = "/api/v1/auth/app/app-a/poller/a1/token/rotate";
  EXPECT_EQ(status(http::verb::post, rotate_a1, kAdmin, R"({"expiry":0})"), 422);
  EXPECT_EQ(status(http::verb::post, rotate_a1, kAdmin, R"({"expiry":31536001})"), 422);
  EXPECT_EQ(status(http::verb::post, rotate_a1, kAdmin, R"({"oldTokenExpiry":86401})"), 422);
  EXPECT_EQ(status(http::verb::post, rotate_a1, kAdmin, R"({"oldTokenExpiry":-1})"), 422);
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/nope/token", kAdmin), 404);
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/b1/token", kAdmin), 404);  // b1 is B's
  EXPECT_EQ(get("/api/v1/auth/app/nope/poller/a1/token", kAdmin), 404);
  // The admin token only.
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/a1/token", ""), 401);
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/a1/token", token), 403);
  EXPECT_EQ(status(http::verb::post, rotate_a1,
                   portal_token("app-a", R"({"capabilities":["ManageEndpoint"]})"), "{}"),
            403);
}

TEST_P(ScopedTokenTest, AppPortalAccessHasSvixShapesAndIsValidated) {
  auto res = call(http::verb::post, "/api/v1/auth/app-portal-access/app-a", kAdmin, "{}");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const std::string token = string_at(res, "token");
  EXPECT_TRUE(token.starts_with("appsk_")) << token;
  EXPECT_EQ(token.size(), 6u + 32u);
  EXPECT_EQ(string_at(res, "url"), "https://hooks.example.test/portal#key=" + token);
  EXPECT_EQ(json_of(res).size(), 2u);

  const std::string portal = "/api/v1/auth/app-portal-access/";
  for (const char* bad : {R"({"expiry":3599})", R"({"expiry":604801})", R"({"capabilities":["Nope"]})",
                          R"({"capabilities":"ViewBase"})", R"({"capabilities":["ViewBase","ViewBase"]})",
                          R"({"readOnly":true,"capabilities":["ManageEndpoint"]})", R"({"readOnly":"yes"})",
                          R"({"sessionId":"a b"})", R"({"application":{"uid":"x"}})"}) {
    auto refused = call(http::verb::post, portal + "app-a", kAdmin, bad);
    EXPECT_EQ(refused.result_int(), 422) << bad << ": " << refused.body();
  }
  EXPECT_EQ(status(http::verb::post, portal + "app-a", kAdmin, "not json"), 400);

  // `application` creates the application named by the path's uid when there is none; else it is ignored.
  EXPECT_EQ(status(http::verb::post, portal + "app-c", kAdmin, "{}"), 404);
  EXPECT_EQ(
      status(http::verb::post, portal + "app-c", kAdmin, R"({"application":{"name":"C","uid":"other"}})"),
      422);
  auto created = call(http::verb::post, portal + "app-c", kAdmin, R"({"application":{"name":"C"}})");
  ASSERT_EQ(created.result_int(), 200) << created.body();
  auto app_c = call(http::verb::get, "/api/v1/app/app-c", kAdmin);
  ASSERT_EQ(app_c.result_int(), 200) << app_c.body();
  EXPECT_EQ(json_of(app_c).at("name").as_string(), "C");
  EXPECT_EQ(get("/api/v1/app/app-c", string_at(created, "token")), 200);
  EXPECT_EQ(status(http::verb::post, portal + "app-a", kAdmin, R"({"application":{"name":"ignored"}})"), 200);
  EXPECT_EQ(json_of(call(http::verb::get, "/api/v1/app/app-a", kAdmin)).at("name").as_string(), "A");
  // An app_ id that does not exist is not created.
  EXPECT_EQ(status(http::verb::post, portal + "app_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf", kAdmin,
                   R"({"application":{"name":"C"}})"),
            404);

  EXPECT_EQ(status(http::verb::post, portal + "app-a", "", "{}"), 401);
  EXPECT_EQ(status(http::verb::post, portal + "app-a", token, "{}"), 403);
}

TEST_P(ScopedTokenTest, APollerTokenReadsItsSinkOnly) {
  const std::string token = poller_token("app-a", "a1");
  // Its sink, by id or uid.
  auto own = call(http::verb::get, "/api/v1/app/app-a/test-sink/a1", token);
  ASSERT_EQ(own.result_int(), 200) << own.body();
  EXPECT_EQ(string_at(own, "sink"), a1_);
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/test-sink/" + a1_, token), 200);
  // Another sink of its application, or another application: by id refused on the head, by uid by the
  // handler once resolved.
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/test-sink/" + a2_, token), 403);
  EXPECT_EQ(get("/api/v1/app/app-a/test-sink/a2", token), 403);
  EXPECT_EQ(get("/api/v1/app/" + app_b_ + "/test-sink/" + b1_, token), 403);
  EXPECT_EQ(get("/api/v1/app/app-b/test-sink/b1", token), 403);
  // The poller routes (sink_reader) likewise.
  auto polled = call(http::verb::get, "/api/v1/app/app-a/poller/a1", token);
  ASSERT_EQ(polled.result_int(), 200) << polled.body();
  EXPECT_EQ(json_of(polled).at("data").as_array().size(), 1u);
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/poller/" + a1_ + "/consumer/c1", token), 200);
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/polling-endpoint/" + a1_ + "/consumer/c1", token), 200);
  EXPECT_EQ(get("/api/v1/app/app-a/poller/a2", token), 403);
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/poller/" + a2_, token), 403);
  EXPECT_EQ(get("/api/v1/app/app-b/poller/b1", token), 403);
  EXPECT_EQ(get("/api/v1/app/" + app_b_ + "/polling-endpoint/" + b1_ + "/consumer/c1", token), 403);
  // Thin webhooks: the message of its application, not another's.
  EXPECT_EQ(get("/api/v1/app/app-a/msg/" + msg_a_, token), 200);
  EXPECT_EQ(get("/api/v1/app/" + app_a_ + "/msg/" + msg_a_, token), 200);
  EXPECT_EQ(get("/api/v1/app/app-b/msg/" + msg_b_, token), 403);
  EXPECT_EQ(get("/api/v1/app/" + app_b_ + "/msg/" + msg_b_, token), 403);
  // Nothing else of its application.
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/app/app-a", "/api/v1/app/app-a/msg", "/api/v1/app/app-a/endpoint",
           "/api/v1/app/app-a/endpoint/a1", "/api/v1/app/app-a/endpoint/a1/secret",
           "/api/v1/app/app-a/attempt/msg/" + msg_a_, "/api/v1/app/app-a/msg/" + msg_a_ + "/endpoint",
           "/api/v1/app/app-a/endpoint/a1/stats", "/api/v1/app/app-a/dead-letter"})
    EXPECT_EQ(get(path, token), 403) << path;
  // The admin routes.
  EXPECT_EQ(get("/api/v1/app", token), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app", token, R"({"name":"x"})"), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/msg", token, kMessage), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/event-type", token, R"({"name":"a.b","description":"x"})"),
            403);
  EXPECT_EQ(get("/api/v1/event-type", token), 403);
  EXPECT_EQ(get("/api/v1/source", token), 403);
  EXPECT_EQ(get("/metrics", token), 401);
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/a1/token", token), 403);
  // A token of the right shape that was never issued, a mangled one, none.
  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(get("/api/v1/app/app-a/test-sink/a1", forged), 401);
  EXPECT_EQ(get("/api/v1/app/app-a/test-sink/a1", token + "x"), 401);
  EXPECT_EQ(get("/api/v1/app/app-a/test-sink/a1", ""), 401);
  EXPECT_EQ(get("/api/v1/app/app-a/test-sink/a1", kAdmin), 200);
}

TEST_P(ScopedTokenTest, AnAppPortalTokenReadsItsApplicationOnly) {
  const std::string token = portal_token("app-a");
  // Reads of its application, by id or uid.
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/app/app-a", "/api/v1/app/" + app_a_, "/api/v1/app/app-a/endpoint",
           "/api/v1/app/app-a/endpoint/a1", "/api/v1/app/app-a/msg", "/api/v1/app/app-a/msg/" + msg_a_,
           "/api/v1/app/app-a/attempt/msg/" + msg_a_, "/api/v1/app/app-a/attempt/endpoint/a1",
           "/api/v1/app/app-a/msg/" + msg_a_ + "/endpoint", "/api/v1/app/app-a/endpoint/a1/msg",
           "/api/v1/app/app-a/endpoint/a1/stats", "/api/v1/app/app-a/dead-letter",
           "/api/v1/app/app-a/test-sink/a1", "/api/v1/app/app-a/test-sink/" + a2_,
           "/api/v1/app/app-a/poller/a2"})
    EXPECT_EQ(get(path, token), 200) << path;
  // The same of another application: 403, whether named by id (on the head) or uid (by the handler).
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/app/app-b", "/api/v1/app/" + app_b_, "/api/v1/app/app-b/endpoint",
           "/api/v1/app/app-b/endpoint/b1", "/api/v1/app/" + app_b_ + "/endpoint/" + b1_,
           "/api/v1/app/app-b/msg", "/api/v1/app/app-b/msg/" + msg_b_,
           "/api/v1/app/app-b/attempt/msg/" + msg_b_, "/api/v1/app/app-b/attempt/endpoint/b1",
           "/api/v1/app/app-b/msg/" + msg_b_ + "/endpoint", "/api/v1/app/app-b/endpoint/b1/msg",
           "/api/v1/app/app-b/endpoint/b1/stats", "/api/v1/app/app-b/dead-letter",
           "/api/v1/app/app-b/test-sink/b1", "/api/v1/app/app-b/poller/b1"})
    EXPECT_EQ(get(path, token), 403) << path;
  // Read-only by default: no secret, no change, no resend.
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/a1/secret", token), 403);
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/a1/headers", token), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint", token, endpoint("a3")), 403);
  EXPECT_EQ(status(http::verb::patch, "/api/v1/app/app-a/endpoint/a1", token, R"({"description":"x"})"), 403);
  EXPECT_EQ(status(http::verb::delete_, "/api/v1/app/app-a/endpoint/a1", token), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint/a1/secret/rotate", token, "{}"), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/msg/" + msg_a_ + "/endpoint/a1/resend", token), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint/a1/recover", token,
                   R"({"since":"2020-01-01T00:00:00Z"})"),
            403);
  EXPECT_EQ(status(http::verb::delete_, "/api/v1/app/app-a/msg/" + msg_a_ + "/content", token), 403);
  EXPECT_EQ(status(http::verb::put, "/api/v1/app/app-a", token, R"({"name":"x"})"), 403);
  EXPECT_EQ(status(http::verb::delete_, "/api/v1/app/app-a", token), 403);
  // The admin routes.
  EXPECT_EQ(get("/api/v1/app", token), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app", token, R"({"name":"x"})"), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/msg", token, kMessage), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/event-type", token, R"({"name":"a.b","description":"x"})"),
            403);
  EXPECT_EQ(get("/api/v1/source", token), 403);
  EXPECT_EQ(get("/metrics", token), 401);
  EXPECT_EQ(status(http::verb::post, "/api/v1/auth/app-portal-access/app-a", token, "{}"), 403);
  EXPECT_EQ(get("/api/v1/auth/app/app-a/poller/a1/token", token), 403);
}

TEST_P(ScopedTokenTest, CapabilitiesGrantWhatTheyName) {
  const std::string secret =
      portal_token("app-a", R"({"capabilities":["ViewEndpointSecret"],"readOnly":true})");
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/a1/secret", secret), 200);
  EXPECT_EQ(get("/api/v1/app/app-b/endpoint/b1/secret", secret), 403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint/a1/secret/rotate", secret, "{}"), 403);

  const std::string rotate = portal_token("app-a", R"({"capabilities":["ManageEndpointSecret"]})");
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint/a1/secret/rotate", rotate, "{}"), 204);
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/a1/secret", rotate), 200);
  EXPECT_EQ(status(http::verb::patch, "/api/v1/app/app-a/endpoint/a1", rotate, R"({"description":"x"})"),
            403);

  const std::string manage = portal_token("app-a", R"({"capabilities":["ViewBase","ManageEndpoint"]})");
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint", manage, endpoint("a3")), 201);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-b/endpoint", manage, endpoint("b3")), 403);
  EXPECT_EQ(status(http::verb::patch, "/api/v1/app/app-a/endpoint/a3", manage, R"({"description":"x"})"),
            200);
  EXPECT_EQ(status(http::verb::patch, "/api/v1/app/app-b/endpoint/b1", manage, R"({"description":"x"})"),
            403);
  EXPECT_EQ(get("/api/v1/app/app-a/endpoint/a3/headers", manage), 200);
  EXPECT_EQ(status(http::verb::delete_, "/api/v1/app/app-a/endpoint/a3", manage), 204);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/msg/" + msg_a_ + "/endpoint/a1/resend", manage), 403);

  const std::string attempts = portal_token("app-a", R"({"capabilities":["CreateAttempts"]})");
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/msg/" + msg_a_ + "/endpoint/a1/resend", attempts),
            202);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-b/msg/" + msg_b_ + "/endpoint/b1/resend", attempts),
            403);
  EXPECT_EQ(status(http::verb::post, "/api/v1/app/app-a/endpoint", attempts, endpoint("a4")), 403);
}

TEST_P(ScopedTokenTest, ExpiredAndRotatedAwayTokensAreRefused) {
  const std::string first = poller_token("app-a", "a1");
  const std::string probe = "/api/v1/app/app-a/test-sink/a1";
  const std::string second = rotate("app-a", "a1", R"({"oldTokenExpiry":60})");
  EXPECT_EQ(get(probe, first), 200);  // the old token keeps working for oldTokenExpiry
  EXPECT_EQ(get(probe, second), 200);
  clock_.advance(60s);
  auto refused = call(http::verb::get, probe, first);
  EXPECT_EQ(refused.result_int(), 401) << refused.body();
  EXPECT_EQ(refused["www-authenticate"], "Bearer");
  EXPECT_EQ(get(probe, second), 200);

  // 0 revokes at once; the default is 300 s.
  const std::string third = rotate("app-a", "a1", R"({"oldTokenExpiry":0})");
  EXPECT_EQ(get(probe, second), 401);
  EXPECT_EQ(get(probe, third), 200);
  const std::string fourth = rotate("app-a", "a1", R"({"expiry":10})");
  clock_.advance(299s);
  EXPECT_EQ(get(probe, third), 200);
  EXPECT_EQ(get(probe, fourth), 401);  // its own expiry (10 s) has passed
  clock_.advance(1s);
  EXPECT_EQ(get(probe, third), 401);
  // No live token left: GET makes a new one.
  const std::string fifth = poller_token("app-a", "a1");
  EXPECT_NE(fifth, third);
  EXPECT_NE(fifth, fourth);
  EXPECT_EQ(get(probe, fifth), 200);

  // A second rotation never lengthens an old token's grace.
  const std::string sixth = rotate("app-a", "a1", R"({"oldTokenExpiry":10})");
  rotate("app-a", "a1", R"({"oldTokenExpiry":86400})");
  clock_.advance(10s);
  EXPECT_EQ(get(probe, fifth), 401);
  EXPECT_EQ(get(probe, sixth), 200);

  // App-portal tokens expire too (an hour at least).
  const std::string portal = portal_token("app-a", R"({"expiry":3600})");
  EXPECT_EQ(get("/api/v1/app/app-a", portal), 200);
  clock_.advance(3600s);
  EXPECT_EQ(get("/api/v1/app/app-a", portal), 401);
}

// A stream checks its caller again before each read: once its token is rotated away or expires, the next
// event (or heartbeat) ends the stream with `event: close` instead of the event; the admin's stream goes on.
TEST_P(ScopedTokenTest, AStreamEndsWhenItsTokenIsRotatedAwayOrExpires) {
  auto open = [&](std::string_view token) {
    auto c = std::make_unique<TestClient>(port_, 10s);
    c->send_raw("GET /api/v1/app/app-a/poller/a1/stream HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " +
                std::string(token) + "\r\n\r\n");
    const auto head = c->read_until("\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    // The log's first message, msg_a_, from the start of the log.
    EXPECT_NE(c->read_until("\n\n").find(msg_a_), std::string::npos);
    return c;
  };
  const std::string poller = poller_token("app-a", "a1");
  const std::string portal = portal_token("app-a", R"({"expiry":3600})");
  auto by_poller = open(poller);
  auto by_portal = open(portal);
  auto by_admin = open(kAdmin);

  rotate("app-a", "a1", R"({"oldTokenExpiry":0})");
  const std::string second = id_of(call(http::verb::post, "/api/v1/app/app-a/msg", kAdmin, kMessage), 202);
  EXPECT_EQ(by_poller->read_until("\n\n"),
            "event: close\ndata: {\"reason\":\"unauthorized\",\"detail\":\"token expired or revoked\"}\n\n");
  EXPECT_TRUE(by_poller->wait_closed());
  EXPECT_NE(by_portal->read_until("\n\n").find(second), std::string::npos);  // valid for an hour
  EXPECT_NE(by_admin->read_until("\n\n").find(second), std::string::npos);

  clock_.advance(3600s);
  const std::string third = id_of(call(http::verb::post, "/api/v1/app/app-a/msg", kAdmin, kMessage), 202);
  EXPECT_EQ(by_portal->read_until("\n\n"),
            "event: close\ndata: {\"reason\":\"unauthorized\",\"detail\":\"token expired or revoked\"}\n\n");
  EXPECT_TRUE(by_portal->wait_closed());
  EXPECT_NE(by_admin->read_until("\n\n").find(third), std::string::npos);
}

// Refused credentials reach the log: status, method, route pattern and the client's address, never the token;
// at most 5 lines a minute per address and status, the next one saying how many were held back.
TEST_P(ScopedTokenTest, RefusedCredentialsAreLoggedThrottledAndWithoutTheToken) {
  hookwire::testing::LogCapture log(spdlog::level::warn);
  EXPECT_EQ(get("/api/v1/app/app-a/msg", "sk_poll_not-a-token"), 401);
  EXPECT_EQ(get("/api/v1/app", poller_token("app-a", "a1")), 403);
  EXPECT_EQ(log.count({"http: refused 401 GET /api/v1/app/{app_id}/msg from 127.0.0.1"}), 1u) << log.text();
  EXPECT_EQ(log.count({"http: refused 403 GET /api/v1/app from 127.0.0.1"}), 1u) << log.text();
  EXPECT_EQ(log.text().find("not-a-token"), std::string::npos);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(get("/api/v1/app", "wrong"), 401);
  EXPECT_EQ(log.count({"http: refused 401"}), 5u) << log.text();  // the first and 4 of the 9
  server_->stop();  // no server thread may log once the capture is gone
  server_.reset();
}

TEST_P(ScopedTokenTest, TokensAreKeptHashedAndReloaded) {
  const std::string poller = poller_token("app-a", "a1");
  const std::string portal = portal_token("app-a");
  // What the store holds: hashes only.
  std::promise<Result<std::vector<store::ApiToken>>> listed;
  store_->submit_read([&listed](store::Tx& tx) { listed.set_value(tx.list_tokens()); }, [] {});
  auto all = listed.get_future().get();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  for (const auto& t : *all) {
    EXPECT_EQ(t.hash.size(), 64u);
    EXPECT_TRUE(t.hash == token_hash(poller) || t.hash == token_hash(portal));
  }
  // A registry loaded from the store (as at start) with the same key knows both, and shows the same text.
  TokenRegistry reloaded(std::string(kTokenKeySize, 'k'));
  reloaded.load(*all);
  ASSERT_TRUE(reloaded.find(poller));
  ASSERT_TRUE(reloaded.find(portal));
  EXPECT_EQ(reloaded.text_of(*reloaded.find(poller)), poller);
  EXPECT_EQ(reloaded.find(portal)->capabilities, std::vector<std::string>{"ViewBase"});
  // Another key derives other texts: the key is what makes a token.
  TokenRegistry other(std::string(kTokenKeySize, 'o'));
  EXPECT_NE(other.text_of(*reloaded.find(poller)), poller);
}

INSTANTIATE_TEST_SUITE_P(Stores, ScopedTokenTest, store::testing::both_backends(),
                         store::testing::backend_name);

// The registry on its own: an expiry only moves earlier, whatever order the records of changes arrive in;
// erase_expired_before forgets what has expired.
TEST(TokenRegistry, KeepsTheEarlierExpiryAndForgetsExpiredTokens) {
  TokenRegistry registry(std::string(kTokenKeySize, 'k'));
  const TimePoint now{std::chrono::seconds{1'800'000'000}};
  auto t = registry.mint(store::ApiToken::kPoller, "app_x", std::string("ep_x"), {}, now, std::nullopt);
  const std::string text = registry.text_of(t);
  registry.put(t);
  auto shortened = t;
  shortened.expires_at = now + 60s;
  registry.put(shortened);
  registry.put(t);  // a stale record of the token before its rotation
  ASSERT_TRUE(registry.find(text));
  EXPECT_EQ(registry.find(text)->expires_at, now + 60s);
  EXPECT_FALSE(registry.find("sk_poll_" + std::string(32, 'A')));
  EXPECT_FALSE(registry.find(text.substr(0, 20)));
  registry.erase_expired_before(now + 60s);
  EXPECT_TRUE(registry.find(text));
  registry.erase_expired_before(now + 61s);
  EXPECT_FALSE(registry.find(text));
  EXPECT_EQ(registry.size(), 0u);
}

}  // namespace
}  // namespace hookwire::api::v1
