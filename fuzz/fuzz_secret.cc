// Secret and key parsing: whsec_ / whsk_ / whpk_ / bare base64, and raw secrets for the other schemes.
// Malformed input must be refused with a message, never crash; accepted secrets must sign and verify.
#include <cstdlib>

#include "hookwire/signing.h"

using namespace hookwire::signing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string secret(reinterpret_cast<const char*>(data), size);
  for (Scheme scheme : {Scheme::kStandard, Scheme::kStripe, Scheme::kGenericHmac}) {
    Options o;
    o.scheme = scheme;
    o.secrets = {secret};
    o.generic.secret_is_base64 = true;
    auto v = Verifier::create(o);
    if (!v.ok()) {
      if (v.error().empty()) std::abort();
      continue;
    }
    auto s = Signer::create(o);
    if (!s.ok()) continue;  // e.g. a whpk_ key verifies but cannot sign
    auto headers = s->sign({"msg_1", 1700000000, "body"});
    if (!v->verify(lookup_in(headers), "body", 1700000000).ok()) std::abort();
  }
  auto pub = public_key_of(secret);
  if (!pub.ok() && pub.error().empty()) std::abort();
  return 0;
}
