#include "app/app.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cstdint>
#include <fstream>
#include <future>
#include <iterator>

#include "api/http_server.h"
#include "api/testing/http_test_client.h"
#include "api/v1/tokens.h"
#include "app/janitor.h"
#include "core/ids.h"
#include "core/testing/log_capture.h"
#include "store/testing/test_dir.h"

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

using namespace std::chrono_literals;
namespace http = api::http;

Status write(store::Store& store, std::function<Status(store::Tx&)> fn) {
  std::promise<Status> done;
  store.submit_write(std::move(fn), [&done](Status st) { done.set_value(std::move(st)); });
  return done.get_future().get();
}

template <class T>
Result<T> read(store::Store& store, std::function<Result<T>(store::Tx&)> fn) {
  std::promise<Result<T>> done;
  store.submit_read([&done, &fn](store::Tx& tx) { done.set_value(fn(tx)); }, [] {});
  return done.get_future().get();
}

store::Message message_at(const std::string& app_id, TimePoint t) {
  store::Message m;
  m.app_id = app_id;
  m.event_type = "a.b";
  m.payload = R"({"n":1})";
  m.created_at = t;
  return m;
}

// The retention janitor with an injected clock: messages older than the retention are pruned (in batches),
// younger ones kept, payloads past their own expiry emptied, expired tokens removed from the store and the
// registry, background tasks older than the retention deleted; and it logs the counts.
TEST(Janitor, PrunesOldMessagesExpiresPayloadsAndTokens) {
  store::testing::TestDir dir("hookwire-janitor");
  auto store = store::testing::open_test_store(dir.path());
  ASSERT_NE(store, nullptr);
  const TimePoint t0 = from_unix_millis(1'800'000'000'000);
  ManualClock clock(t0);

  store::Application app;
  app.id = new_id(id_prefix::kApplication, t0);
  app.name = "a";
  app.metadata = "{}";
  app.created_at = app.updated_at = t0;
  std::vector<store::Message> old;
  for (int i = 0; i < 5; ++i) old.push_back(message_at(app.id, t0 + std::chrono::milliseconds(i)));
  const TimePoint later = t0 + 24h * 31;
  store::Message young = message_at(app.id, later);
  store::Message expiring = message_at(app.id, later);
  expiring.payload_expires_at = later + 1h;
  auto task_at = [](TimePoint at) {
    return store::BackgroundTask{new_id("qtask", at), "endpoint.recover", "finished", "{}", at, at};
  };
  const auto old_task = task_at(t0);
  const auto young_task = task_at(later);
  api::v1::TokenRegistry registry(std::string(api::v1::kTokenKeySize, 'k'));
  const auto expired_token =
      registry.mint(store::ApiToken::kPoller, app.id, std::string("ep_x"), {}, t0, t0 + 1h);
  const auto live_token =
      registry.mint(store::ApiToken::kPoller, app.id, std::string("ep_x"), {}, t0, std::nullopt);
  ASSERT_TRUE(write(*store, [&](store::Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st) return st;
                for (auto& m : old)
                  if (auto st = tx.insert_message(m); !st) return st;
                if (auto st = tx.insert_message(young); !st) return st;
                if (auto st = tx.insert_message(expiring); !st) return st;
                if (auto st = tx.insert_token(expired_token); !st) return st;
                for (const auto* t : {&old_task, &young_task})
                  if (auto st = tx.insert_background_task(*t); !st) return st;
                return tx.insert_token(live_token);
              }).ok());
  registry.load({expired_token, live_token});

  clock.set(later + 1h);  // the old messages are 31 days old, the young ones 1 hour; `expiring` is due
  JanitorOptions options;
  options.retention = 24h * 30;
  options.batch = 2;  // three batches for the five old messages
  Janitor janitor(*store, clock, options, &registry);
  hookwire::testing::LogCapture logs(spdlog::level::info);
  auto pass = janitor.run_once();
  EXPECT_EQ(pass.pruned, 5);
  EXPECT_EQ(pass.expired_payloads, 1);
  EXPECT_EQ(pass.pruned_tasks, 1);
  EXPECT_EQ(pass.failures, 0);
  EXPECT_EQ(logs.count({"[info]", "pruned 1 background tasks"}), 1u) << logs.text();
  auto tasks = read<store::Page<store::BackgroundTask>>(
      *store, [](store::Tx& tx) { return tx.list_background_tasks({}); });
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->items.size(), 1u);
  EXPECT_EQ(tasks->items.front().id, young_task.id);
  EXPECT_EQ(logs.count({"[info]", "pruned 5 messages older than 30 days"}), 1u) << logs.text();
  EXPECT_EQ(logs.count({"[info]", "expired 1 payloads"}), 1u) << logs.text();

  for (const auto& m : old) {
    auto got = read<store::Message>(*store, [&](store::Tx& tx) { return tx.get_message(app.id, m.id); });
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kNotFound);
  }
  auto kept = read<store::Message>(*store, [&](store::Tx& tx) { return tx.get_message(app.id, young.id); });
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->payload, young.payload);
  auto emptied =
      read<store::Message>(*store, [&](store::Tx& tx) { return tx.get_message(app.id, expiring.id); });
  ASSERT_TRUE(emptied.ok());
  EXPECT_EQ(emptied->payload, "");

  auto tokens = read<std::vector<store::ApiToken>>(*store, [](store::Tx& tx) { return tx.list_tokens(); });
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().id, live_token.id);
  EXPECT_FALSE(registry.find(registry.text_of(expired_token)));
  EXPECT_TRUE(registry.find(registry.text_of(live_token)));

  // Nothing more to do: a second pass removes nothing and logs nothing.
  auto again = janitor.run_once();
  EXPECT_EQ(again.pruned, 0);
  EXPECT_EQ(again.expired_payloads, 0);
  EXPECT_EQ(logs.count({"janitor"}), 3u) << logs.text();

  // Retention 0 keeps messages however old.
  options.retention = std::chrono::hours{0};
  Janitor keeper(*store, clock, options, &registry);
  clock.advance(24h * 3650);
  EXPECT_EQ(keeper.run_once().pruned, 0);
  EXPECT_TRUE(
      read<store::Message>(*store, [&](store::Tx& tx) { return tx.get_message(app.id, young.id); }).ok());
  store->stop();
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every value of every row of `table`, as text.
std::vector<std::string> table_values(const std::filesystem::path& db, const char* table) {
  std::vector<std::string> out;
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db;
    sqlite3_close(conn);
    return out;
  }
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = std::string("SELECT * FROM ") + table;
  if (sqlite3_prepare_v2(conn, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(conn);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW)
      for (int i = 0; i < sqlite3_column_count(stmt); ++i)
        if (const auto* text = sqlite3_column_text(stmt, i))
          out.emplace_back(reinterpret_cast<const char*>(text));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return out;
}

// Scoped tokens through the app: the token key is made 0600 at first start and kept; tokens are stored as
// hashes only (not in the database's rows, nor anywhere in its files); after a restart the registry is loaded
// again, so the same tokens work and GET .../token shows the same text.
TEST(AppTokens, TokensAreHashedAndSurviveARestart) {
  store::testing::TestDir dir("hookwire-app-tokens");
  constexpr const char* kAdmin = "admin-token-for-the-test";
  AppOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.data_dir = dir.path() / "data";
  options.admin_token = kAdmin;
  options.deliver = false;
  options.delivery_allow_cidrs = {"127.0.0.0/8"};
  options.threads = 1;
  using api::testing::TestClient;
  auto call = [&](uint16_t port, http::verb verb, const std::string& target, const std::string& token,
                  std::string body = {}) {
    TestClient client(port);
    return client.request(verb, target, std::move(body),
                          {{"authorization", "Bearer " + token}, {"content-type", "application/json"}});
  };
  auto token_of = [](const api::Response& res) {
    EXPECT_EQ(res.result_int(), 200) << res.body();
    return std::string(boost::json::parse(res.body()).as_object().at("token").as_string());
  };

  std::string poller, portal, link, key;
  {
    auto app = App::start(options);
    ASSERT_TRUE(app.ok()) << app.error().detail;
    const uint16_t port = (*app)->endpoint().port();
    ASSERT_EQ(
        call(port, http::verb::post, "/api/v1/app", kAdmin, R"({"name":"A","uid":"app-a"})").result_int(),
        201);
    ASSERT_EQ(call(port, http::verb::post, "/api/v1/app/app-a/endpoint", kAdmin,
                   R"({"url":"http://127.0.0.1:9/hook","uid":"a1"})")
                  .result_int(),
              201);
    poller = token_of(call(port, http::verb::get, "/api/v1/auth/app/app-a/poller/a1/token", kAdmin));
    auto access = call(port, http::verb::post, "/api/v1/auth/app-portal-access/app-a", kAdmin, "{}");
    portal = token_of(access);
    // The default public URL is the listening address; the url carries a one-time link, not the token.
    const std::string url(boost::json::parse(access.body()).as_object().at("url").as_string());
    const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/portal#key=";
    ASSERT_EQ(url.rfind(base, 0), 0u) << url;
    link = url.substr(base.size());
    EXPECT_TRUE(link.starts_with("applink_")) << link;
    EXPECT_NE(link, portal);
    EXPECT_EQ(call(port, http::verb::get, "/api/v1/app/app-a", portal).result_int(), 200);
    (*app)->stop();
  }

  const auto key_file = options.data_dir / "token.key";
  struct stat st {};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  key = file_bytes(key_file);
  EXPECT_EQ(key.size(), api::v1::kTokenKeySize);

  const auto db = options.data_dir / "hookwire.db";
  const auto rows = table_values(db, "api_tokens");
  ASSERT_FALSE(rows.empty());
  bool poller_hash = false, portal_hash = false;
  for (const auto& value : rows) {
    for (const auto& token : {poller, portal, link}) {
      EXPECT_EQ(value.find(token), std::string::npos) << "a token in clear in api_tokens";
      EXPECT_EQ(value.find(token.substr(token.find('_', 3) + 1)), std::string::npos);
    }
    poller_hash |= value == api::v1::token_hash(poller);
    portal_hash |= value == api::v1::token_hash(portal);
  }
  EXPECT_TRUE(poller_hash);
  EXPECT_TRUE(portal_hash);
  for (const char* file : {"hookwire.db", "hookwire.db-wal"})
    for (const auto& token : {poller, portal, link})
      EXPECT_EQ(file_bytes(options.data_dir / file).find(token), std::string::npos) << file;

  auto app = App::start(options);
  ASSERT_TRUE(app.ok()) << app.error().detail;
  const uint16_t port = (*app)->endpoint().port();
  EXPECT_EQ(file_bytes(key_file), key);  // kept, not made again
  EXPECT_EQ(call(port, http::verb::get, "/api/v1/app/app-a", portal).result_int(), 200);
  EXPECT_EQ(call(port, http::verb::get, "/api/v1/app/app-a/msg/msg_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf", poller)
                .result_int(),
            404);  // admitted (its application), the message does not exist
  EXPECT_EQ(call(port, http::verb::get, "/api/v1/app/app-a", poller).result_int(), 403);
  EXPECT_EQ(token_of(call(port, http::verb::get, "/api/v1/auth/app/app-a/poller/a1/token", kAdmin)), poller);
  (*app)->stop();
}

TEST(AppTokens, AShortTokenKeyFileIsRefused) {
  store::testing::TestDir dir("hookwire-app-token-key");
  ASSERT_TRUE(load_token_key(dir.path()).ok());
  std::ofstream(dir.path() / "token.key", std::ios::binary | std::ios::trunc) << "short";
  auto refused = load_token_key(dir.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().detail.find("token.key must hold exactly 32 bytes"), std::string::npos)
      << refused.error().detail;
}

}  // namespace
}  // namespace hookwire::app
