// The provider's own headers on a forwarded inbound event: a message received at /in/{source} keeps some of
// its request's headers (Message::headers: Stripe-Signature, X-GitHub-Event, ...;
// inbound::kept_header_names), and its deliveries carry them, so that a service that already verifies the
// provider's signature works unchanged behind hookwire (the body is forwarded byte for byte). hookwire's own
// headers win: its signature (webhook-* / svix-*), x-hookwire-*, and what the HTTP client sets; so do the
// endpoint's custom headers.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "delivery/http_client.h"

namespace hookwire::delivery {

// Appends to `out` the headers of `kept` (JSON object text of lowercase names to strings, as the store keeps
// Message::headers) that may be forwarded: none of hookwire's own, none of `endpoint_headers`' names
// (compared case-insensitively). Text that is not such an object adds nothing.
void append_provider_headers(std::string_view kept,
                             const std::map<std::string, std::string>& endpoint_headers, Headers& out);

}  // namespace hookwire::delivery
