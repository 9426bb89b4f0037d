// GitHub (sha256=/sha1=), Shopify (base64), generic HMAC (prefix, hex/base64, template with {id} and
// {timestamp}) and static-token headers through their verifiers. Never crashes, never accepts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "hookwire/signing.h"
#include "signing/parse.h"

using namespace hookwire::signing;

namespace {
std::vector<Verifier> make() {
  std::vector<Verifier> out;
  auto add = [&](Options o) { out.push_back(Verifier::create(o).value()); };
  Options github;
  github.scheme = Scheme::kGithub;
  github.secrets = {"It's a Secret to Everybody"};
  add(github);
  Options shopify;
  shopify.scheme = Scheme::kShopify;
  shopify.secrets = {"shpss_secret"};
  add(shopify);
  Options hex;
  hex.scheme = Scheme::kGenericHmac;
  hex.secrets = {"s3cret"};
  hex.generic.prefix = "sha256=";
  add(hex);
  Options b64 = hex;
  b64.generic.encoding = Encoding::kBase64;
  b64.generic.digest = Digest::kSha512;
  b64.generic.id_header = "x-webhook-id";
  b64.generic.content_template = "{id}.{timestamp}.{body}";
  add(b64);
  Options token;
  token.scheme = Scheme::kStaticToken;
  token.secrets = {"tok_secret"};
  add(token);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Verifier> verifiers = make();
  FuzzedDataProvider fdp(data, size);
  std::string_view prefix = fdp.PickValueInArray({"", "sha256=", "sha1="});
  (void)strip_prefix(fdp.ConsumeRandomLengthString(32), prefix);
  std::vector<Header> headers;
  for (const char* name : {"x-hub-signature-256", "x-hub-signature", "x-shopify-hmac-sha256",
                           "x-webhook-signature", "x-webhook-timestamp", "x-webhook-id", "x-webhook-token"})
    if (fdp.ConsumeBool()) headers.push_back({name, fdp.ConsumeRandomLengthString(256)});
  std::string body = fdp.ConsumeRemainingBytesAsString();
  for (const Verifier& v : verifiers)
    if (v.verify(lookup_in(headers), body, 1700000000).ok()) std::abort();
  return 0;
}
