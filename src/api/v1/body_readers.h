// The body readers of the message and endpoint handlers as pure functions of the body text: everything a
// handler validates before it touches the store. For fuzz/fuzz_json_bodies.cc and tests.
#pragma once

#include <string_view>

#include "core/result.h"
#include "store/model.h"

namespace hookwire::api::v1 {

// POST /app/{app}/msg (MessageIn): the message as the handler would store it (no id, application or time
// yet), or the error it answers with. The payload is the body's own text of the "payload" member.
Result<store::Message> parse_message_in(std::string_view body);

// POST (kIn), PUT (kUpdate) and PATCH (kPatch) /app/{app}/endpoint[/{ep}]: the endpoint the body makes (kIn:
// a new endpoint of application "app_fuzz"; otherwise the body applied to a default Endpoint), or the error.
// URLs are checked against the default SSRF policy (no --delivery-allow-cidr).
enum class EndpointBody { kIn, kUpdate, kPatch };
Result<store::Endpoint> parse_endpoint_body(std::string_view body, EndpointBody shape);

}  // namespace hookwire::api::v1
