// The text rules names and header fields follow, in one place: every module that checks an identifier, an
// event type or an HTTP field before it is stored or sent asks here.
#pragma once

#include <cstddef>
#include <string_view>

namespace hookwire {

inline constexpr size_t kMaxTokenLength = 256;

// Svix's identifier rule for uids, event type names, eventIds, channels: ^[a-zA-Z0-9\-_.]+$, 1 to 256 bytes.
bool is_token(std::string_view s);

// An event type a provider names for an inbound request: a token, or tokens joined by single '/'
// (Shopify's topics: "orders/create"); at most 256 bytes. Safe in a header value and a log line.
bool is_inbound_event_type(std::string_view s);

// RFC 9110 field-name: one or more tchar (letters, digits, !#$%&'*+-.^_`|~).
bool is_field_name(std::string_view s);

// RFC 9110 field-value as a sender may write it: visible ASCII, obs-text (bytes 0x80-0xFF), spaces and tabs,
// and no other byte (no CR, LF, NUL or other control character). Empty is valid.
bool is_field_value(std::string_view s);

// A header whose value is a secret (Authorization, Proxy-Authorization, Cookie, X-Api-Key; names compared
// case-insensitively): the API lists an endpoint's such headers by name only, and an attempt's recorded
// request headers show `[redacted]` for their values.
bool is_sensitive_header(std::string_view name);
inline constexpr std::string_view kRedacted = "[redacted]";

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). What JSON text
// must be: a value that is not can be neither stored nor served as JSON.
bool is_utf8(std::string_view s);

}  // namespace hookwire
