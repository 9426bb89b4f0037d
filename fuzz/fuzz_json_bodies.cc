// The JSON body readers of the request path. The first byte picks the reader, the rest is the body:
//   0 MessageIn (parse_message_in: parse_object + the field rules + raw_member's payload text)
//   1, 2, 3 endpoint bodies of POST, PUT and PATCH (parse_endpoint_body)
//   4 SourceIn (parse_source_spec), its stored config round trip and public form
//   5 an inbound event body: "PATH\nBODY", the json:PATH extraction of its event type / dedup key
// Invariants: no crash or UB; a refusal carries a message (and a field for validation errors); a message
// accepted keeps payload text that parses to the very "payload" the reader validated (catches keys compared
// undecoded, e.g. "pay\u006coad"); accepted endpoints carry no CR/LF/NUL in custom headers and only token
// event types; a source's stored config reads back to the same config.
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/v1/body_readers.h"
#include "api/v1/json_body.h"
#include "inbound/gateway.h"
#include "inbound/source.h"

namespace json = boost::json;
using namespace hookwire;

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check_refusal(const Error& e) {
  if (e.detail.empty()) broken("a refusal without a message");
  if (e.code == Errc::kValidation && e.field.empty()) broken("a validation error without a field");
}

bool has_control(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return true;
  return false;
}

void tokens_only(const std::optional<std::vector<std::string>>& v, const char* what) {
  if (!v) return;
  for (const auto& s : *v)
    if (!api::v1::is_token(s)) broken(what);
}

void message(std::string_view body) {
  auto m = api::v1::parse_message_in(body);
  if (!m) return check_refusal(m.error());
  boost::system::error_code ec;
  const json::value whole = json::parse(body, ec);
  if (ec || !whole.is_object()) broken("a message accepted from a body that is not a JSON object");
  const json::value* payload = whole.as_object().if_contains("payload");
  if (!payload || !payload->is_object()) broken("a message accepted without an object payload");
  const json::value kept = json::parse(m->payload, ec);
  if (ec) broken("the kept payload text is not JSON");
  if (kept != *payload) broken("the kept payload text is not the payload that was validated");
  if (!api::v1::is_token(m->event_type)) broken("an event type that is not a token");
  if (m->event_id && !api::v1::is_token(*m->event_id)) broken("an eventId that is not a token");
  tokens_only(m->channels, "a channel that is not a token");
}

void endpoint(std::string_view body, api::v1::EndpointBody shape) {
  auto ep = api::v1::parse_endpoint_body(body, shape);
  if (!ep) return check_refusal(ep.error());
  if (shape != api::v1::EndpointBody::kPatch && ep->url.empty()) broken("an endpoint without a URL");
  for (const auto& [name, value] : ep->headers)
    if (name.empty() || has_control(name) || has_control(value)) broken("a custom header with CR, LF or NUL");
  tokens_only(ep->event_types, "an endpoint event type that is not a token");
  tokens_only(ep->channels, "an endpoint channel that is not a token");
  boost::system::error_code ec;
  if (!json::parse(ep->metadata, ec).is_object() || ec) broken("metadata that is not a JSON object");
  if (shape == api::v1::EndpointBody::kIn) {
    if (ep->secrets.empty()) broken("a new endpoint without a secret");
    for (const auto& s : ep->secrets)
      if (!s.key.starts_with("whsec_") && !s.key.starts_with("whsk_")) broken("a secret without its prefix");
  }
}

void source(std::string_view body) {
  constexpr size_t kLimit = 1 << 20;
  auto obj = api::v1::parse_object(body);
  if (!obj) return check_refusal(obj.error());
  auto spec = inbound::parse_source_spec(*obj, kLimit);
  if (!spec) return check_refusal(spec.error());
  if (spec->body_limit > kLimit) broken("a source body limit above the server's");
  const std::string config = inbound::config_json(*spec);
  auto back = inbound::spec_from_config(config);
  if (!back) broken("the stored config of an accepted source does not read back");
  if (inbound::config_json(*back) != config) broken("the stored config changes on a round trip");
  (void)json::serialize(inbound::public_json(*spec));
}

void inbound_event(std::string_view input) {
  const size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return;
  auto what = inbound::Extract::parse("json:" + std::string(input.substr(0, nl)));
  if (!what) {  // the caller names the field: only the message is checked
    if (what.error().detail.empty()) broken("a refusal without a message");
    return;
  }
  boost::system::error_code ec;
  const json::value body = json::parse(input.substr(nl + 1), ec);
  if (ec) return;
  signing::HeaderLookup no_headers = [](std::string_view) { return std::optional<std::string_view>(); };
  (void)inbound::extract(*what, no_headers, &body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      message(body);
      break;
    case 1:
      endpoint(body, api::v1::EndpointBody::kIn);
      break;
    case 2:
      endpoint(body, api::v1::EndpointBody::kUpdate);
      break;
    case 3:
      endpoint(body, api::v1::EndpointBody::kPatch);
      break;
    case 4:
      source(body);
      break;
    default:
      inbound_event(body);
      break;
  }
  return 0;
}
