// UrlGuard: the SSRF guard for outbound deliveries.
//
// Two checks, both needed:
//  - check_configured_host() when an endpoint URL is configured: an IP host the guard refuses (or localhost,
//    *.localhost: loopback by definition) is refused then, not only at each delivery.
//  - validate_url() before each delivery: scheme http or https,
//    a host, no user info, the https-only rule; an IP-literal host is checked as an address right away.
//  - check_address() on every address the host name resolves to, at connect time (HttpClient does this), so
//    a name that resolves to a private address — or is re-pointed there later (DNS rebinding) — is refused.
// Refused by default: loopback, unspecified, private (RFC 1918, ULA), link-local (incl. the cloud metadata
// address 169.254.169.254 and fd00:ec2::254), CGNAT, multicast, reserved/broadcast, benchmarking, IETF
// protocol assignments; IPv6 forms that embed an IPv4 address (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96,
// 6to4 2002::/16, deprecated compatible ::/96) are judged by the embedded IPv4 address. An explicit allow
// list of CIDRs (e.g. 127.0.0.0/8 in tests, or a customer's internal range) overrides the refusal.
//
// Immutable after construction: thread-safe for concurrent use.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hookwire::delivery {

// An IPv4 or IPv6 network in CIDR notation ("10.0.0.0/8", "fd00::/8"; a bare address means /32 or /128).
struct Cidr {
  boost::asio::ip::address network;  // host bits cleared
  unsigned prefix = 0;

  // Errors (Errc::kValidation, field "cidr") name the offending text and say what is wrong.
  static Result<Cidr> parse(std::string_view text);
  // An IPv4 network never contains an IPv6 address and vice versa (callers unwrap ::ffff:a.b.c.d first).
  bool contains(const boost::asio::ip::address& addr) const;
  std::string to_string() const;
};

struct UrlGuardOptions {
  std::vector<Cidr> allow;  // addresses inside any of these are allowed even if in a refused range
  bool https_only = false;  // refuse http:// URLs
};

// The parts of a validated URL that a client needs.
struct TargetUrl {
  bool tls = false;    // https
  std::string host;    // without brackets for IPv6 literals; percent-decoded
  uint16_t port = 0;   // explicit or the scheme's default
  std::string target;  // origin-form request target: path (at least "/") plus "?query"; no fragment
  bool host_is_ip = false;
  std::string origin() const;  // "https://host:port" (IPv6 in brackets): the keep-alive pool key
};

class UrlGuard {
 public:
  UrlGuard() = default;  // the default policy: refuse everything listed above, allow http and https
  explicit UrlGuard(UrlGuardOptions options) : options_(std::move(options)) {}

  // Builds the options from configuration strings; the error names the bad CIDR.
  static Result<UrlGuard> from_config(const std::vector<std::string>& allow_cidrs, bool https_only);

  // Errors: Errc::kValidation, field "url", detail says why ("scheme must be http or https", "https is
  // required", "URL has no host", or the blocked-address message for an IP literal).
  Result<TargetUrl> validate_url(std::string_view url) const;

  // The check made when a URL is configured (an endpoint, a source destination), without DNS: if the host is
  // an IP address — a literal, or a numeric form the resolver reads as one ("127.1", "2130706433",
  // "0x7f000001") — that check_address refuses, that refusal (Errc::kForbidden, field "url"): it is
  // permanent until the allow list changes. Anything else is OK here: a host name is checked at each
  // delivery (validate_url and the resolved addresses), and the URL's shape is the caller's to validate.
  Status check_configured_host(std::string_view url) const;

  // OK if the address may be connected to. Error: Errc::kForbidden, detail names the address and the range
  // ("address 10.1.2.3 is not allowed (private 10.0.0.0/8)").
  Status check_address(const boost::asio::ip::address& addr) const;

  const UrlGuardOptions& options() const { return options_; }

 private:
  bool allowed_by_list(const boost::asio::ip::address& addr) const;

  UrlGuardOptions options_;
};

// The refused range containing `addr` ("loopback 127.0.0.0/8"), or empty if it is a public address. Ignores
// the allow list. For IPv6 forms embedding IPv4, the embedded address's range (e.g. "loopback 127.0.0.0/8
// (IPv4-mapped)").
std::string blocked_range(const boost::asio::ip::address& addr);

}  // namespace hookwire::delivery
