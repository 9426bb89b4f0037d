#include "hookwire/signing.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <stdexcept>
#include <thread>

namespace hookwire::signing {
namespace {

// PROTOCOLS.md fixed vectors.
constexpr std::string_view kV1Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTs = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kV1Expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
constexpr std::string_view kV1Wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
constexpr std::string_view kV1aSecret =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
constexpr std::string_view kV1aPublic = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
constexpr std::string_view kV1aExpected =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
constexpr std::string_view kGithubSecret = "It's a Secret to Everybody";
constexpr std::string_view kGithubBody = "Hello, World!";
constexpr std::string_view kGithubExpected =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

Options opts(Scheme s, std::vector<std::string> secrets) {
  Options o;
  o.scheme = s;
  o.secrets = std::move(secrets);
  return o;
}

Verifier verifier(const Options& o) {
  auto v = Verifier::create(o);
  EXPECT_TRUE(v.ok()) << v.error();
  return std::move(v).value();
}

Signer signer(const Options& o) {
  auto s = Signer::create(o);
  EXPECT_TRUE(s.ok()) << s.error();
  return std::move(s).value();
}

VerifyResult verify_with(const Verifier& v, const std::vector<Header>& headers, std::string_view body,
                         int64_t now) {
  return v.verify(lookup_in(headers), body, now);
}

std::vector<Header> standard_headers(std::string_view sig, std::string_view ts = "1614265330") {
  return {{"webhook-id", std::string(kId)},
          {"webhook-timestamp", std::string(ts)},
          {"webhook-signature", std::string(sig)}};
}

// ---- Standard Webhooks v1 ----

TEST(signing_standard_v1, SignsTheFixedVector) {
  auto s = signer(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  EXPECT_EQ(s.standard_signature({kId, kTs, kBody}), kV1Expected);
  auto headers = s.sign({kId, kTs, kBody});
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].name, "webhook-id");
  EXPECT_EQ(headers[0].value, kId);
  EXPECT_EQ(headers[1].name, "webhook-timestamp");
  EXPECT_EQ(headers[1].value, "1614265330");
  EXPECT_EQ(headers[2].name, "webhook-signature");
  EXPECT_EQ(headers[2].value, kV1Expected);
}

TEST(signing_standard_v1, VerifiesTheFixedVector) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  auto r = verify_with(v, standard_headers(kV1Expected), kBody, kTs);
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.key_index, 0);
}

TEST(signing_standard_v1, RejectsTheWrongVector) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  auto r = verify_with(v, standard_headers(kV1Wrong), kBody, kTs);
  EXPECT_EQ(r.reason, Failure::kNoMatchingSignature);
  EXPECT_FALSE(r.message.empty());
}

TEST(signing_standard_v1, SecretWithoutPrefixIsAccepted) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret.substr(6))}));
  EXPECT_TRUE(verify_with(v, standard_headers(kV1Expected), kBody, kTs).ok());
}

TEST(signing_standard_v1, TamperedBodyIdOrTimestampFails) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  EXPECT_EQ(verify_with(v, standard_headers(kV1Expected), R"({"test": 2432232315})", kTs).reason,
            Failure::kNoMatchingSignature);
  auto h = standard_headers(kV1Expected, "1614265331");
  EXPECT_EQ(verify_with(v, h, kBody, kTs).reason, Failure::kNoMatchingSignature);
  h = standard_headers(kV1Expected);
  h[0].value = "msg_other";
  EXPECT_EQ(verify_with(v, h, kBody, kTs).reason, Failure::kNoMatchingSignature);
}

TEST(signing_standard_v1, SeveralEntriesAndUnknownVersions) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  std::string both = std::string(kV1Wrong) + " v2,whatever " + std::string(kV1Expected);
  EXPECT_TRUE(verify_with(v, standard_headers(both), kBody, kTs).ok());
  // Only unknown versions: not an error of format, simply nothing to match.
  auto r = verify_with(v, standard_headers("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), kBody, kTs);
  EXPECT_EQ(r.reason, Failure::kNoMatchingSignature);
  // Extra spaces are tolerated.
  EXPECT_TRUE(verify_with(v, standard_headers("  " + std::string(kV1Expected) + "  "), kBody, kTs).ok());
}

TEST(signing_standard_v1, RotationSignsWithEverySecretAndVerifiesWithAny) {
  std::string other = generate_secret();
  auto s = signer(opts(Scheme::kStandard, {other, std::string(kV1Secret)}));
  std::string sig = s.standard_signature({kId, kTs, kBody});
  EXPECT_EQ(sig.find(' '), sig.rfind(' '));
  EXPECT_NE(sig.find(kV1Expected), std::string::npos);
  EXPECT_EQ(sig.substr(sig.find(' ') + 1), kV1Expected);

  auto only_old = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  EXPECT_TRUE(verify_with(only_old, standard_headers(sig), kBody, kTs).ok());
  auto only_new = verifier(opts(Scheme::kStandard, {other}));
  EXPECT_TRUE(verify_with(only_new, standard_headers(sig), kBody, kTs).ok());
  auto both = verifier(opts(Scheme::kStandard, {generate_secret(), std::string(kV1Secret)}));
  auto r = verify_with(both, standard_headers(kV1Expected), kBody, kTs);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.key_index, 1);
}

TEST(signing_standard_v1, SvixHeaderFamilyAndCaseInsensitiveNames) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  std::vector<Header> h = {{"Svix-Id", std::string(kId)},
                           {"SVIX-TIMESTAMP", "1614265330"},
                           {"svix-signature", std::string(kV1Expected)}};
  EXPECT_TRUE(verify_with(v, h, kBody, kTs).ok());
  Options o = opts(Scheme::kStandard, {std::string(kV1Secret)});
  o.family = HeaderFamily::kSvix;
  auto headers = signer(o).sign({kId, kTs, kBody});
  EXPECT_EQ(headers[0].name, "svix-id");
  EXPECT_EQ(headers[1].name, "svix-timestamp");
  EXPECT_EQ(headers[2].name, "svix-signature");
  EXPECT_TRUE(verify_with(v, headers, kBody, kTs).ok());
}

TEST(signing_standard_v1, MissingHeaders) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  for (size_t drop = 0; drop < 3; ++drop) {
    auto h = standard_headers(kV1Expected);
    h.erase(h.begin() + static_cast<long>(drop));
    auto r = verify_with(v, h, kBody, kTs);
    EXPECT_EQ(r.reason, Failure::kMissingHeader) << drop;
    EXPECT_NE(r.message.find(drop == 0   ? "webhook-id"
                             : drop == 1 ? "webhook-timestamp"
                                         : "webhook-signature"),
              std::string::npos);
  }
  auto h = standard_headers("");
  EXPECT_EQ(verify_with(v, h, kBody, kTs).reason, Failure::kMissingHeader);
}

TEST(signing_standard_v1, MalformedHeaders) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  for (std::string_view ts :
       {"abc", "-1614265330", "1614265330.5", " 1614265330", "+1614265330", "99999999999999999999"}) {
    EXPECT_EQ(verify_with(v, standard_headers(kV1Expected, ts), kBody, kTs).reason, Failure::kMalformedHeader)
        << ts;
  }
  EXPECT_EQ(
      verify_with(v, standard_headers("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), kBody, kTs).reason,
      Failure::kMalformedHeader);
}

TEST(signing_standard_v1, TimestampWindow) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  auto h = standard_headers(kV1Expected);
  EXPECT_TRUE(verify_with(v, h, kBody, kTs + 300).ok());
  EXPECT_TRUE(verify_with(v, h, kBody, kTs - 300).ok());
  auto old = verify_with(v, h, kBody, kTs + 301);
  EXPECT_EQ(old.reason, Failure::kTimestampTooOld);
  EXPECT_NE(old.message.find("301 s in the past"), std::string::npos) << old.message;
  EXPECT_EQ(verify_with(v, h, kBody, kTs - 301).reason, Failure::kTimestampTooNew);
  // Extreme `now` values cannot overflow.
  EXPECT_EQ(verify_with(v, h, kBody, INT64_MAX).reason, Failure::kTimestampTooOld);
  EXPECT_EQ(verify_with(v, h, kBody, INT64_MIN).reason, Failure::kTimestampTooNew);

  Options o = opts(Scheme::kStandard, {std::string(kV1Secret)});
  o.tolerance = std::chrono::seconds{10};
  auto narrow = verifier(o);
  EXPECT_TRUE(verify_with(narrow, h, kBody, kTs + 10).ok());
  EXPECT_EQ(verify_with(narrow, h, kBody, kTs + 11).reason, Failure::kTimestampTooOld);
}

TEST(signing_standard_v1, SecretErrorsAreClear) {
  struct Case {
    std::string secret;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"whsec_not*base64", "not valid standard base64"},
           {"whsec_AAAA", "decodes to 3 bytes; Standard Webhooks secrets are 24 to 64 bytes"},
           {std::string(kV1Secret) + "\n", "whitespace"},
           {"sk_live_abc", "expected whsec_<base64>"},
           {"whsk_AAAA", "a whsk_ key is 64 bytes"},
           {"whpk_AAAA", "an Ed25519 public key is 32 bytes"},
       }) {
    auto v = Verifier::create(opts(Scheme::kStandard, {c.secret}));
    ASSERT_FALSE(v.ok()) << c.secret;
    EXPECT_NE(v.error().find(c.needle), std::string::npos) << v.error();
    EXPECT_NE(v.error().find("secret #1"), std::string::npos) << v.error();
  }
  auto none = Verifier::create(opts(Scheme::kStandard, {}));
  EXPECT_FALSE(none.ok());
  auto second = Verifier::create(opts(Scheme::kStandard, {std::string(kV1Secret), "whsec_!!"}));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("secret #2"), std::string::npos);
}

// ---- Standard Webhooks v1a ----

TEST(signing_standard_v1a, SignsTheFixedVector) {
  auto s = signer(opts(Scheme::kStandard, {std::string(kV1aSecret)}));
  EXPECT_EQ(s.standard_signature({kId, kTs, kBody}), kV1aExpected);
}

TEST(signing_standard_v1a, VerifiesWithPublicOrSecretKey) {
  for (auto key : {kV1aPublic, kV1aSecret}) {
    auto v = verifier(opts(Scheme::kStandard, {std::string(key)}));
    auto r = verify_with(v, standard_headers(kV1aExpected), kBody, kTs);
    EXPECT_TRUE(r.ok()) << r.message;
  }
}

TEST(signing_standard_v1a, RejectsTamperingAndV1Confusion) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1aPublic)}));
  EXPECT_EQ(verify_with(v, standard_headers(kV1aExpected), "{}", kTs).reason, Failure::kNoMatchingSignature);
  std::string flipped(kV1aExpected);
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_with(v, standard_headers(flipped), kBody, kTs).reason, Failure::kNoMatchingSignature);
  // A v1 signature is never checked against a v1a key, and vice versa.
  auto r = verify_with(v, standard_headers(kV1Expected), kBody, kTs);
  EXPECT_EQ(r.reason, Failure::kNoMatchingSignature);
  EXPECT_NE(r.message.find("only v1 entries"), std::string::npos) << r.message;
  auto sym = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  EXPECT_EQ(verify_with(sym, standard_headers(kV1aExpected), kBody, kTs).reason,
            Failure::kNoMatchingSignature);
  // Truncated or non-base64 v1a entries are ignored, not fatal.
  EXPECT_EQ(verify_with(v, standard_headers("v1a,short v1a,!!!"), kBody, kTs).reason,
            Failure::kNoMatchingSignature);
}

TEST(signing_standard_v1a, MixedRotation) {
  auto s = signer(opts(Scheme::kStandard, {std::string(kV1Secret), std::string(kV1aSecret)}));
  std::string sig = s.standard_signature({kId, kTs, kBody});
  EXPECT_EQ(sig, std::string(kV1Expected) + " " + std::string(kV1aExpected));
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1aPublic)}));
  EXPECT_TRUE(verify_with(v, standard_headers(sig), kBody, kTs).ok());
}

TEST(signing_standard_v1a, KeyGenerationAndErrors) {
  KeyPair kp = generate_key_pair();
  EXPECT_TRUE(kp.secret_key.starts_with("whsk_"));
  EXPECT_TRUE(kp.public_key.starts_with("whpk_"));
  auto pub = public_key_of(kp.secret_key);
  ASSERT_TRUE(pub.ok()) << pub.error();
  EXPECT_EQ(pub.value(), kp.public_key);
  EXPECT_EQ(public_key_of(kV1aSecret).value(), kV1aPublic);

  auto s = signer(opts(Scheme::kStandard, {kp.secret_key}));
  auto v = verifier(opts(Scheme::kStandard, {kp.public_key}));
  auto headers = s.sign({"msg_1", 1700000000, "payload"});
  EXPECT_TRUE(verify_with(v, headers, "payload", 1700000000).ok());

  auto no_sign = Signer::create(opts(Scheme::kStandard, {kp.public_key}));
  ASSERT_FALSE(no_sign.ok());
  EXPECT_NE(no_sign.error().find("cannot sign"), std::string::npos);

  // whsk_ whose public half does not belong to its seed.
  std::string bad(kV1aSecret);
  bad[60] = bad[60] == 'A' ? 'B' : 'A';
  auto mismatch = Verifier::create(opts(Scheme::kStandard, {bad}));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().find("not the public key"), std::string::npos) << mismatch.error();
}

TEST(signing_secrets, GeneratedSecretsAreValidAndDistinct) {
  std::string a = generate_secret(), b = generate_secret();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("whsec_"));
  EXPECT_EQ(a.size(), 6u + 44u);
  EXPECT_TRUE(Signer::create(opts(Scheme::kStandard, {a})).ok());
  EXPECT_FALSE(public_key_of(a).ok());
}

// ---- GitHub ----

TEST(signing_github, FixedVector) {
  auto s = signer(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  auto headers = s.sign({"", 0, kGithubBody});
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].name, "x-hub-signature-256");
  EXPECT_EQ(headers[0].value, kGithubExpected);
  EXPECT_EQ(headers[1].name, "x-hub-signature");
  EXPECT_TRUE(headers[1].value.starts_with("sha1="));

  auto v = verifier(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  EXPECT_TRUE(verify_with(v, {{"X-Hub-Signature-256", std::string(kGithubExpected)}}, kGithubBody, 0).ok());
  // GitHub has no timestamp: `now` is irrelevant.
  EXPECT_TRUE(
      verify_with(v, {{"X-Hub-Signature-256", std::string(kGithubExpected)}}, kGithubBody, 1 << 30).ok());
  std::string upper = "sha256=" + std::string(kGithubExpected.substr(7));
  for (char& c : upper.substr(7)) c = static_cast<char>(toupper(c));
  EXPECT_TRUE(verify_with(v, {{"x-hub-signature-256", upper}}, kGithubBody, 0).ok());
}

TEST(signing_github, ReusedKeyStartsEveryMacAfresh) {
  // HMAC contexts are pooled per key: each MAC must start from the key alone, whatever the last one hashed,
  // and a failed verification must leave nothing behind either.
  auto s = signer(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  auto v = verifier(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.sign({"", 0, kGithubBody})[0].value, kGithubExpected);
    EXPECT_NE(s.sign({"", 0, std::string(kGithubBody) + "!"})[0].value, kGithubExpected);
    EXPECT_FALSE(
        verify_with(v, {{"x-hub-signature-256", std::string(kGithubExpected)}}, "Hello, World?", 0).ok());
    EXPECT_TRUE(verify_with(v, {{"x-hub-signature-256", std::string(kGithubExpected)}}, kGithubBody, 0).ok());
  }
}

TEST(signing_github, Negative) {
  auto v = verifier(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  EXPECT_EQ(
      verify_with(v, {{"x-hub-signature-256", std::string(kGithubExpected)}}, "Hello, World?", 0).reason,
      Failure::kNoMatchingSignature);
  EXPECT_EQ(verify_with(v, {}, kGithubBody, 0).reason, Failure::kMissingHeader);
  EXPECT_EQ(verify_with(v, {{"x-hub-signature-256", std::string(kGithubExpected.substr(7))}}, kGithubBody, 0)
                .reason,
            Failure::kMalformedHeader);
  auto wrong = verifier(opts(Scheme::kGithub, {"It's a Secret to Everybody!"}));
  EXPECT_EQ(
      verify_with(wrong, {{"x-hub-signature-256", std::string(kGithubExpected)}}, kGithubBody, 0).reason,
      Failure::kNoMatchingSignature);
}

TEST(signing_github, LegacySha1) {
  auto s = signer(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  auto sha1 = s.sign({"", 0, kGithubBody})[1];
  auto v = verifier(opts(Scheme::kGithub, {std::string(kGithubSecret)}));
  EXPECT_TRUE(verify_with(v, {sha1}, kGithubBody, 0).ok());
  Options strict = opts(Scheme::kGithub, {std::string(kGithubSecret)});
  strict.github_allow_sha1 = false;
  EXPECT_EQ(verify_with(verifier(strict), {sha1}, kGithubBody, 0).reason, Failure::kMissingHeader);
}

// ---- Stripe ----

TEST(signing_stripe, SignVerifyAndSecretVerbatim) {
  std::string secret = "whsec_test_secret";  // not base64: Stripe uses the string's bytes
  auto s = signer(opts(Scheme::kStripe, {secret}));
  auto headers = s.sign({"", 1700000000, "{\"id\":\"evt_1\"}"});
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].name, "stripe-signature");
  EXPECT_TRUE(headers[0].value.starts_with("t=1700000000,v1="));
  EXPECT_EQ(headers[0].value.size(), std::string("t=1700000000,v1=").size() + 64);
  auto v = verifier(opts(Scheme::kStripe, {secret}));
  EXPECT_TRUE(verify_with(v, headers, "{\"id\":\"evt_1\"}", 1700000000).ok());
  EXPECT_EQ(verify_with(v, headers, "{\"id\":\"evt_2\"}", 1700000000).reason, Failure::kNoMatchingSignature);
  EXPECT_EQ(verify_with(v, headers, "{\"id\":\"evt_1\"}", 1700000301).reason, Failure::kTimestampTooOld);
  EXPECT_EQ(verify_with(v, headers, "{\"id\":\"evt_1\"}", 1699999699).reason, Failure::kTimestampTooNew);
}

TEST(signing_stripe, SeveralV1AndV0Ignored) {
  auto v = verifier(opts(Scheme::kStripe, {"whsec_abc"}));
  auto good = signer(opts(Scheme::kStripe, {"whsec_abc"})).sign({"", 1700000000, "x"})[0].value;
  std::string sig = good.substr(good.find("v1=") + 3);
  std::string header = "t=1700000000,v0=" + sig + ",v1=" + std::string(64, '0') + ",v1=" + sig;
  EXPECT_TRUE(verify_with(v, {{"Stripe-Signature", header}}, "x", 1700000000).ok());
  EXPECT_EQ(verify_with(v, {{"Stripe-Signature", "t=1700000000,v0=" + sig}}, "x", 1700000000).reason,
            Failure::kMalformedHeader);
  for (const std::string& bad : std::vector<std::string>{"", "v1=" + sig, "t=abc,v1=" + sig,
                                                         "t=1,t=1700000000,v1=" + sig, "garbage"}) {
    auto r = verify_with(v, {{"stripe-signature", bad}}, "x", 1700000000);
    EXPECT_TRUE(r.reason == Failure::kMalformedHeader || r.reason == Failure::kMissingHeader) << bad;
  }
  // Rotation on the signing side: one v1 per secret.
  auto two = signer(opts(Scheme::kStripe, {"whsec_old", "whsec_abc"})).sign({"", 1700000000, "x"})[0].value;
  EXPECT_TRUE(verify_with(v, {{"stripe-signature", two}}, "x", 1700000000).ok());
  EXPECT_FALSE(Verifier::create(opts(Scheme::kStripe, {"whsec_abc\n"})).ok());
}

// ---- Shopify ----

TEST(signing_shopify, SignVerify) {
  auto s = signer(opts(Scheme::kShopify, {"shpss_secret"}));
  auto h = s.sign({"", 0, "{\"order\":1}"});
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].name, "x-shopify-hmac-sha256");
  EXPECT_EQ(h[0].value.size(), 44u);
  auto v = verifier(opts(Scheme::kShopify, {"shpss_secret"}));
  EXPECT_TRUE(verify_with(v, h, "{\"order\":1}", 0).ok());
  EXPECT_EQ(verify_with(v, h, "{\"order\":2}", 0).reason, Failure::kNoMatchingSignature);
  EXPECT_EQ(verify_with(v, {{"x-shopify-hmac-sha256", "abc"}}, "", 0).reason, Failure::kMalformedHeader);
  EXPECT_EQ(verify_with(v, {}, "", 0).reason, Failure::kMissingHeader);
}

// ---- Generic HMAC ----

TEST(signing_generic, DefaultIsTimestampDotBodyHex) {
  Options o = opts(Scheme::kGenericHmac, {"s3cret"});
  auto h = signer(o).sign({"", 1700000000, "body"});
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].name, "x-webhook-signature");
  EXPECT_EQ(h[0].value.size(), 64u);
  EXPECT_EQ(h[1].name, "x-webhook-timestamp");
  auto v = verifier(o);
  EXPECT_TRUE(verify_with(v, h, "body", 1700000000).ok());
  EXPECT_EQ(verify_with(v, h, "body", 1700000301).reason, Failure::kTimestampTooOld);
  EXPECT_EQ(verify_with(v, {h[0]}, "body", 1700000000).reason, Failure::kMissingHeader);
}

TEST(signing_generic, AllKnobs) {
  Options o = opts(Scheme::kGenericHmac, {"c2VjcmV0LWJ5dGVzLWhlcmU="});  // base64("secret-bytes-here")
  o.generic.signature_header = "X-Sig";
  o.generic.timestamp_header = "X-Ts";
  o.generic.id_header = "X-Id";
  o.generic.prefix = "sha512=";
  o.generic.content_template = "v0:{id}:{timestamp}:{body}";
  o.generic.encoding = Encoding::kBase64;
  o.generic.secret_is_base64 = true;
  o.generic.digest = Digest::kSha512;
  auto h = signer(o).sign({"evt_1", 1700000000, "payload"});
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].name, "x-sig");
  EXPECT_TRUE(h[0].value.starts_with("sha512="));
  EXPECT_EQ(h[0].value.size(), 7u + 88u);
  auto v = verifier(o);
  EXPECT_TRUE(verify_with(v, h, "payload", 1700000000).ok());
  h[2].value = "evt_2";
  EXPECT_EQ(verify_with(v, h, "payload", 1700000000).reason, Failure::kNoMatchingSignature);
  // The same secret used raw gives a different key.
  Options raw = o;
  raw.generic.secret_is_base64 = false;
  h[2].value = "evt_1";
  EXPECT_EQ(verify_with(verifier(raw), h, "payload", 1700000000).reason, Failure::kNoMatchingSignature);
  h[0].value = h[0].value.substr(7);
  EXPECT_EQ(verify_with(v, h, "payload", 1700000000).reason, Failure::kMalformedHeader);
}

TEST(signing_generic, BodyOnlyTemplateNeedsNoTimestamp) {
  Options o = opts(Scheme::kGenericHmac, {"k"});
  o.generic.content_template = "{body}";
  auto h = signer(o).sign({"", 0, "b"});
  ASSERT_EQ(h.size(), 1u);
  EXPECT_TRUE(verify_with(verifier(o), h, "b", 123456).ok());
}

TEST(signing_generic, ConfigurationErrors) {
  auto err = [](auto mutate) {
    Options o = opts(Scheme::kGenericHmac, {"k"});
    mutate(o);
    auto v = Verifier::create(o);
    return v.ok() ? std::string() : v.error();
  };
  EXPECT_NE(err([](Options& o) { o.generic.content_template = "{timestamp}"; }).find("{body}"),
            std::string::npos);
  EXPECT_NE(err([](Options& o) { o.generic.content_template = "{nope}.{body}"; }).find("unknown placeholder"),
            std::string::npos);
  EXPECT_NE(err([](Options& o) { o.generic.content_template = "{body"; }).find("closing"), std::string::npos);
  EXPECT_NE(err([](Options& o) { o.generic.content_template = "{id}.{body}"; }).find("id header"),
            std::string::npos);
  EXPECT_NE(err([](Options& o) {
              o.generic.secret_is_base64 = true;
              o.secrets = {"%%"};
            }).find("base64"),
            std::string::npos);
  EXPECT_NE(err([](Options& o) { o.secrets = {" k"}; }).find("whitespace"), std::string::npos);
}

// ---- Static token ----

TEST(signing_static_token, ComparesTokens) {
  Options o = opts(Scheme::kStaticToken, {"tok_old", "tok_new"});
  o.token_header = "X-Token";
  auto h = signer(o).sign({"", 0, ""});
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].name, "x-token");
  EXPECT_EQ(h[0].value, "tok_old");
  auto v = verifier(o);
  auto r = verify_with(v, {{"x-token", "tok_new"}}, "", 0);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.key_index, 1);
  EXPECT_EQ(verify_with(v, {{"x-token", "tok_ne"}}, "", 0).reason, Failure::kNoMatchingSignature);
  EXPECT_EQ(verify_with(v, {}, "", 0).reason, Failure::kMissingHeader);
}

// ---- Robustness ----

TEST(signing_robustness, ThrowingLookupFailsClosed) {
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  HeaderLookup boom = [](std::string_view) -> std::optional<std::string_view> {
    throw std::runtime_error("lookup exploded");
  };
  VerifyResult r;
  EXPECT_NO_THROW(r = v.verify(boom, kBody, kTs));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message.find("lookup exploded"), std::string::npos);
}

TEST(signing_robustness, RandomHeadersNeverVerifyNorCrash) {
  std::mt19937_64 rng(42);
  auto random_string = [&](size_t max) {
    std::string s(rng() % max, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? " ,=v1at"[rng() % 7] : rng() % 256);
    return s;
  };
  std::vector<Verifier> verifiers;
  for (Scheme s : {Scheme::kStandard, Scheme::kStripe, Scheme::kGithub, Scheme::kShopify,
                   Scheme::kGenericHmac, Scheme::kStaticToken})
    verifiers.push_back(
        verifier(opts(s, {s == Scheme::kStandard ? std::string(kV1Secret) : std::string("secret")})));
  verifiers.push_back(verifier(opts(Scheme::kStandard, {std::string(kV1aPublic)})));
  const char* names[] = {"webhook-id",          "webhook-timestamp",     "webhook-signature",
                         "svix-signature",      "stripe-signature",      "x-hub-signature-256",
                         "x-hub-signature",     "x-shopify-hmac-sha256", "x-webhook-signature",
                         "x-webhook-timestamp", "x-webhook-token"};
  for (int i = 0; i < 3000; ++i) {
    std::vector<Header> h;
    for (const char* n : names)
      if (rng() % 2) h.push_back({n, rng() % 3 == 0 ? "1614265330" : random_string(200)});
    std::string body = random_string(64);
    for (const auto& v : verifiers) EXPECT_FALSE(verify_with(v, h, body, kTs).ok());
  }
}

TEST(signing_robustness, SharedVerifierAndSignerAcrossThreads) {
  // The documented contract: one Signer/Verifier, used from several threads at once, without locks.
  auto s = signer(opts(Scheme::kStandard, {std::string(kV1Secret), std::string(kV1aSecret)}));
  auto v = verifier(opts(Scheme::kStandard, {std::string(kV1Secret)}));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string body = "body " + std::to_string(t) + " " + std::to_string(i);
        auto h = s.sign({kId, kTs, body});
        if (!verify_with(v, h, body, kTs).ok()) ++failures;
        if (verify_with(v, h, body + "x", kTs).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(signing_names, SchemesAndFailures) {
  for (Scheme s : {Scheme::kStandard, Scheme::kStripe, Scheme::kGithub, Scheme::kShopify,
                   Scheme::kGenericHmac, Scheme::kStaticToken})
    EXPECT_EQ(parse_scheme(to_string(s)), s);
  EXPECT_EQ(parse_scheme("svix"), Scheme::kStandard);
  // The names agree with the inbound verifiers'; the older spellings stay accepted.
  EXPECT_EQ(to_string(Scheme::kStandard), "standard-webhooks");
  EXPECT_EQ(to_string(Scheme::kGenericHmac), "generic-hmac");
  EXPECT_EQ(to_string(Scheme::kStaticToken), "static-token");
  EXPECT_EQ(parse_scheme("standard"), Scheme::kStandard);
  EXPECT_EQ(parse_scheme("generic"), Scheme::kGenericHmac);
  EXPECT_EQ(parse_scheme("token"), Scheme::kStaticToken);
  EXPECT_FALSE(parse_scheme("nope"));
  EXPECT_EQ(to_string(Failure::kTimestampTooOld), "timestamp_too_old");
}

}  // namespace
}  // namespace hookwire::signing
