// Stripe-Signature: the t=/v1= parser and the Stripe verification path. Never crashes, never accepts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "hookwire/signing.h"
#include "signing/parse.h"

using namespace hookwire::signing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  if (auto h = parse_stripe_header(whole)) {
    if (h->v1_count == 0 || h->v1_count > StripeHeader::kMax || h->timestamp < 0) std::abort();
  }
  static const Verifier v = [] {
    Options o;
    o.scheme = Scheme::kStripe;
    o.secrets = {"whsec_test_secret", "whsec_second"};
    return Verifier::create(o).value();
  }();
  FuzzedDataProvider fdp(data, size);
  std::vector<Header> headers = {{"stripe-signature", fdp.ConsumeRandomLengthString(512)}};
  std::string body = fdp.ConsumeRemainingBytesAsString();
  if (v.verify(lookup_in(headers), body, 1700000000).ok()) std::abort();
  return 0;
}
