// The gateway against a real store, SQLite and PostgreSQL (store/testing/backends.h), with an injected clock:
// verification outcomes, deduplication (sequential, concurrent, after the TTL), the body limit, the address
// allowlist and cache invalidation.
#include "inbound/gateway.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "core/testing/log_capture.h"
#include "feed/hub.h"
#include "inbound/sources.h"
#include "store/async.h"
#include "store/testing/backends.h"
#include "store/testing/test_dir.h"

namespace hookwire::inbound {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr const char* kGithubSecret = "It's a Secret to Everybody";

class GatewayTest : public ::testing::TestWithParam<store::testing::Backend> {
 protected:
  void SetUp() override {
    store_ = backend_.open(dir_.path());
    ASSERT_NE(store_, nullptr);
    GatewayOptions go;
    go.on_deliveries_created = [this] { ++wakes_; };
    gateway_ = std::make_unique<Gateway>(*store_, clock_, metrics_, go);
  }
  void TearDown() override {
    gateway_.reset();
    if (store_) store_->stop();
  }

  store::Source create(std::string_view spec_json) {
    auto spec = parse_source_spec(json::parse(spec_json).as_object(), 1 << 20);
    EXPECT_TRUE(spec.ok()) << spec.error().detail;
    std::optional<store::Source> created;
    std::promise<Status> done;
    store_->submit_write(
        [&, spec = *spec](store::Tx& tx) -> Status {
          auto r = create_source(tx, spec, clock_.now());
          if (!r) return r.error();
          created = *r;
          return {};
        },
        [&](Status st) { done.set_value(st); });
    EXPECT_TRUE(done.get_future().get().ok());
    return *created;
  }

  template <class T>
  T read(std::function<Result<T>(store::Tx&)> fn) {
    std::promise<Result<T>> p;
    store_->submit_read([&](store::Tx& tx) { p.set_value(fn(tx)); }, [] {});
    auto r = p.get_future().get();
    EXPECT_TRUE(r.ok()) << r.error().detail;
    return std::move(*r);
  }

  int message_count(const std::string& app_id) {
    return static_cast<int>(read<store::Page<store::Message>>([&](store::Tx& tx) {
                              store::MessageQuery q;
                              q.page.limit = 250;
                              return tx.list_messages(app_id, q);
                            }).items.size());
  }

  struct Req {
    std::string source;
    std::vector<signing::Header> headers;
    std::string body;
    std::string peer = "127.0.0.1";
    std::string target = "/in/source?from=test";
  };

  // Runs every request concurrently on one io_context; returns their outcomes in order.
  std::vector<Outcome> run(std::vector<Req> reqs) {
    asio::io_context io;
    std::vector<Outcome> out(reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      auto task = [](Gateway* g, Req* r, Outcome* o) -> asio::awaitable<void> {
        Incoming in;
        in.source = r->source;
        in.peer = asio::ip::make_address(r->peer);
        in.headers = signing::lookup_in(r->headers);
        in.body = r->body;
        in.head.method = "POST";
        in.head.target = r->target;
        in.head.each_header = [r](const HeaderVisitor& visit) {
          for (const auto& h : r->headers) visit(h.name, h.value);
        };
        *o = co_await g->receive(std::move(in));
      };
      asio::co_spawn(io, task(gateway_.get(), &reqs[i], &out[i]), asio::detached);
    }
    io.run();
    return out;
  }
  Outcome one(Req r) { return run({std::move(r)})[0]; }

  Req github(const std::string& source, const std::string& delivery, const std::string& body,
             const std::string& event = "push", const std::string& secret = kGithubSecret) {
    signing::Options o;
    o.scheme = signing::Scheme::kGithub;
    o.secrets = {secret};
    auto signer = signing::Signer::create(o);
    EXPECT_TRUE(signer.ok());
    Req r{source, signer->sign({"", 0, body}), body};
    r.headers.push_back({"x-github-delivery", delivery});
    r.headers.push_back({"x-github-event", event});
    return r;
  }

  // Waits until every write submitted so far is done (the request log's writes are not awaited by receive()):
  // the single writer runs them in order, so an empty write queued after them finishes after them.
  void flush() {
    std::promise<Status> done;
    store_->submit_write([](store::Tx&) -> Status { return {}; },
                         [&done](Status st) { done.set_value(std::move(st)); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  // The source's kept requests, newest first (after flush()).
  std::vector<store::SourceRequest> requests(const std::string& source_id) {
    flush();
    return read<store::Page<store::SourceRequest>>([&](store::Tx& tx) {
             store::SourceRequestQuery q;
             q.page.limit = 250;
             q.page.order = store::Order::kDescending;
             return tx.list_source_requests(source_id, q);
           })
        .items;
  }

  Req stripe(const std::string& source, const std::string& body, const std::string& secret, int64_t t) {
    signing::Options o;
    o.scheme = signing::Scheme::kStripe;
    o.secrets = {secret};
    auto signer = signing::Signer::create(o);
    EXPECT_TRUE(signer.ok());
    return Req{source, signer->sign({"", t, body}), body};
  }

  double counter(const std::string& name, const std::string& labels) {
    const auto text = metrics_.render();
    const auto key = name + "{" + labels + "} ";
    auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size()));
  }

  store::testing::TestDir dir_{"hookwire-inbound"};
  store::testing::BackendStore backend_{GetParam()};
  ManualClock clock_;
  metrics::Registry metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Gateway> gateway_;
  std::atomic<int> wakes_{0};
};

TEST_P(GatewayTest, AcceptsAVerifiedRequestOnceAndAnswersDuplicates200) {
  auto src = create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],
                        "destinations":["http://127.0.0.1:9/hook"]})");
  const std::string body = R"({"zen":"Keep it logically awesome.","n":1.50})";
  auto first = one(github("gh", "d-1", body));
  ASSERT_EQ(first.status, 202) << first.body;
  const auto id = json::parse(first.body).at("id").as_string();
  auto again = one(github(src.id, "d-1", body));  // by id this time
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body).at("id").as_string(), id);
  EXPECT_TRUE(json::parse(again.body).at("duplicate").as_bool());
  EXPECT_EQ(message_count(src.app_id), 1);
  EXPECT_EQ(wakes_.load(), 1);

  auto msg = read<store::Message>([&](store::Tx& tx) { return tx.get_message(src.app_id, std::string(id)); });
  EXPECT_EQ(msg.payload, body) << "kept byte for byte";
  EXPECT_EQ(msg.event_type, "push");
  auto deliveries = read<std::vector<store::Delivery>>(
      [&](store::Tx& tx) { return tx.list_deliveries_by_message(src.app_id, msg.id); });
  EXPECT_EQ(deliveries.size(), 1u) << "fanned out to the destination in the same write";

  EXPECT_EQ(counter("inbound_received_total", "source=\"gh\""), 2);
  EXPECT_EQ(counter("inbound_accepted_total", "source=\"gh\""), 1);
  EXPECT_EQ(counter("inbound_duplicates_total", "source=\"gh\""), 1);
}

// GitHub's "application/x-www-form-urlencoded" content type: the signature covers the form, the event kept is
// the JSON in its payload field.
TEST_P(GatewayTest, AGithubFormDeliveryKeepsTheJsonInsideIt) {
  auto src =
      create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true})");
  const std::string json_body = R"({"zen":"Design for failure.","ref":"refs/heads/main","n":1.50})";
  std::string form = "payload=";
  for (unsigned char c : json_body) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      form += static_cast<char>(c);
    } else if (c == ' ') {
      form += '+';
    } else {
      form += fmt::format("%{:02X}", c);
    }
  }
  auto req = github("gh", "form-1", form);
  req.headers.push_back({"content-type", "application/x-www-form-urlencoded; charset=utf-8"});
  auto kept = one(req);
  ASSERT_EQ(kept.status, 202) << kept.body;
  const auto id = json::parse(kept.body).at("id").as_string();
  auto msg = read<store::Message>([&](store::Tx& tx) { return tx.get_message(src.app_id, std::string(id)); });
  EXPECT_EQ(msg.payload, json_body);

  auto no_payload = github("gh", "form-2", "other=1");
  no_payload.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
  auto refused = one(no_payload);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("payload field"), std::string::npos) << refused.body;
  // The same form bytes without the form content type are not JSON.
  EXPECT_EQ(one(github("gh", "form-3", form)).status, 400);
}

TEST_P(GatewayTest, ConcurrentDuplicatesKeepExactlyOneMessage) {
  auto src =
      create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true})");
  std::vector<Req> reqs;
  for (int i = 0; i < 100; ++i) reqs.push_back(github("gh", "storm", R"({"storm":true})"));
  auto out = run(std::move(reqs));
  int accepted = 0, duplicates = 0;
  for (const auto& o : out) {
    if (o.status == 202) ++accepted;
    if (o.status == 200) ++duplicates;
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(duplicates, 99);
  EXPECT_EQ(message_count(src.app_id), 1);
}

TEST_P(GatewayTest, ADuplicateAfterTheTtlIsANewEvent) {
  auto src = create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true,
                        "dedupTtlSeconds":60})");
  EXPECT_EQ(one(github("gh", "d-1", "{}")).status, 202);
  clock_.advance(std::chrono::seconds(59));
  EXPECT_EQ(one(github("gh", "d-1", "{}")).status, 200);
  clock_.advance(std::chrono::seconds(2));
  EXPECT_EQ(one(github("gh", "d-1", "{}")).status, 202);
  EXPECT_EQ(message_count(src.app_id), 2);
}

TEST_P(GatewayTest, RefusalsSayWhy) {
  create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true,
             "bodyLimit":64,"allowedCidrs":["127.0.0.0/8"],"trustedProxies":["127.0.0.2"]})");
  auto unknown = one(github("nope", "d", "{}"));
  EXPECT_EQ(unknown.status, 404);

  auto wrong = one(github("gh", "d", "{}", "push", "another secret"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body).at("reason").as_string(), "no_matching_signature");

  auto tampered = github("gh", "d", R"({"amount":1})");
  tampered.body = R"({"amount":9})";
  EXPECT_EQ(json::parse(one(tampered).body).at("reason").as_string(), "no_matching_signature");

  auto unsigned_req = github("gh", "d", "{}");
  unsigned_req.headers.erase(unsigned_req.headers.begin());
  auto missing = one(unsigned_req);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(json::parse(missing.body).at("reason").as_string(), "missing_header");

  auto big = one(github("gh", "d", std::string(R"({"pad":")") + std::string(100, 'x') + "\"}"));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(json::parse(big.body).at("reason").as_string(), "too_large");

  auto outsider = github("gh", "d", "{}");
  outsider.peer = "203.0.113.7";
  EXPECT_EQ(one(outsider).status, 403);
  // A trusted proxy vouching for an outside client: refused; for an inside one: allowed.
  auto proxied = github("gh", "d", "{}");
  proxied.peer = "127.0.0.2";
  proxied.headers.push_back({"x-forwarded-for", "203.0.113.7"});
  auto via_proxy = one(proxied);
  EXPECT_EQ(via_proxy.status, 403);
  EXPECT_NE(via_proxy.body.find("203.0.113.7"), std::string::npos);
  proxied.headers.back().value = "127.0.0.9";
  EXPECT_EQ(one(proxied).status, 202);

  auto not_json = one(github("gh", "d2", "a=b"));
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(json::parse(not_json.body).at("reason").as_string(), "not_json");
  // This source takes nothing from the body, so it is only checked: the same grammar as a full parse.
  for (const std::string bad :
       {"", "{", R"({"a":1} x)", R"({"a":1}{})", "[1,]", "{\"a\":\"\xff\"}", "// c\n{}"}) {
    EXPECT_EQ(one(github("gh", "d-bad", bad)).status, 400) << bad;
  }
  int n = 0;
  for (const std::string good : {"[]", " {\"a\":[1,2.5,-3e4,true,null,\"\\u00e9\"]}\n", "\"s\"", "7"}) {
    EXPECT_EQ(one(github("gh", "d-good-" + std::to_string(++n), good)).status, 202) << good;
  }

  auto ping = one(github("gh", "d3", R"({"zen":"hi"})", "ping"));
  EXPECT_EQ(ping.status, 200);
  EXPECT_NE(ping.body.find("ping"), std::string::npos);

  EXPECT_EQ(counter("inbound_rejected_total", "source=\"gh\",reason=\"no_matching_signature\""), 2);
  EXPECT_EQ(counter("inbound_rejected_total", "source=\"gh\",reason=\"address_not_allowed\""), 2);
  EXPECT_EQ(counter("inbound_rejected_total", "source=\"\",reason=\"unknown_source\""), 1);
}

// An event type or dedup key taken from the request is checked as the API checks its own (event type names:
// ^[a-zA-Z0-9\-_.]+$, also joined by '/' for Shopify's topics, at most 256 bytes; dedup keys, which become
// idempotency keys: at most 256 bytes a header value may hold) and refused, never repaired: CR/LF decoded
// from JSON would otherwise reach the forwarded x-hookwire-event-type header.
TEST_P(GatewayTest, EventTypesAndDedupKeysFromTheRequestAreValidatedNotRepaired) {
  auto src =
      create(R"({"uid":"open","verifier":"none","pull":true,"eventType":"json:type","dedupKey":"json:id"})");
  auto injected = one(
      {"open",
       {},
       R"({"type":"evil\r\nX-Injected: yes\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal","id":"i1"})"});
  EXPECT_EQ(injected.status, 400) << injected.body;
  EXPECT_EQ(json::parse(injected.body).at("reason").as_string(), "invalid_event_type");
  for (const std::string& bad :
       std::vector<std::string>{R"("a b")", R"("a:b")", R"("")", R"("a//b")", R"("caf\u00e9")",
                                "\"" + std::string(257, 'a') + "\"", R"("nul\u0000")"}) {
    auto r = one({"open", {}, R"({"id":"i2","type":)" + bad + "}"});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(json::parse(r.body).at("reason").as_string(), "invalid_event_type") << bad;
  }
  for (const std::string& bad : std::vector<std::string>{R"("a\nb")", R"("a\u0000b")", R"("tab\u0001")",
                                                         "\"" + std::string(257, 'k') + "\""}) {
    auto r = one({"open", {}, R"({"type":"ok","id":)" + bad + "}"});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(json::parse(r.body).at("reason").as_string(), "invalid_dedup_key") << bad;
  }
  EXPECT_EQ(message_count(src.app_id), 0);
  EXPECT_EQ(counter("inbound_rejected_total", "source=\"open\",reason=\"invalid_event_type\""), 8);
  EXPECT_EQ(counter("inbound_rejected_total", "source=\"open\",reason=\"invalid_dedup_key\""), 4);

  // What the rules allow is kept as it came.
  EXPECT_EQ(one({"open", {}, R"({"type":"orders/create","id":"k 1"})"}).status, 202);
  EXPECT_EQ(one({"open",
                 {},
                 R"({"type":")" + std::string(256, 't') + R"(","id":")" + std::string(256, 'k') + "\"}"})
                .status,
            202);
  EXPECT_EQ(one({"open", {}, R"({"id":7})"}).status, 202);  // no type: "unknown"
  EXPECT_EQ(message_count(src.app_id), 3);

  // From a header, the same rule.
  create(
      R"({"uid":"hdr","verifier":"none","pull":true,"eventType":"header:x-event","dedupKey":"header:x-id"})");
  EXPECT_EQ(one({"hdr", {{"x-event", "a b"}, {"x-id", "1"}}, "{}"}).status, 400);
  EXPECT_EQ(one({"hdr", {{"x-event", "a.b"}, {"x-id", "bad\x01"}}, "{}"}).status, 400);
  EXPECT_EQ(one({"hdr", {{"x-event", "a.b"}, {"x-id", "1"}}, "{}"}).status, 202);
}

// Behind a trusted proxy, an X-Forwarded-For entry that is not an address is refused: before, the walk
// stopped at the last trusted hop, whose (allowed) address then stood for the client's.
TEST_P(GatewayTest, AMalformedForwardedForIsRefusedNotSkipped) {
  create(R"({"uid":"px","verifier":"none","pull":true,"allowedCidrs":["127.0.0.0/8"],
             "trustedProxies":["127.0.0.2"]})");
  for (const std::string xff : {"garbage", "127.0.0.9, nonsense", "unknown", "127.0.0.9:4711"}) {
    Req r{"px", {{"x-forwarded-for", xff}}, "{}", "127.0.0.2"};
    auto out = one(r);
    EXPECT_EQ(out.status, 400) << xff << " " << out.body;
    EXPECT_EQ(json::parse(out.body).at("reason").as_string(), "bad_forwarded_for") << xff;
  }
  // Empty list elements are ignored (RFC 9110 5.6.1); the first untrusted address from the right is the
  // client, whatever the client claimed to its left.
  Req fine{"px", {{"x-forwarded-for", "nonsense, 127.0.0.9 , ,127.0.0.2"}}, "{}", "127.0.0.2"};
  EXPECT_EQ(one(fine).status, 202);
}

// Refusals reach the log (source, reason, client; never the body or the signature), rate-limited per source
// and reason; accepted events at debug level.
TEST_P(GatewayTest, RefusalsAreLoggedRateLimitedAndAcceptedEventsAtDebug) {
  hookwire::testing::LogCapture log;
  create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true,
             "trustedProxies":["127.0.0.2"]})");
  std::vector<Req> flood;
  for (int i = 0; i < 50; ++i) {
    flood.push_back(
        github("gh", "d" + std::to_string(i), R"({"card":"4242-secret-payload"})", "push", "wrong"));
    flood.back().peer = "127.0.0.2";
    flood.back().headers.push_back({"x-forwarded-for", "198.51.100.7"});
  }
  for (const auto& o : run(flood)) EXPECT_EQ(o.status, 401);
  EXPECT_EQ(log.count({"[warning] inbound request refused", "source=gh", "reason=no_matching_signature",
                       "status=401", "client=198.51.100.7 (via peer 127.0.0.2)"}),
            5u)
      << log.text();
  clock_.advance(std::chrono::seconds(60));
  EXPECT_EQ(one(flood[0]).status, 401);
  EXPECT_EQ(log.count({"reason=no_matching_signature", "45 more like it suppressed"}), 1u) << log.text();

  EXPECT_EQ(one(github("nope", "d", "{}")).status, 404);
  EXPECT_EQ(log.count({"inbound request refused", "source=nope", "reason=unknown_source"}), 1u) << log.text();

  auto ok = one(github("gh", "d-ok", R"({"card":"4242-secret-payload"})"));
  ASSERT_EQ(ok.status, 202);
  const std::string msg_id(json::parse(ok.body).at("id").as_string());
  EXPECT_EQ(log.count({"[debug] inbound event accepted", "source=gh", "msg=" + msg_id, "event_type=push"}),
            1u)
      << log.text();
  const auto text = log.text();
  for (const char* never : {"4242-secret-payload", "sha256=", "Secret to Everybody"})
    EXPECT_EQ(text.find(never), std::string::npos) << never << " in\n" << text;
}

TEST_P(GatewayTest, StandardWebhooksStaleTimestampsAndRotationWithTypeFromTheBody) {
  const std::string old_secret = signing::generate_secret(), new_secret = signing::generate_secret();
  auto src = create(R"({"uid":"sw","verifier":"standard-webhooks","pull":true,"secrets":[")" + old_secret +
                    R"(",")" + new_secret + R"("]})");
  auto signed_req = [&](const std::string& secret, const std::string& id, int64_t ts) {
    signing::Options o;
    o.secrets = {secret};
    const std::string body = R"({"type":"invoice.paid","data":{}})";
    return Req{"sw", signing::Signer::create(o)->sign({id, ts, body}), body};
  };
  const int64_t now = unix_seconds(clock_.now());
  EXPECT_EQ(one(signed_req(old_secret, "msg_1", now)).status, 202);
  EXPECT_EQ(one(signed_req(new_secret, "msg_2", now)).status, 202);
  auto stale = one(signed_req(new_secret, "msg_3", now - 301));
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(json::parse(stale.body).at("reason").as_string(), "timestamp_too_old");
  auto page = read<store::Page<store::Message>>(
      [&](store::Tx& tx) { return tx.list_messages(src.app_id, store::MessageQuery{}); });
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].event_type, "invoice.paid");

  // The rotation ends: the old secret is dropped; after invalidate() the gateway sees it at once.
  auto spec =
      parse_source_spec(json::parse(R"({"uid":"sw","verifier":"standard-webhooks","pull":true,"secrets":[")" +
                                    new_secret + "\"]}")
                            .as_object(),
                        1 << 20);
  ASSERT_TRUE(spec.ok());
  std::promise<Status> done;
  store_->submit_write(
      [&, spec = *spec](store::Tx& tx) -> Status {
        auto existing = tx.get_source("sw");
        if (!existing) return existing.error();
        auto r = replace_source(tx, std::move(*existing), spec, clock_.now());
        return r ? Status{} : Status{r.error()};
      },
      [&](Status st) { done.set_value(st); });
  ASSERT_TRUE(done.get_future().get().ok());
  gateway_->invalidate();
  EXPECT_EQ(one(signed_req(old_secret, "msg_4", now)).status, 401);
  EXPECT_EQ(one(signed_req(new_secret, "msg_5", now)).status, 202);
}

TEST_P(GatewayTest, ASourceDeletedAfterItWasCachedKeepsNothing) {
  auto src = create(R"({"uid":"gone","verifier":"none","pull":true})");
  ASSERT_EQ(one({"gone", {}, "{}"}).status, 202);  // now cached
  std::promise<Status> done;
  store_->submit_write([&](store::Tx& tx) { return delete_source(tx, "gone"); },
                       [&](Status st) { done.set_value(st); });
  ASSERT_TRUE(done.get_future().get().ok());
  // No invalidate(): the gateway still has the source, as a request racing the deletion would.
  auto late = one({"gone", {}, R"({"late":true})"});
  EXPECT_EQ(late.status, 404) << late.body;
  EXPECT_EQ(message_count(src.app_id), 0);
  gateway_->invalidate();
  EXPECT_EQ(one({"gone", {}, "{}"}).status, 404);
}

// What the HTTP server asks on a request's head: lookup() never waits; warm() fills the cache, absent names
// too.
TEST_P(GatewayTest, LookupAnswersOnTheHeadOnceWarmedAndAdmitRefuses404And413) {
  using Kind = Gateway::Lookup::Kind;
  create(R"({"uid":"small","verifier":"none","pull":true,"bodyLimit":100})");
  const auto peer = asio::ip::make_address("127.0.0.1");
  EXPECT_EQ(gateway_->lookup("small").kind, Kind::kNotCached);
  EXPECT_EQ(gateway_->lookup("nope").kind, Kind::kNotCached);
  EXPECT_EQ(gateway_->lookup("not a name").kind, Kind::kAbsent);  // no source can have it: no store read
  auto warm = [&](std::string name) {
    asio::io_context io;
    asio::co_spawn(io, gateway_->warm(std::move(name)), asio::detached);
    io.run();
  };
  warm("small");
  warm("nope");
  auto small = gateway_->lookup("small");
  ASSERT_EQ(small.kind, Kind::kKnown);
  EXPECT_EQ(small.body_limit, 100u);
  EXPECT_FALSE(gateway_->admit(small, "small", 100, peer));
  EXPECT_FALSE(gateway_->admit(small, "small", std::nullopt, peer));  // chunked: cut as it streams
  auto too_large = gateway_->admit(small, "small", 101, peer);
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_EQ(counter("inbound_rejected_total", R"(source="small",reason="too_large")"), 1);
  auto nope = gateway_->lookup("nope");
  if (store_->shared()) {
    // Another node may create it: a shared store's unknown names are never cached (receive() asks the store).
    EXPECT_EQ(nope.kind, Kind::kNotCached);
    EXPECT_FALSE(gateway_->admit(nope, "nope", 5, peer));
  } else {
    ASSERT_EQ(nope.kind, Kind::kAbsent);
    auto not_found = gateway_->admit(nope, "nope", 5, peer);
    ASSERT_TRUE(not_found);
    EXPECT_EQ(not_found->status, 404);
    EXPECT_EQ(counter("inbound_rejected_total", R"(source="",reason="unknown_source")"), 1);
  }

  // The entry found on the head is used by receive(); after an invalidate() it is looked up again.
  Incoming in;
  in.source = "small";
  in.peer = peer;
  std::vector<signing::Header> none;
  in.headers = signing::lookup_in(none);
  in.body = "{}";
  in.source_entry = small.entry;
  asio::io_context io;
  Outcome out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out = co_await gateway_->receive(std::move(in)); },
      asio::detached);
  io.run();
  EXPECT_EQ(out.status, 202) << out.body;
}

TEST_P(GatewayTest, ASourceCreatedAfterA404ForItsNameIsFoundAtOnce) {
  using Kind = Gateway::Lookup::Kind;
  ASSERT_EQ(one({"later", {}, "{}"}).status, 404);
  // A shared store's unknown names are never cached; nor is the creation then told (another node made it).
  ASSERT_EQ(gateway_->lookup("later").kind, store_->shared() ? Kind::kNotCached : Kind::kAbsent);
  create(R"({"uid":"later","verifier":"none","pull":true})");
  if (!store_->shared()) gateway_->invalidate();  // what the API's writer does once the creation committed
  EXPECT_NE(gateway_->lookup("later").kind, Kind::kAbsent);
  EXPECT_EQ(one({"later", {}, "{}"}).status, 202);
  EXPECT_EQ(gateway_->lookup("later").kind, Kind::kKnown);
}

TEST_P(GatewayTest, TheNegativeCacheStaysBoundedUnderManyRandomNames) {
  using Kind = Gateway::Lookup::Kind;
  if (store_->shared()) GTEST_SKIP() << "a shared store's unknown names are never cached";
  std::vector<Req> reqs;
  for (size_t i = 0; i < 3 * Gateway::kMaxAbsent; ++i)
    reqs.push_back({fmt::format("random-{}", i), {}, "{}"});
  for (const auto& out : run(reqs)) ASSERT_EQ(out.status, 404);
  EXPECT_EQ(gateway_->absent_count(), Gateway::kMaxAbsent);
  // The newest are remembered, the oldest forgotten.
  EXPECT_EQ(gateway_->lookup(reqs.back().source).kind, Kind::kAbsent);
  EXPECT_EQ(gateway_->lookup(reqs.front().source).kind, Kind::kNotCached);
  // Names no source can have are never kept.
  std::vector<Req> invalid;
  for (int i = 0; i < 100; ++i) invalid.push_back({fmt::format("bad name {}", i), {}, "{}"});
  for (const auto& out : run(invalid)) ASSERT_EQ(out.status, 404);
  EXPECT_EQ(gateway_->lookup(reqs.back().source).kind, Kind::kAbsent);
  gateway_->invalidate();
  EXPECT_EQ(gateway_->absent_count(), 0u);
}

TEST_P(GatewayTest, NoneAcceptsUnsignedAndExtractsJsonPaths) {
  auto src = create(R"({"uid":"open","verifier":"none","pull":true,"dedupKey":"json:data.id",
                        "eventType":"json:data.kind"})");
  EXPECT_EQ(one({"open", {}, R"({"data":{"id":7,"kind":"thing.made"}})"}).status, 202);
  EXPECT_EQ(one({"open", {}, R"({"data":{"id":7,"kind":"thing.made"}})"}).status, 200);
  EXPECT_EQ(one({"open", {}, R"({"data":{"id":8}})"}).status, 202);
  auto page = read<store::Page<store::Message>>(
      [&](store::Tx& tx) { return tx.list_messages(src.app_id, store::MessageQuery{}); });
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].event_type, "thing.made");
  EXPECT_EQ(page.items[1].event_type, "unknown");
}

TEST_P(GatewayTest, AFormBodyIsKeptAsAJsonObjectOfItsFields) {
  // As Twilio posts a message status: the id and the type are form fields.
  auto src = create(R"({"uid":"sms","verifier":"none","pull":true,"dedupKey":"json:MessageSid",
                        "eventType":"json:MessageStatus"})");
  const signing::Header form{"content-type", "application/x-www-form-urlencoded"};
  auto kept = one({"sms",
                   {form},
                   "MessageSid=SM1&MessageStatus=delivered&Body=Hello+there%21&To=%2B15551234"
                   "&Tag=a&Tag=b&Empty=&Flag"});
  ASSERT_EQ(kept.status, 202) << kept.body;
  auto msg = read<store::Message>([&](store::Tx& tx) {
    return tx.get_message(src.app_id, std::string(json::parse(kept.body).at("id").as_string()));
  });
  EXPECT_EQ(json::parse(msg.payload), json::parse(R"({"MessageSid":"SM1","MessageStatus":"delivered",
      "Body":"Hello there!","To":"+15551234","Tag":["a","b"],"Empty":"","Flag":""})"));
  EXPECT_EQ(msg.event_type, "delivered");
  // The id taken from the form deduplicates like any other (the content type's case and spacing do not
  // matter).
  EXPECT_EQ(one({"sms",
                 {{"content-type", " Application/X-WWW-Form-URLEncoded ;charset=UTF-8"}},
                 "MessageStatus=delivered&MessageSid=SM1"})
                .status,
            200);
  // Not a form after all: refused, with the reason.
  auto bad = one({"sms", {form}, "a=%zz"});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body).at("reason").as_string(), "not_json");
  // Without the form content type, the same bytes are not JSON.
  EXPECT_EQ(one({"sms", {}, "MessageSid=SM2"}).status, 400);
  EXPECT_EQ(message_count(src.app_id), 1);
}

// The provider's own headers are kept with the message (Message::headers) from the verifier kind's
// allowlist, so `hookwire listen` can pass them through; nothing else (credentials, cookies, anything not
// listed), and no value that is not valid UTF-8.
TEST_P(GatewayTest, TheProvidersHeadersAreKeptFromTheVerifiersAllowlist) {
  auto src =
      create(R"({"uid":"gh","verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true})");
  auto req = github("gh", "d-h1", R"({"zen":"x"})", "issues");
  req.headers.push_back({"x-github-hook-id", "42"});
  req.headers.push_back({"content-type", "application/json"});
  req.headers.push_back({"user-agent", "GitHub-Hookshot/\"q\"\tv"});
  req.headers.push_back({"authorization", "Bearer not-kept"});
  req.headers.push_back({"cookie", "a=b"});
  req.headers.push_back({"x-other", "1"});
  auto kept = one(req);
  ASSERT_EQ(kept.status, 202) << kept.body;
  auto msg = read<store::Message>([&](store::Tx& tx) {
    return tx.get_message(src.app_id, std::string(json::parse(kept.body).at("id").as_string()));
  });
  ASSERT_TRUE(msg.headers);
  std::string signature;
  for (const auto& h : req.headers)
    if (h.name == "x-hub-signature-256") signature = h.value;
  ASSERT_FALSE(signature.empty());
  EXPECT_EQ(json::parse(*msg.headers), json::parse(R"({"content-type":"application/json",
      "user-agent":"GitHub-Hookshot/\"q\"\tv","x-hub-signature-256":")" +
                                                   signature + R"(",
      "x-github-event":"issues","x-github-delivery":"d-h1","x-github-hook-id":"42"})"))
      << *msg.headers;

  // A value that is not UTF-8 (obs-text) is not kept, not repaired; the rest is.
  auto odd = github("gh", "d-h2", "{}");
  odd.headers.push_back({"user-agent", "caf\xe9"});
  kept = one(odd);
  ASSERT_EQ(kept.status, 202) << kept.body;
  msg = read<store::Message>([&](store::Tx& tx) {
    return tx.get_message(src.app_id, std::string(json::parse(kept.body).at("id").as_string()));
  });
  ASSERT_TRUE(msg.headers);
  EXPECT_FALSE(json::parse(*msg.headers).as_object().contains("user-agent")) << *msg.headers;
  EXPECT_TRUE(json::parse(*msg.headers).as_object().contains("x-github-delivery")) << *msg.headers;

  // A static token's header is the secret itself: never kept. Nothing listed present: no headers at all.
  auto tok =
      create(R"({"uid":"tok","verifier":"static-token","secrets":["s3cret-token-value"],"pull":true})");
  kept = one({"tok", {{"x-webhook-token", "s3cret-token-value"}}, "{}"});
  ASSERT_EQ(kept.status, 202) << kept.body;
  msg = read<store::Message>([&](store::Tx& tx) {
    return tx.get_message(tok.app_id, std::string(json::parse(kept.body).at("id").as_string()));
  });
  EXPECT_FALSE(msg.headers) << *msg.headers;
}

// "pull": true gives the source's application a pull-only endpoint with uid `pull` (the sink its events are
// read through): no deliveries for it, not listed as a destination; it follows the setting on replace.
TEST_P(GatewayTest, APullSourceHasAPullSinkThatFollowsTheSetting) {
  auto src = create(R"({"uid":"p","verifier":"none","pull":true})");
  auto sink = [&] {
    std::promise<Result<store::Endpoint>> p;
    store_->submit_read([&](store::Tx& tx) { p.set_value(tx.get_endpoint(src.app_id, kPullSinkUid)); },
                        [] {});
    return p.get_future().get();
  };
  auto first = sink();
  ASSERT_TRUE(first.ok()) << first.error().detail;
  EXPECT_TRUE(first->pull_only);
  EXPECT_FALSE(first->disabled);
  auto kept = one({"p", {}, R"({"a":1})"});
  ASSERT_EQ(kept.status, 202) << kept.body;
  EXPECT_EQ(wakes_.load(), 0);  // nothing to push
  auto msg_id = std::string(json::parse(kept.body).at("id").as_string());
  EXPECT_TRUE(read<std::vector<store::Delivery>>([&](store::Tx& tx) {
                return tx.list_deliveries_by_message(src.app_id, msg_id);
              }).empty());
  auto out = read<json::object>([&](store::Tx& tx) { return source_out(tx, src); });
  EXPECT_TRUE(out.at("destinations").as_array().empty()) << json::serialize(out);
  EXPECT_EQ(out.at("pull"), true);

  auto replace = [&](std::string_view spec_json) {
    auto spec = parse_source_spec(json::parse(spec_json).as_object(), 1 << 20);
    ASSERT_TRUE(spec.ok()) << spec.error().detail;
    std::promise<Status> done;
    store_->submit_write(
        [&, spec = *spec](store::Tx& tx) -> Status {
          auto existing = tx.get_source("p");
          if (!existing) return existing.error();
          auto r = replace_source(tx, *existing, spec, clock_.now());
          return r ? Status{} : Status(r.error());
        },
        [&](Status st) { done.set_value(st); });
    ASSERT_TRUE(done.get_future().get().ok());
  };
  // The same setting keeps the same sink (its consumers' places are its).
  replace(R"({"uid":"p","verifier":"none","pull":true,"destinations":["http://127.0.0.1:9/d"]})");
  auto again = sink();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  out = read<json::object>([&](store::Tx& tx) { return source_out(tx, src); });
  ASSERT_EQ(out.at("destinations").as_array().size(), 1u) << json::serialize(out);
  EXPECT_EQ(out.at("destinations").as_array()[0].at("url"), "http://127.0.0.1:9/d");

  // pull false: the sink goes, the destination stays.
  replace(R"({"uid":"p","verifier":"none","destinations":["http://127.0.0.1:9/d"]})");
  auto gone = sink();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  kept = one({"p", {}, R"({"a":2})"});
  ASSERT_EQ(kept.status, 202) << kept.body;
  EXPECT_EQ(wakes_.load(), 1);

  // pull true again: a sink again.
  replace(R"({"uid":"p","verifier":"none","pull":true})");
  auto back = sink();
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->pull_only);
  out = read<json::object>([&](store::Tx& tx) { return source_out(tx, src); });
  EXPECT_TRUE(out.at("destinations").as_array().empty()) << json::serialize(out);
}

// ---- The request log (request_log.h)

// Every refusal once the source is known is kept with the status, the machine code and the text answered
// (which names the expected scheme), the client as the gateway decided it, the request line, headers and
// body; accepted requests of a source with a verifier are not kept; nothing is kept for an unknown name.
TEST_P(GatewayTest, TheRequestLogKeepsEveryRefusalAndWhy) {
  auto src = create(R"({"pull":true,"uid":"st","verifier":"stripe","secrets":["whsec_right"],"bodyLimit":256,
                        "allowedCidrs":["127.0.0.0/8","198.51.100.0/24"],"trustedProxies":["127.0.0.2"]})");
  const int64_t now = unix_seconds(clock_.now());
  const std::string body = R"({"id":"evt_1","type":"charge.succeeded"})";
  EXPECT_EQ(one(stripe("nope", body, "whsec_right", now)).status, 404);

  auto wrong = stripe("st", body, "whsec_wrong", now);
  wrong.headers.push_back({"authorization", "Bearer do-not-keep"});
  EXPECT_EQ(one(wrong).status, 401);
  EXPECT_EQ(one(stripe("st", body, "whsec_right", now - 3600)).status, 401);  // stale
  auto outsider = stripe("st", body, "whsec_right", now);
  outsider.peer = "127.0.0.2";  // a trusted proxy vouching for an outside client
  outsider.headers.push_back({"x-forwarded-for", "203.0.113.9"});
  EXPECT_EQ(one(outsider).status, 403);
  EXPECT_EQ(one(stripe("st", "not json", "whsec_right", now)).status, 400);
  EXPECT_EQ(one(stripe("st", std::string(300, 'x'), "whsec_right", now)).status, 413);
  // Refused on the head, before the body is read.
  auto found = gateway_->lookup("st");
  ASSERT_EQ(found.kind, Gateway::Lookup::Kind::kKnown);
  RequestHead head{"POST", "/in/st", {}};
  auto early = gateway_->admit(found, "st", 100000, asio::ip::make_address("198.51.100.4"), head);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 413);
  EXPECT_EQ(one(stripe("st", body, "whsec_right", now)).status, 202);

  auto kept = requests(src.id);
  ASSERT_EQ(kept.size(), 6u) << "the five refusals and the one on the head; not the 202, not the 404";
  for (const auto& r : kept) {
    EXPECT_EQ(r.outcome, "rejected");
    EXPECT_EQ(r.source_id, src.id);
    EXPECT_EQ(r.message_id, std::nullopt);
    EXPECT_EQ(r.method, "POST");
    EXPECT_TRUE(r.id.starts_with("sreq_"));
  }
  const auto& head_413 = kept[0];
  EXPECT_EQ(head_413.status, 413);
  EXPECT_EQ(head_413.code, std::optional<std::string>("too_large"));
  EXPECT_EQ(head_413.client_address, "198.51.100.4");
  EXPECT_EQ(head_413.body, "");
  const auto& too_large = kept[1];
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(too_large.body, std::string(300, 'x')) << "what was read is kept (up to 64 KiB)";
  const auto& not_json = kept[2];
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.code, std::optional<std::string>("not_json"));
  EXPECT_EQ(not_json.body, "not json");
  const auto& address = kept[3];
  EXPECT_EQ(address.status, 403);
  EXPECT_EQ(address.code, std::optional<std::string>("address_not_allowed"));
  EXPECT_NE(address.reason->find("address 203.0.113.9 is not allowed"), std::string::npos) << *address.reason;
  EXPECT_EQ(address.client_address, "203.0.113.9") << "the client behind the trusted proxy";
  EXPECT_EQ(json::parse(address.headers).at("x-forwarded-for").as_string(), "203.0.113.9");
  const auto& stale = kept[4];
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(stale.code, std::optional<std::string>("timestamp_too_old"));
  const auto& bad_signature = kept[5];
  EXPECT_EQ(bad_signature.status, 401);
  EXPECT_EQ(bad_signature.code, std::optional<std::string>("no_matching_signature"));
  EXPECT_NE(bad_signature.reason->find("Stripe-Signature"), std::string::npos) << *bad_signature.reason;
  EXPECT_EQ(bad_signature.client_address, "127.0.0.1");
  EXPECT_EQ(bad_signature.path, "/in/source?from=test");
  EXPECT_EQ(bad_signature.body, body);
  EXPECT_FALSE(bad_signature.body_base64);
  auto headers = json::parse(bad_signature.headers).as_object();
  EXPECT_EQ(headers.at("authorization").as_string(), "[redacted]");
  EXPECT_TRUE(headers.contains("stripe-signature"));
  EXPECT_EQ(bad_signature.headers.find("do-not-keep"), std::string::npos);
}

// A source whose verifier is `none` (the request inspector): every request is kept, accepted ones with their
// message id and duplicates with the message they repeat; the live view is woken by each.
TEST_P(GatewayTest, TheRequestLogKeepsEveryRequestOfASourceWithoutAVerifier) {
  auto src = create(R"({"pull":true,"uid":"insp","verifier":"none","dedupKey":"header:x-id"})");
  const int64_t seen = gateway_->request_log().sequence();
  Req first{"insp", {{"x-id", "1"}, {"content-type", "application/json"}}, R"({"hello":"world"})"};
  auto accepted = one(first);
  ASSERT_EQ(accepted.status, 202);
  const auto msg_id = std::string(json::parse(accepted.body).at("id").as_string());
  EXPECT_EQ(one(first).status, 200);
  EXPECT_EQ(one(Req{"insp", {}, "<xml/>"}).status, 400);

  auto kept = requests(src.id);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[2].outcome, "accepted");
  EXPECT_EQ(kept[2].status, 202);
  EXPECT_EQ(kept[2].message_id, msg_id);
  EXPECT_EQ(kept[2].code, std::nullopt);
  EXPECT_EQ(kept[2].reason, std::nullopt);
  EXPECT_EQ(kept[2].body, R"({"hello":"world"})");
  EXPECT_EQ(json::parse(kept[2].headers).at("x-id").as_string(), "1");
  EXPECT_EQ(kept[1].outcome, "duplicate");
  EXPECT_EQ(kept[1].status, 200);
  EXPECT_EQ(kept[1].message_id, msg_id);
  EXPECT_EQ(kept[0].outcome, "rejected");
  EXPECT_EQ(kept[0].code, std::optional<std::string>("not_json"));

  // Records committed after `seen` was read wake a live view at once.
  asio::io_context io;
  std::optional<feed::FeedHub::Wake> wake;
  auto waiter = [&]() -> asio::awaitable<void> {  // named: it outlives the coroutine
    wake = co_await gateway_->request_log().wait(src.id, seen, std::chrono::seconds(30));
  };
  asio::co_spawn(io, waiter(), asio::detached);
  io.run();
  ASSERT_TRUE(wake.has_value());
  EXPECT_TRUE(*wake == feed::FeedHub::Wake::kAdvanced);

  // A live view held while a request comes in is woken by its record, long before its timeout (whichever
  // of the wait and the record's commit comes first).
  const int64_t now_seen = gateway_->request_log().sequence();
  std::optional<feed::FeedHub::Wake> woken;
  asio::io_context held_io;
  auto held = [&]() -> asio::awaitable<void> {
    woken = co_await gateway_->request_log().wait(src.id, now_seen, std::chrono::seconds(120));
  };
  asio::co_spawn(held_io, held(), asio::detached);
  std::thread holder([&] { held_io.run(); });
  EXPECT_EQ(one(Req{"insp", {{"x-id", "2"}}, "{}"}).status, 202);
  holder.join();
  ASSERT_TRUE(woken.has_value());
  EXPECT_TRUE(*woken == feed::FeedHub::Wake::kAdvanced);
}

// At most kKeptPerSource records per source, the newest; the rest deleted as new ones arrive.
TEST_P(GatewayTest, TheRequestLogKeepsTheNewestHundredPerSource) {
  auto src = create(R"({"pull":true,"uid":"st","verifier":"stripe","secrets":["whsec_right"]})");
  std::vector<Req> reqs;
  for (int i = 0; i < kKeptPerSource + 5; ++i) {
    if (i % 10 == 0) clock_.advance(std::chrono::seconds(1));  // under the rate: every one is kept
    auto r = stripe("st", fmt::format(R"({{"n":{}}})", i), "whsec_wrong", unix_seconds(clock_.now()));
    EXPECT_EQ(one(r).status, 401);
  }
  auto kept = requests(src.id);
  ASSERT_EQ(kept.size(), static_cast<size_t>(kKeptPerSource));
  EXPECT_EQ(kept.front().body, fmt::format(R"({{"n":{}}})", kKeptPerSource + 4));
  EXPECT_EQ(kept.back().body, R"({"n":5})") << "the oldest five are gone";
}

// A flood of bad requests is not a flood of writes: at most kRecordsPerSecond a second per source (the
// clock's second), the rest counted; another source keeps its own allowance.
TEST_P(GatewayTest, TheRequestLogIsRateLimitedPerSource) {
  auto src = create(R"({"pull":true,"uid":"st","verifier":"stripe","secrets":["whsec_right"]})");
  auto other = create(R"({"pull":true,"uid":"other","verifier":"stripe","secrets":["whsec_right"]})");
  const int64_t now = unix_seconds(clock_.now());
  for (uint32_t i = 0; i < kRecordsPerSecond + 5; ++i)
    EXPECT_EQ(one(stripe("st", "{}", "whsec_wrong", now)).status, 401) << "every one still answered";
  EXPECT_EQ(one(stripe("other", "{}", "whsec_wrong", now)).status, 401);
  EXPECT_EQ(requests(src.id).size(), kRecordsPerSecond);
  EXPECT_EQ(counter("inbound_requests_unrecorded_total", "source=\"st\""), 5);
  EXPECT_EQ(requests(other.id).size(), 1u);
  EXPECT_EQ(counter("inbound_requests_unrecorded_total", "source=\"other\""), 0);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(one(stripe("st", "{}", "whsec_wrong", unix_seconds(clock_.now()))).status, 401);
  EXPECT_EQ(requests(src.id).size(), kRecordsPerSecond + 1) << "a new second, a new allowance";
}

// Deleting a source deletes its records; a record of a source deleted before it was written is not kept.
TEST_P(GatewayTest, DeletingASourceDeletesItsRequests) {
  auto src = create(R"({"pull":true,"uid":"insp","verifier":"none"})");
  auto other = create(R"({"pull":true,"uid":"other","verifier":"none"})");
  EXPECT_EQ(one(Req{"insp", {}, "{}"}).status, 202);
  EXPECT_EQ(one(Req{"other", {}, "{}"}).status, 202);
  ASSERT_EQ(requests(src.id).size(), 1u);
  std::promise<Status> deleted;
  store_->submit_write([&](store::Tx& tx) { return delete_source(tx, src.id); },
                       [&](Status st) { deleted.set_value(std::move(st)); });
  ASSERT_TRUE(deleted.get_future().get().ok());
  EXPECT_TRUE(requests(src.id).empty());
  EXPECT_EQ(requests(other.id).size(), 1u);
  // SQLite answers from the cache (not invalidated here) and the record's write finds the source gone; a
  // shared store reads the source for every request: 404, nothing kept.
  const int status = one(Req{"insp", {}, "not json"}).status;
  EXPECT_EQ(status, store_->shared() ? 404 : 400);
  EXPECT_TRUE(requests(src.id).empty());
  std::optional<int> orphans;
  std::promise<Status> pruned;
  store_->submit_write(
      [&](store::Tx& tx) -> Status {
        auto n = tx.prune_source_requests(100);
        if (!n) return n.take_error();
        orphans = *n;
        return {};
      },
      [&](Status st) { pruned.set_value(std::move(st)); });
  ASSERT_TRUE(pruned.get_future().get().ok());
  EXPECT_EQ(orphans, 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, GatewayTest, store::testing::both_backends(), store::testing::backend_name);

}  // namespace
}  // namespace hookwire::inbound
