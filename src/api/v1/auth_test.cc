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

  // Browser sessions (issue #22).
  Response send(http::verb verb, std::string_view target, testing::Headers headers, std::string body = {}) {
    headers.emplace_back("content-type", "application/json");
    TestClient client(port_);
    return client.request(verb, target, std::move(body), headers);
  }
  // The one-time link in the url of a new app-portal access.
  std::string portal_link(const std::string& app, const std::string& body = "{}") {
    auto res = call(http::verb::post, "/api/v1/auth/app-portal-access/" + app, kAdmin, body);
    EXPECT_EQ(res.result_int(), 200) << res.body();
    if (res.result_int() != 200) return {};
    const std::string url = string_at(res, "url");
    return url.substr(url.find("#key=") + 5);
  }
  Response portal_login(const std::string& link) {
    return send(http::verb::post, "/ui/api/portal/login", {}, R"({"key":")" + link + "\"}");
  }
  struct Session {
    std::string cookie;  // "name=value", as a browser sends it back
    std::string csrf;
  };
  static Session session_of(const Response& res) {
    EXPECT_EQ(res.result_int(), 200) << res.body();
    if (res.result_int() != 200) return {};
    const std::string set(res[http::field::set_cookie]);
    return {set.substr(0, set.find(';')), string_at(res, "csrf")};
  }
  Session portal_session(const std::string& app, const std::string& body = "{}") {
    return session_of(portal_login(portal_link(app, body)));
  }
  Session console_session() {
    return session_of(send(http::verb::post, "/ui/api/console/login", {}, R"({"token":"admin-token"})"));
  }
  // A request with the session's cookie, and its CSRF header unless `csrf` says otherwise.
  Response as(const Session& s, http::verb verb, std::string_view target, std::string body = {},
              std::optional<std::string> csrf = std::nullopt) {
    testing::Headers headers{{"cookie", s.cookie}};
    const std::string header = csrf.value_or(s.csrf);
    if (!header.empty()) headers.emplace_back("x-hookwire-csrf", header);
    return send(verb, target, std::move(headers), std::move(body));
  }
  int as_status(const Session& s, http::verb verb, std::string_view target, std::string body = {}) {
    return as(s, verb, target, std::move(body)).result_int();
  }
  size_t stored_tokens() {
    std::promise<Result<std::vector<store::ApiToken>>> listed;
    store_->submit_read([&listed](store::Tx& tx) { listed.set_value(tx.list_tokens()); }, [] {});
    auto all = listed.get_future().get();
    return all.ok() ? all->size() : 0;
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
  // The url carries a one-time link (another credential), never the reusable token.
  const std::string url = string_at(res, "url");
  ASSERT_EQ(url.rfind("https://hooks.example.test/portal#key=applink_", 0), 0u) << url;
  EXPECT_EQ(url.size(), std::string("https://hooks.example.test/portal#key=applink_").size() + 32u);
  EXPECT_EQ(url.find(token), std::string::npos);
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
  EXPECT_EQ(status(http::verb::put, "/api/v1/event-type/a.b", token, R"({"description":"x"})"), 403);
  EXPECT_EQ(status(http::verb::delete_, "/api/v1/event-type/a.b", token), 403);
  // The event type catalog is every portal's to read, as in Svix.
  EXPECT_EQ(get("/api/v1/event-type", token), 200);
  EXPECT_EQ(get("/api/v1/event-type/nope.nope", token), 404);
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
  ASSERT_EQ(all->size(), 3u);  // the poller token, the app-portal token and its one-time link
  for (const auto& t : *all) {
    EXPECT_EQ(t.hash.size(), 64u);
    if (t.kind != store::ApiToken::kAppPortalLink) {
      EXPECT_TRUE(t.hash == token_hash(poller) || t.hash == token_hash(portal));
    }
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

// A portal link is redeemed once for a session whose cookie (HttpOnly; an https public URL: Secure,
// SameSite=None, Partitioned) and CSRF token admit it; the same link again, an unknown, malformed or expired
// one, or any other credential's text: 401 link_invalid.
TEST_P(ScopedTokenTest, APortalLinkIsRedeemedOnceForASession) {
  const std::string link =
      portal_link("app-a", R"({"capabilities":["ManageEndpoint"],"sessionId":"user@x_1","expiry":7200})");
  ASSERT_TRUE(link.starts_with("applink_")) << link;
  EXPECT_EQ(get("/api/v1/app/app-a", link), 401) << "a link is not a bearer token";
  {  // A body not declared JSON (what a cross-site form sends) is refused, the link left unused.
    TestClient client(port_);
    auto form = client.request(http::verb::post, "/ui/api/portal/login", R"({"key":")" + link + "\"}",
                               {{"content-type", "text/plain"}});
    EXPECT_EQ(form.result_int(), 400) << form.body();
  }
  clock_.advance(10s);
  auto res = portal_login(link);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res[http::field::cache_control], "no-store");
  const std::string set(res[http::field::set_cookie]);
  EXPECT_TRUE(set.starts_with("hookwire_portal=hwportal_")) << set;
  EXPECT_NE(set.find("; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"), std::string::npos) << set;
  EXPECT_EQ(set.find("Max-Age"), std::string::npos) << set;
  auto out = json_of(res);
  EXPECT_EQ(out.at("appId").as_string(), app_a_);
  EXPECT_EQ(out.at("appUid").as_string(), "app-a");
  EXPECT_EQ(out.at("appName").as_string(), "A");
  EXPECT_EQ(boost::json::serialize(out.at("capabilities")), R"(["ViewBase","ManageEndpoint"])");
  EXPECT_EQ(out.at("expiresAt").as_string(), format_iso8601(clock_.now() - 10s + 7200s))
      << "the link's expiry";
  const std::string csrf(out.at("csrf").as_string());
  EXPECT_GE(csrf.size(), 40u);
  EXPECT_EQ(out.size(), 6u);

  // Used: refused on a second try, and the session works.
  auto again = portal_login(link);
  EXPECT_EQ(again.result_int(), 401);
  EXPECT_EQ(json_of(again).at("code").as_string(), "link_invalid");
  EXPECT_EQ(json_of(again).at("detail").as_string(),
            "this portal link was already used or has expired; ask the application for a new one");
  EXPECT_EQ(again[http::field::cache_control], "no-store");
  EXPECT_TRUE(again[http::field::set_cookie].empty());
  const Session s = session_of(res);
  EXPECT_EQ(as_status(s, http::verb::get, "/api/v1/app/app-a"), 200);

  // The session's text is only a cookie: as a bearer token it is refused.
  EXPECT_EQ(get("/api/v1/app/app-a", s.cookie.substr(s.cookie.find('=') + 1)), 401);
  // Other texts: unknown, malformed, the reusable token, a session.
  for (const std::string& bad : {"applink_" + std::string(32, 'A'), std::string("applink_x"), std::string(""),
                                 portal_token("app-a"), s.cookie.substr(s.cookie.find('=') + 1)}) {
    auto refused = portal_login(bad);
    EXPECT_EQ(refused.result_int(), 401) << bad;
    EXPECT_EQ(json_of(refused).at("code").as_string(), "link_invalid");
  }
  EXPECT_EQ(send(http::verb::post, "/ui/api/portal/login", {}, "{}").result_int(), 401);
  EXPECT_EQ(send(http::verb::post, "/ui/api/portal/login", {}, "nope").result_int(), 400);
  EXPECT_EQ(send(http::verb::post, "/ui/api/portal/login", {}, R"({"key":1})").result_int(), 422);
  // An expired link.
  const std::string late = portal_link("app-a", R"({"expiry":3600})");
  clock_.advance(3600s);
  EXPECT_EQ(portal_login(late).result_int(), 401);

  // Session info recovers the same answer (with the CSRF token) from the cookie alone.
  auto info = send(http::verb::get, "/ui/api/portal/session", {{"cookie", "other=1; " + s.cookie}});
  ASSERT_EQ(info.result_int(), 200) << info.body();
  EXPECT_EQ(info[http::field::cache_control], "no-store");
  EXPECT_EQ(json_of(info), out);
  auto none = send(http::verb::get, "/ui/api/portal/session", {});
  EXPECT_EQ(none.result_int(), 401);
  EXPECT_EQ(json_of(none).at("code").as_string(), "session_invalid");
  EXPECT_EQ(send(http::verb::get, "/ui/api/console/session", {{"cookie", s.cookie}}).result_int(), 401);
  // It ends with the link's expiry.
  clock_.advance(3600s - 10s);
  EXPECT_EQ(send(http::verb::get, "/ui/api/portal/session", {{"cookie", s.cookie}}).result_int(), 401);
  auto expired = as(s, http::verb::get, "/api/v1/app/app-a");
  EXPECT_EQ(expired.result_int(), 401);
  EXPECT_EQ(json_of(expired).at("code").as_string(), "session_invalid");
}

// A portal session acts as an app-portal token of its application, only with its CSRF header.
TEST_P(ScopedTokenTest, APortalSessionActsAsItsAppPortalTokenWithItsCsrfHeader) {
  const Session view = portal_session("app-a");
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/app-a"), 200);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/" + app_a_ + "/endpoint"), 200);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/app-a/msg/" + msg_a_), 200);
  // CSRF: missing or wrong is 403 csrf_failed, for reads too.
  for (const std::string& csrf : {std::string(""), std::string("wrong"), view.csrf + "x"}) {
    auto refused = send(http::verb::get, "/api/v1/app/app-a",
                        csrf.empty() ? testing::Headers{{"cookie", view.cookie}}
                                     : testing::Headers{{"cookie", view.cookie}, {"x-hookwire-csrf", csrf}});
    EXPECT_EQ(refused.result_int(), 403) << csrf;
    EXPECT_EQ(json_of(refused).at("code").as_string(), "csrf_failed");
  }
  // Another application, by id (on the head) or uid (in the handler).
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/app-b"), 403);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/" + app_b_ + "/endpoint"), 403);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/app-b/msg/" + msg_b_), 403);
  // Capabilities: ViewBase only.
  EXPECT_EQ(as_status(view, http::verb::post, "/api/v1/app/app-a/endpoint", endpoint("a3")), 403);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app/app-a/endpoint/a1/secret"), 403);
  EXPECT_EQ(as_status(view, http::verb::get, "/api/v1/app"), 403);
  EXPECT_EQ(as_status(view, http::verb::post, "/api/v1/app/app-a/msg", kMessage), 403);
  const Session manage = portal_session("app-a", R"({"capabilities":["ManageEndpoint"]})");
  EXPECT_EQ(as_status(manage, http::verb::post, "/api/v1/app/app-a/endpoint", endpoint("a3")), 201);
  EXPECT_EQ(as_status(manage, http::verb::post, "/api/v1/app/app-b/endpoint", endpoint("b3")), 403);
  // Another session's CSRF token does not admit this one.
  EXPECT_EQ(as(view, http::verb::get, "/api/v1/app/app-a", {}, manage.csrf).result_int(), 403);
  // A bearer token wins over cookies: a wrong one is refused whatever the cookie.
  EXPECT_EQ(send(http::verb::get, "/api/v1/app/app-a",
                 {{"cookie", view.cookie}, {"x-hookwire-csrf", view.csrf}, {"authorization", "Bearer nope"}})
                .result_int(),
            401);
  // An unknown session cookie: 401 session_invalid, CSRF header or not.
  const Session forged{"hookwire_portal=hwportal_" + std::string(32, 'A'), view.csrf};
  auto unknown = as(forged, http::verb::get, "/api/v1/app/app-a");
  EXPECT_EQ(unknown.result_int(), 401);
  EXPECT_EQ(json_of(unknown).at("code").as_string(), "session_invalid");
  // A portal session's text in the console cookie is nothing.
  const Session swapped{"hookwire_console=" + view.cookie.substr(view.cookie.find('=') + 1), view.csrf};
  EXPECT_EQ(as(swapped, http::verb::get, "/api/v1/app/app-a").result_int(), 401);
}

TEST_P(ScopedTokenTest, AConsoleSessionActsAsTheAdminToken) {
  const size_t before = stored_tokens();
  for (const char* bad :
       {R"({"token":"admin-tokeN"})", R"({"token":""})", "{}", R"({"token":"admin-token "})"}) {
    auto refused = send(http::verb::post, "/ui/api/console/login", {}, bad);
    EXPECT_EQ(refused.result_int(), 401) << bad;
    EXPECT_EQ(json_of(refused).at("code").as_string(), "authentication_failed");
    EXPECT_TRUE(refused[http::field::set_cookie].empty());
  }
  EXPECT_EQ(stored_tokens(), before) << "a refused login stores nothing";

  auto res = send(http::verb::post, "/ui/api/console/login", {}, R"({"token":"admin-token"})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res[http::field::cache_control], "no-store");
  const std::string set(res[http::field::set_cookie]);
  EXPECT_TRUE(set.starts_with("hookwire_console=hwconsole_")) << set;
  EXPECT_NE(set.find("; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"), std::string::npos) << set;
  auto out = json_of(res);
  EXPECT_EQ(out.at("expiresAt").as_string(), format_iso8601(clock_.now() + 12h));
  EXPECT_EQ(out.size(), 2u);
  const Session console = session_of(res);
  auto info = send(http::verb::get, "/ui/api/console/session", {{"cookie", console.cookie}});
  ASSERT_EQ(info.result_int(), 200);
  EXPECT_EQ(json_of(info), out);

  EXPECT_EQ(as_status(console, http::verb::get, "/api/v1/app"), 200);
  EXPECT_EQ(as_status(console, http::verb::get, "/api/v1/app/app-b/endpoint"), 200);
  EXPECT_EQ(as_status(console, http::verb::post, "/api/v1/app", R"({"name":"C"})"), 201);
  EXPECT_EQ(as_status(console, http::verb::get, "/api/v1/source"), 200);
  EXPECT_EQ(as_status(console, http::verb::post, "/api/v1/auth/app-portal-access/app-a", "{}"), 200);
  EXPECT_EQ(as(console, http::verb::get, "/api/v1/app", {}, "").result_int(), 403);
  EXPECT_EQ(get("/api/v1/app", console.cookie.substr(console.cookie.find('=') + 1)), 401)
      << "a console session is not a bearer token";

  // Both cookies: the one whose CSRF token the header carries acts.
  const Session portal = portal_session("app-a");
  const std::string both = portal.cookie + "; " + console.cookie;
  EXPECT_EQ(as({both, console.csrf}, http::verb::get, "/api/v1/app").result_int(), 200);
  EXPECT_EQ(as({both, portal.csrf}, http::verb::get, "/api/v1/app").result_int(), 403);
  EXPECT_EQ(as({both, portal.csrf}, http::verb::get, "/api/v1/app/app-a").result_int(), 200);
  EXPECT_EQ(as({both, "nope"}, http::verb::get, "/api/v1/app").result_int(), 403);

  clock_.advance(12h);
  auto expired = as(console, http::verb::get, "/api/v1/app");
  EXPECT_EQ(expired.result_int(), 401);
  EXPECT_EQ(json_of(expired).at("code").as_string(), "session_invalid");
  EXPECT_EQ(send(http::verb::get, "/ui/api/console/session", {{"cookie", console.cookie}}).result_int(), 401);
}

// Svix's logout: an app-portal token (bearer) or a session (cookie + CSRF) expires now; a session's cookie is
// cleared. The admin token and poller tokens cannot log out.
TEST_P(ScopedTokenTest, LogoutEndsAnAppPortalTokenOrASession) {
  const std::string logout = "/api/v1/auth/logout";
  const std::string token = portal_token("app-a");
  EXPECT_EQ(status(http::verb::post, logout, token), 204);
  EXPECT_EQ(get("/api/v1/app/app-a", token), 401);
  EXPECT_EQ(status(http::verb::post, logout, token), 401);

  EXPECT_EQ(status(http::verb::post, logout, kAdmin), 403);
  EXPECT_EQ(status(http::verb::post, logout, poller_token("app-a", "a1")), 403);
  EXPECT_EQ(status(http::verb::post, logout, ""), 401);

  const Session portal = portal_session("app-a");
  EXPECT_EQ(as(portal, http::verb::post, logout, {}, "").result_int(), 403) << "CSRF needed";
  auto out = as(portal, http::verb::post, logout);
  ASSERT_EQ(out.result_int(), 204) << out.body();
  const std::string set(out[http::field::set_cookie]);
  EXPECT_TRUE(set.starts_with("hookwire_portal=; Path=/; Max-Age=0; HttpOnly; Secure")) << set;
  EXPECT_EQ(out[http::field::cache_control], "no-store");
  EXPECT_EQ(as_status(portal, http::verb::get, "/api/v1/app/app-a"), 401);
  EXPECT_EQ(send(http::verb::get, "/ui/api/portal/session", {{"cookie", portal.cookie}}).result_int(), 401);

  const Session console = console_session();
  auto ended = as(console, http::verb::post, logout);
  ASSERT_EQ(ended.result_int(), 204);
  EXPECT_TRUE(
      std::string(ended[http::field::set_cookie]).starts_with("hookwire_console=; Path=/; Max-Age=0"));
  EXPECT_EQ(as_status(console, http::verb::get, "/api/v1/app"), 401);
}

// Svix's expire-all: the application's app-portal tokens, links and portal sessions (those of the sessionIds
// given) expire within `expiry`; poller tokens and other applications are untouched.
TEST_P(ScopedTokenTest, ExpireAllEndsAnApplicationsPortalAccess) {
  const std::string expire_all = "/api/v1/auth/app/app-a/expire-all";
  const std::string t1 = portal_token("app-a", R"({"sessionId":"s1"})");
  const std::string t2 = portal_token("app-a", R"({"sessionId":"s2"})");
  const std::string none = portal_token("app-a");
  const Session s1 = portal_session("app-a", R"({"sessionId":"s1"})");
  const Session s2 = portal_session("app-a", R"({"sessionId":"s2"})");
  const std::string link1 = portal_link("app-a", R"({"sessionId":"s1"})");
  const std::string other = portal_token("app-b", R"({"sessionId":"s1"})");
  const std::string poller = poller_token("app-a", "a1");

  for (const char* bad : {R"({"expiry":-1})", R"({"expiry":259201})", R"({"sessionIds":["a b"]})",
                          R"({"sessionIds":[""]})", R"({"sessionIds":"s1"})"})
    EXPECT_EQ(status(http::verb::post, expire_all, kAdmin, bad), 422) << bad;
  EXPECT_EQ(status(http::verb::post, "/api/v1/auth/app/nope/expire-all", kAdmin, "{}"), 404);
  EXPECT_EQ(status(http::verb::post, expire_all, t1, "{}"), 403);
  EXPECT_EQ(as_status(s1, http::verb::post, expire_all, "{}"), 403);

  // Only session s1, within 60 s.
  EXPECT_EQ(status(http::verb::post, expire_all, kAdmin, R"({"sessionIds":["s1"],"expiry":60})"), 204);
  EXPECT_EQ(get("/api/v1/app/app-a", t1), 200);
  clock_.advance(60s);
  EXPECT_EQ(get("/api/v1/app/app-a", t1), 401);
  EXPECT_EQ(as_status(s1, http::verb::get, "/api/v1/app/app-a"), 401);
  EXPECT_EQ(portal_login(link1).result_int(), 401);
  EXPECT_EQ(get("/api/v1/app/app-a", t2), 200);
  EXPECT_EQ(get("/api/v1/app/app-a", none), 200);
  EXPECT_EQ(as_status(s2, http::verb::get, "/api/v1/app/app-a"), 200);
  EXPECT_EQ(get("/api/v1/app/app-b", other), 200) << "another application's session s1";

  // Everything of the application, at once (an empty body is the defaults).
  EXPECT_EQ(status(http::verb::post, expire_all, kAdmin), 204);
  EXPECT_EQ(get("/api/v1/app/app-a", t2), 401);
  EXPECT_EQ(get("/api/v1/app/app-a", none), 401);
  EXPECT_EQ(as_status(s2, http::verb::get, "/api/v1/app/app-a"), 401);
  EXPECT_EQ(get("/api/v1/app/app-b", other), 200);
  EXPECT_EQ(get("/api/v1/app/app-a/msg/" + msg_a_, poller), 200) << "poller tokens are not the portal's";
  // A later expiry never lengthens one already shorter.
  const std::string fresh = portal_token("app-a");
  EXPECT_EQ(status(http::verb::post, expire_all, kAdmin, R"({"expiry":10})"), 204);
  EXPECT_EQ(status(http::verb::post, expire_all, kAdmin, R"({"expiry":3600})"), 204);
  clock_.advance(10s);
  EXPECT_EQ(get("/api/v1/app/app-a", fresh), 401);
}

// A stream opened with a session cookie ends when the session is logged out.
TEST_P(ScopedTokenTest, AStreamOfASessionEndsWithTheSession) {
  const Session s = portal_session("app-a");
  auto c = std::make_unique<TestClient>(port_, 10s);
  c->send_raw("GET /api/v1/app/app-a/poller/a1/stream HTTP/1.1\r\nHost: a\r\nCookie: " + s.cookie +
              "\r\nX-Hookwire-Csrf: " + s.csrf + "\r\n\r\n");
  const auto head = c->read_until("\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(c->read_until("\n\n").find(msg_a_), std::string::npos);
  const std::string second = id_of(call(http::verb::post, "/api/v1/app/app-a/msg", kAdmin, kMessage), 202);
  EXPECT_NE(c->read_until("\n\n").find(second), std::string::npos);
  ASSERT_EQ(as(s, http::verb::post, "/api/v1/auth/logout").result_int(), 204);
  id_of(call(http::verb::post, "/api/v1/app/app-a/msg", kAdmin, kMessage), 202);
  EXPECT_EQ(c->read_until("\n\n"),
            "event: close\ndata: {\"reason\":\"unauthorized\",\"detail\":\"" +
                std::string("this session has expired or was ended; open the portal or "
                            "console again") +
                "\"}\n\n");
  EXPECT_TRUE(c->wait_closed());
}

// A token or session another node made (in the store, not yet in this node's registry) is looked up in the
// store on the head, once, and then admitted; an unknown one is still refused.
TEST_P(ScopedTokenTest, CredentialsAnotherNodeMadeAreLookedUpInTheStore) {
  const TimePoint now = clock_.now();
  auto portal = tokens_.mint(store::ApiToken::kAppPortal, app_a_, std::nullopt, {"ViewBase"}, now, now + 1h);
  auto session =
      tokens_.mint(store::ApiToken::kPortalSession, app_a_, std::nullopt, {"ViewBase"}, now, now + 1h);
  auto console = tokens_.mint(store::ApiToken::kConsoleSession, "", std::nullopt, {}, now, now + 1h);
  std::promise<Status> written;
  store_->submit_write(
      [&](store::Tx& tx) -> Status {
        for (const auto* t : {&portal, &session, &console})
          if (auto st = tx.insert_token(*t); !st) return st;
        return {};
      },
      [&](Status st) { written.set_value(std::move(st)); });
  ASSERT_TRUE(written.get_future().get().ok());
  ASSERT_FALSE(tokens_.find(tokens_.text_of(portal)));

  EXPECT_EQ(get("/api/v1/app/app-a", tokens_.text_of(portal)), 200);
  EXPECT_EQ(get("/api/v1/app/app-b", tokens_.text_of(portal)), 403);
  const Session s{"hookwire_portal=" + tokens_.text_of(session), tokens_.csrf_of(session)};
  auto info = send(http::verb::get, "/ui/api/portal/session", {{"cookie", s.cookie}});
  ASSERT_EQ(info.result_int(), 200) << info.body();
  EXPECT_EQ(json_of(info).at("appId").as_string(), app_a_);
  EXPECT_EQ(as_status(s, http::verb::get, "/api/v1/app/app-a"), 200);
  const Session c{"hookwire_console=" + tokens_.text_of(console), tokens_.csrf_of(console)};
  EXPECT_EQ(as_status(c, http::verb::get, "/api/v1/app"), 200) << "an admin-only route";
  EXPECT_EQ(as_status(c, http::verb::post, "/api/v1/auth/logout"), 204);
  EXPECT_EQ(as_status(c, http::verb::get, "/api/v1/app"), 401);
  // Unknown everywhere: still 401.
  EXPECT_EQ(get("/api/v1/app/app-a", "appsk_" + std::string(32, 'Z')), 401);
  EXPECT_EQ(get("/api/v1/app", "appsk_" + std::string(32, 'Z')), 401);
  EXPECT_EQ(as_status({"hookwire_portal=hwportal_" + std::string(32, 'Z'), "x"}, http::verb::get,
                      "/api/v1/app/app-a"),
            401);
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
