// Standard Webhooks / Svix headers: the `webhook-signature` entry parser, the timestamp parser, and the whole
// Standard verification path (v1 and v1a keys) on fuzzer-chosen headers and body. Must never crash; must
// never accept (the fuzzer cannot forge HMAC-SHA256 or Ed25519).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "hookwire/signing.h"
#include "signing/parse.h"

using namespace hookwire::signing;

namespace {
const Verifier& verifier(bool asymmetric) {
  static const Verifier v1 = [] {
    Options o;
    o.secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    return Verifier::create(o).value();
  }();
  static const Verifier v1a = [] {
    Options o;
    o.secrets = {"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="};
    return Verifier::create(o).value();
  }();
  return asymmetric ? v1a : v1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  auto entries = parse_standard_signatures(whole);
  if (entries.count > StandardSignatures::kMax) std::abort();
  for (size_t i = 0; i < entries.count; ++i) {
    // Views must lie inside the input.
    const auto& e = entries.entries[i];
    if (e.version.data() < whole.data() || e.value.data() + e.value.size() > whole.data() + whole.size())
      std::abort();
  }
  (void)parse_unix_seconds(whole);

  FuzzedDataProvider fdp(data, size);
  bool asymmetric = fdp.ConsumeBool();
  bool svix = fdp.ConsumeBool();
  std::vector<Header> headers = {
      {svix ? "svix-id" : "webhook-id", fdp.ConsumeRandomLengthString(64)},
      {svix ? "svix-timestamp" : "webhook-timestamp", fdp.ConsumeRandomLengthString(16)},
      {svix ? "svix-signature" : "webhook-signature", fdp.ConsumeRandomLengthString(512)},
  };
  std::string body = fdp.ConsumeRemainingBytesAsString();
  VerifyResult r = verifier(asymmetric).verify(lookup_in(headers), body, 1614265330);
  if (r.ok()) std::abort();
  return 0;
}
