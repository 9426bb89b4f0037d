// Sign and verify per scheme at 1 KiB and 64 KiB, with raw HMAC-SHA256 as the baseline in the same run.
// Target: Standard v1 verify of 1 KiB within 1.5x of raw HMAC-SHA256 of 1 KiB.
//   build-*/bench/signing/bench_signing --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <hookwire/signing.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

namespace sg = hookwire::signing;

namespace {

constexpr int64_t kTs = 1700000000;
const std::string kKey(24, 'k');

std::string body_of(size_t n) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + i % 26);
  return b;
}

// Baseline 1: OpenSSL's one-shot HMAC() (fetches the digest and keys the context on every call).
void BM_RawHmacSha256_OneShot(benchmark::State& state) {
  std::string body = body_of(state.range(0));
  unsigned char out[32];
  unsigned int len = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// Baseline 2: the fastest raw HMAC we know with EVP: a pre-keyed EVP_MAC_CTX duplicated per message.
void BM_RawHmacSha256_PreKeyed(benchmark::State& state) {
  std::string body = body_of(state.range(0));
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* tmpl = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC_init(tmpl, reinterpret_cast<const unsigned char*>(kKey.data()), kKey.size(), params);
  unsigned char out[32];
  size_t len = 0;
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(tmpl);
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size());
    EVP_MAC_final(ctx, out, &len, sizeof out);
    EVP_MAC_CTX_free(ctx);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(tmpl);
  EVP_MAC_free(mac);
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

sg::Options options_for(sg::Scheme scheme, bool asymmetric) {
  sg::Options o;
  o.scheme = scheme;
  if (scheme == sg::Scheme::kStandard) {
    o.secrets = {
        asymmetric
            ? "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
            : "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
  } else {
    o.secrets = {kKey};
  }
  return o;
}

void BM_Sign(benchmark::State& state, sg::Scheme scheme, bool asymmetric) {
  std::string body = body_of(state.range(0));
  sg::Signer signer = sg::Signer::create(options_for(scheme, asymmetric)).value();
  for (auto _ : state) {
    auto headers = signer.sign({"msg_p5jXN8AQM9LWM0D4loKWxJek", kTs, body});
    benchmark::DoNotOptimize(headers);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Verify(benchmark::State& state, sg::Scheme scheme, bool asymmetric) {
  std::string body = body_of(state.range(0));
  sg::Options o = options_for(scheme, asymmetric);
  std::vector<sg::Header> headers =
      sg::Signer::create(o).value().sign({"msg_p5jXN8AQM9LWM0D4loKWxJek", kTs, body});
  sg::Verifier verifier = sg::Verifier::create(o).value();
  for (auto _ : state) {
    sg::VerifyResult r = verifier.verify(sg::lookup_in(headers), body, kTs);  // lookup built per request
    if (!r.ok()) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK(BM_RawHmacSha256_OneShot)->Arg(1024)->Arg(64 << 10);
BENCHMARK(BM_RawHmacSha256_PreKeyed)->Arg(1024)->Arg(64 << 10);
#define HOOKWIRE_SCHEME_BENCH(name, scheme, asym)                           \
  BENCHMARK_CAPTURE(BM_Sign, name, scheme, asym)->Arg(1024)->Arg(64 << 10); \
  BENCHMARK_CAPTURE(BM_Verify, name, scheme, asym)->Arg(1024)->Arg(64 << 10)
HOOKWIRE_SCHEME_BENCH(standard_v1, sg::Scheme::kStandard, false);
HOOKWIRE_SCHEME_BENCH(standard_v1a, sg::Scheme::kStandard, true);
HOOKWIRE_SCHEME_BENCH(stripe, sg::Scheme::kStripe, false);
HOOKWIRE_SCHEME_BENCH(github, sg::Scheme::kGithub, false);
HOOKWIRE_SCHEME_BENCH(shopify, sg::Scheme::kShopify, false);
HOOKWIRE_SCHEME_BENCH(generic, sg::Scheme::kGenericHmac, false);
HOOKWIRE_SCHEME_BENCH(token, sg::Scheme::kStaticToken, false);

BENCHMARK_MAIN();
