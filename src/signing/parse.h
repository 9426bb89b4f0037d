// Parsers for the signature headers. Pure, allocation-free (results are views into the input), total: any
// byte string is either parsed or refused, never a crash. Each is a libFuzzer target (fuzz/). Internal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hookwire::signing {

// A strict Unix timestamp in seconds: 1 to 12 ASCII digits, nothing else (no sign, no spaces, no fraction).
// 12 digits reach the year 33658, and keep every difference with `now` far from int64 overflow.
std::optional<int64_t> parse_unix_seconds(std::string_view text);

struct SignatureEntry {
  std::string_view version;  // "v1", "v1a", or anything (callers ignore unknown versions)
  std::string_view value;    // what follows the first comma, unparsed
};

// Standard Webhooks `webhook-signature`: space-separated "version,signature" entries. Tokens without a comma
// are skipped. Only the first kMax entries are kept (a hostile header cannot make verification expensive).
struct StandardSignatures {
  static constexpr size_t kMax = 16;
  std::array<SignatureEntry, kMax> entries{};
  size_t count = 0;
};
StandardSignatures parse_standard_signatures(std::string_view header);

// Stripe `Stripe-Signature`: comma-separated key=value items; "t" the timestamp, "v1" signatures (kMax kept),
// other keys (v0, future schemes) ignored. nullopt when there is no valid t, t is repeated, or there is no
// v1.
struct StripeHeader {
  static constexpr size_t kMax = 16;
  int64_t timestamp = 0;
  std::array<std::string_view, kMax> v1{};
  size_t v1_count = 0;
};
std::optional<StripeHeader> parse_stripe_header(std::string_view header);

// `prefix` + payload (GitHub "sha256=<hex>", generic "sha256=..."); nullopt when the prefix is missing.
std::optional<std::string_view> strip_prefix(std::string_view value, std::string_view prefix);

// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace hookwire::signing
