#include "inbound/source.h"

#include <gtest/gtest.h>

namespace hookwire::inbound {
namespace {

namespace json = boost::json;
using boost::asio::ip::make_address;

Result<SourceSpec> parse(std::string_view text, size_t max_body = 1 << 20) {
  return parse_source_spec(json::parse(text).as_object(), max_body);
}

TEST(SourceSpec, DefaultsFollowTheVerifier) {
  auto s = parse(R"({"verifier":"github","secrets":["It's a Secret to Everybody"],"pull":true})");
  ASSERT_TRUE(s.ok()) << s.error().field << " " << s.error().detail;
  EXPECT_EQ(s->dedup_key.to_string(), "header:x-github-delivery");
  EXPECT_EQ(s->event_type.to_string(), "header:x-github-event");
  EXPECT_EQ(s->dedup_ttl, std::chrono::hours(72));
  EXPECT_EQ(s->body_limit, size_t{1} << 20);
  s = parse(R"({"verifier":"stripe","secrets":["whsec_x"],"destinations":["http://127.0.0.1:9/x"]})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->dedup_key.to_string(), "json:id");
  EXPECT_EQ(s->event_type.to_string(), "json:type");
  s = parse(R"({"verifier":"shopify","secrets":["k"],"pull":true,"dedupKey":"none","eventType":"json:a.b"})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->dedup_key.from, Extract::From::kNone);
  EXPECT_EQ(s->event_type.to_string(), "json:a.b");
}

TEST(SourceSpec, TheCommandLinesOlderSchemeNamesAreAliasesStoredCanonical) {
  for (auto [alias, canonical] : {std::pair{"standard", "standard-webhooks"},
                                  std::pair{"generic", "generic-hmac"}, std::pair{"token", "static-token"}}) {
    auto t = parse_verifier_type(alias);
    ASSERT_TRUE(t) << alias;
    EXPECT_EQ(to_string(*t), canonical);
  }
  EXPECT_FALSE(parse_verifier_type("nope"));
}

TEST(SourceSpec, ValidationNamesTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const auto& c : std::initializer_list<Case>{
           {R"({"secrets":["k"],"pull":true})", "body.verifier"},
           {R"({"verifier":"nope","secrets":["k"],"pull":true})", "body.verifier"},
           {R"({"verifier":"github","pull":true})", "body.secrets"},
           {R"({"verifier":"none","secrets":["k"],"pull":true})", "body.secrets"},
           {R"({"verifier":"standard-webhooks","secrets":["whsec_!!"],"pull":true})", "body.secrets"},
           {R"({"verifier":"github","secrets":["k"]})", "body.destinations"},
           {R"({"verifier":"github","secrets":["k"],"destinations":["ftp://x"]})", "body.destinations"},
           {R"({"verifier":"github","secrets":["k"],"pull":true,"bodyLimit":2000000})", "body.bodyLimit"},
           {R"({"verifier":"github","secrets":["k"],"pull":true,"allowedCidrs":["10.0.0.0/33"]})",
            "body.allowedCidrs"},
           {R"({"verifier":"github","secrets":["k"],"pull":true,"dedupKey":"cookie:x"})", "body.dedupKey"},
           {R"({"verifier":"github","secrets":["k"],"pull":true,"colour":"red"})", "body.colour"},
           {R"({"verifier":"generic-hmac","secrets":["k"],"pull":true,"hmac":{"digest":"md5"}})",
            "body.hmac.digest"},
           {R"({"verifier":"github","secrets":["k"],"pull":true,"uid":"src_abc"})", "body.uid"},
       }) {
    auto s = parse(c.body);
    ASSERT_FALSE(s.ok()) << c.body;
    EXPECT_EQ(s.error().code, Errc::kValidation);
    EXPECT_EQ(s.error().field, c.field) << c.body << ": " << s.error().detail;
  }
  auto s = parse(R"({"verifier":"github","secrets":["k"],"pull":true,"bodyLimit":2000000})");
  EXPECT_NE(s.error().detail.find("--body-limit"), std::string::npos) << s.error().detail;
}

TEST(SourceSpec, ConfigRoundTripsAndPublicJsonHidesSecrets) {
  auto s = parse(R"({"uid":"gh","verifier":"generic-hmac","secrets":["a","b"],"pull":true,
                     "hmac":{"signatureHeader":"X-Sig","prefix":"sha256=","encoding":"base64","digest":"sha512"},
                     "allowedCidrs":["10.0.0.0/8"],"trustedProxies":["127.0.0.1"],"bodyLimit":4096,
                     "dedupTtlSeconds":60,"toleranceSeconds":30})");
  ASSERT_TRUE(s.ok()) << s.error().detail;
  EXPECT_EQ(s->allowed_cidrs, std::vector<std::string>{"10.0.0.0/8"});
  auto back = spec_from_config(config_json(*s));
  ASSERT_TRUE(back.ok()) << back.error().detail;
  EXPECT_EQ(back->secrets, s->secrets);
  EXPECT_EQ(back->hmac.signature_header, "x-sig");
  EXPECT_EQ(back->hmac.digest, signing::Digest::kSha512);
  EXPECT_EQ(back->hmac.encoding, signing::Encoding::kBase64);
  EXPECT_EQ(back->body_limit, 4096u);
  EXPECT_EQ(back->dedup_ttl, std::chrono::seconds(60));
  EXPECT_EQ(back->tolerance, std::chrono::seconds(30));
  EXPECT_TRUE(back->pull);
  const auto pub = json::serialize(public_json(*s));
  EXPECT_EQ(pub.find("\"a\""), std::string::npos) << pub;
  EXPECT_NE(pub.find("\"secretCount\":2"), std::string::npos) << pub;
}

TEST(ClientAddress, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  const std::vector<delivery::Cidr> proxies = {*delivery::Cidr::parse("10.0.0.0/8")};
  // A direct client: its X-Forwarded-For is ignored.
  auto client = [&](const char* peer, std::string_view xff, const std::vector<delivery::Cidr>& trusted) {
    auto c = client_address(make_address(peer), xff, trusted);
    return c ? c->to_string() : std::string("refused");
  };
  // A direct client: its X-Forwarded-For is ignored.
  EXPECT_EQ(client("203.0.113.9", "1.2.3.4", proxies), "203.0.113.9");
  // Through one proxy.
  EXPECT_EQ(client("10.0.0.1", "1.2.3.4", proxies), "1.2.3.4");
  // Through two proxies; the client cannot spoof by prepending.
  EXPECT_EQ(client("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.9.9.9", proxies), "1.2.3.4");
  // No proxies configured: never believed.
  EXPECT_EQ(client("10.0.0.1", "1.2.3.4", {}), "10.0.0.1");
  // Garbage written by a trusted hop is refused (it used to end the walk at that hop, whose address then
  // stood for the client's); garbage left of the client is the client's own and not read.
  EXPECT_EQ(client("10.0.0.1", "1.2.3.4, junk", proxies), "refused");
  EXPECT_EQ(client("10.0.0.1", "unknown", proxies), "refused");
  EXPECT_EQ(client("10.0.0.1", "1.2.3.4:80", proxies), "refused");
  EXPECT_EQ(client("10.0.0.1", "junk, 1.2.3.4", proxies), "1.2.3.4");
  // Empty list elements are skipped (RFC 9110 5.6.1).
  EXPECT_EQ(client("10.0.0.1", "1.2.3.4, , 10.0.0.2,", proxies), "1.2.3.4");
  // All hops trusted: the leftmost.
  EXPECT_EQ(client("10.0.0.1", "10.0.0.3, 10.0.0.2", proxies), "10.0.0.3");
  // IPv4-mapped peers are judged as IPv4.
  EXPECT_EQ(client("::ffff:10.0.0.1", "1.2.3.4", proxies), "1.2.3.4");
  const std::vector<delivery::Cidr> allowed = {*delivery::Cidr::parse("192.30.252.0/22")};
  EXPECT_TRUE(address_allowed(make_address("192.30.253.1"), allowed));
  EXPECT_FALSE(address_allowed(make_address("192.31.0.1"), allowed));
  EXPECT_TRUE(address_allowed(make_address("8.8.8.8"), {}));
}

TEST(FieldKind, KnowsEveryField) {
  EXPECT_EQ(field_kind("secrets"), FieldKind::kStringArray);
  EXPECT_EQ(field_kind("bodyLimit"), FieldKind::kInteger);
  EXPECT_EQ(field_kind("pull"), FieldKind::kBoolean);
  EXPECT_EQ(field_kind("hmac.digest"), FieldKind::kString);
  EXPECT_FALSE(field_kind("nope").has_value());
}

TEST(KeptHeaders, FollowTheVerifierKindAndNeverTheStaticToken) {
  auto names = [](std::string_view spec) {
    auto s = parse_source_spec(boost::json::parse(spec).as_object(), 1 << 20);
    EXPECT_TRUE(s.ok()) << s.error().detail;
    return kept_header_names(*s);
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(R"({"verifier":"stripe","secrets":["whsec_x"],"pull":true})"),
            (V{"content-type", "user-agent", "stripe-signature"}));
  EXPECT_EQ(names(R"({"verifier":"shopify","secrets":["k"],"pull":true})"),
            (V{"content-type", "user-agent", "x-shopify-hmac-sha256", "x-shopify-topic",
               "x-shopify-webhook-id", "x-shopify-shop-domain"}));
  EXPECT_EQ(names(R"({"verifier":"generic-hmac","secrets":["k"],"pull":true,
                      "hmac":{"signatureHeader":"X-Partner-Sig","idHeader":"X-Partner-Id"}})"),
            (V{"content-type", "user-agent", "x-partner-sig", "x-webhook-timestamp", "x-partner-id"}));
  EXPECT_EQ(names(R"({"verifier":"static-token","secrets":["k"],"pull":true,"tokenHeader":"X-Token"})"),
            (V{"content-type", "user-agent"}));
  const auto sw =
      names(R"({"verifier":"svix","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],"pull":true})");
  EXPECT_EQ(sw.size(), 8u);
  EXPECT_NE(std::find(sw.begin(), sw.end(), "svix-signature"), sw.end());
  EXPECT_NE(std::find(sw.begin(), sw.end(), "webhook-signature"), sw.end());
}

}  // namespace
}  // namespace hookwire::inbound
