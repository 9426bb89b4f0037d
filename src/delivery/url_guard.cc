#include "delivery/url_guard.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cassert>
#include <charconv>
#include <optional>

namespace hookwire::delivery {

namespace ip = boost::asio::ip;

namespace {

struct Range {
  Cidr cidr;
  const char* name;
};

Cidr make_cidr(const char* text) {
  auto c = Cidr::parse(text);
  assert(c.ok());
  return *c;
}

// Order matters where ranges nest: the more specific (and more telling) name first.
const std::vector<Range>& v4_ranges() {
  static const std::vector<Range> ranges = {
      {make_cidr("0.0.0.0/8"), "this-network"},
      {make_cidr("10.0.0.0/8"), "private"},
      {make_cidr("100.64.0.0/10"), "CGNAT shared"},
      {make_cidr("127.0.0.0/8"), "loopback"},
      {make_cidr("169.254.169.254/32"), "cloud metadata"},
      {make_cidr("169.254.0.0/16"), "link-local"},
      {make_cidr("172.16.0.0/12"), "private"},
      {make_cidr("192.0.0.0/24"), "IETF protocol assignments"},
      {make_cidr("192.168.0.0/16"), "private"},
      {make_cidr("198.18.0.0/15"), "benchmarking"},
      {make_cidr("224.0.0.0/4"), "multicast"},
      {make_cidr("255.255.255.255/32"), "broadcast"},
      {make_cidr("240.0.0.0/4"), "reserved"},
  };
  return ranges;
}

const std::vector<Range>& v6_ranges() {
  static const std::vector<Range> ranges = {
      {make_cidr("::/128"), "unspecified"},
      {make_cidr("::1/128"), "loopback"},
      {make_cidr("fd00:ec2::254/128"), "cloud metadata"},
      {make_cidr("fc00::/7"), "unique-local"},
      {make_cidr("fe80::/10"), "link-local"},
      {make_cidr("fec0::/10"), "site-local"},
      {make_cidr("ff00::/8"), "multicast"},
      {make_cidr("100::/64"), "discard-only"},
      {make_cidr("64:ff9b:1::/48"), "local-use NAT64"},
  };
  return ranges;
}

// The IPv4 address embedded in an IPv6 address by a translation or tunnelling scheme, with its name.
std::optional<std::pair<ip::address_v4, const char*>> embedded_v4(const ip::address_v6& a) {
  const auto b = a.to_bytes();
  auto tail = [&](size_t from) {
    return ip::address_v4(ip::address_v4::bytes_type{b[from], b[from + 1], b[from + 2], b[from + 3]});
  };
  auto zeros = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i)
      if (b[i] != 0) return false;
    return true;
  };
  if (zeros(0, 10) && b[10] == 0xff && b[11] == 0xff) return std::pair{tail(12), "IPv4-mapped"};
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeros(4, 12))
    return std::pair{tail(12), "NAT64"};
  if (b[0] == 0x20 && b[1] == 0x02) return std::pair{tail(2), "6to4"};
  // Deprecated IPv4-compatible ::a.b.c.d; :: and ::1 themselves are named ranges.
  if (zeros(0, 12) && !(zeros(12, 15) && b[15] <= 1)) return std::pair{tail(12), "IPv4-compatible"};
  return std::nullopt;
}

Error invalid_url(std::string detail) { return Error::validation("url", std::move(detail)); }

}  // namespace

// ---- Cidr ----

Result<Cidr> Cidr::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error::validation("cidr", fmt::format("invalid CIDR \"{}\": {}", text, why));
  };
  const auto slash = text.find('/');
  const std::string addr_text(text.substr(0, slash));
  boost::system::error_code ec;
  const auto addr = ip::make_address(addr_text, ec);
  if (ec || addr_text.empty()) return bad("not an IPv4 or IPv6 address");
  const unsigned max_prefix = addr.is_v4() ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const auto p = text.substr(slash + 1);
    if (p.empty()) return bad("missing prefix length after '/'");
    const auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (perr != std::errc{} || end != p.data() + p.size()) return bad("prefix length is not a number");
    if (prefix > max_prefix) return bad(fmt::format("prefix length must be at most {}", max_prefix));
  }
  Cidr c;
  c.prefix = prefix;
  // Clear host bits; refuse a CIDR that had some set (a typo more often than not).
  auto clear = [&](auto bytes) {
    auto out = bytes;
    for (size_t i = 0; i < out.size(); ++i) {
      const int keep = std::clamp(static_cast<int>(prefix) - static_cast<int>(i * 8), 0, 8);
      out[i] &= static_cast<unsigned char>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
    }
    return out;
  };
  if (addr.is_v4()) {
    c.network = ip::address_v4(clear(addr.to_v4().to_bytes()));
  } else {
    auto v6 = addr.to_v6();
    if (v6.scope_id() != 0) return bad("a zone index (%...) is not allowed");
    c.network = ip::address_v6(clear(v6.to_bytes()));
  }
  if (c.network != addr) {
    return bad(fmt::format("host bits are set (did you mean {}?)", c.to_string()));
  }
  return c;
}

bool Cidr::contains(const ip::address& addr) const {
  if (addr.is_v4() != network.is_v4()) return false;
  auto match = [&](const auto& a, const auto& n) {
    for (size_t i = 0; i < a.size(); ++i) {
      const int keep = std::clamp(static_cast<int>(prefix) - static_cast<int>(i * 8), 0, 8);
      if (keep == 0) return true;
      const unsigned mask = (0xffu << (8 - keep)) & 0xffu;
      if ((a[i] & mask) != (n[i] & mask)) return false;
    }
    return true;
  };
  if (addr.is_v4()) return match(addr.to_v4().to_bytes(), network.to_v4().to_bytes());
  return match(addr.to_v6().to_bytes(), network.to_v6().to_bytes());
}

std::string Cidr::to_string() const { return fmt::format("{}/{}", network.to_string(), prefix); }

// ---- TargetUrl ----

std::string TargetUrl::origin() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", tls ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

// ---- UrlGuard ----

std::string blocked_range(const ip::address& addr) {
  if (addr.is_v4()) {
    for (const auto& r : v4_ranges())
      if (r.cidr.contains(addr)) return fmt::format("{} {}", r.name, r.cidr.to_string());
    return {};
  }
  const auto v6 = ip::address_v6(addr.to_v6().to_bytes());  // without scope id
  for (const auto& r : v6_ranges())
    if (r.cidr.contains(v6)) return fmt::format("{} {}", r.name, r.cidr.to_string());
  if (auto e = embedded_v4(v6)) {
    auto inner = blocked_range(e->first);
    if (!inner.empty()) return fmt::format("{} ({})", inner, e->second);
  }
  return {};
}

Result<UrlGuard> UrlGuard::from_config(const std::vector<std::string>& allow_cidrs, bool https_only) {
  UrlGuardOptions options;
  options.https_only = https_only;
  for (const auto& text : allow_cidrs) {
    auto c = Cidr::parse(text);
    if (!c.ok()) return c.take_error();
    options.allow.push_back(*c);
  }
  return UrlGuard(std::move(options));
}

bool UrlGuard::allowed_by_list(const ip::address& addr) const {
  for (const auto& c : options_.allow)
    if (c.contains(addr)) return true;
  return false;
}

Status UrlGuard::check_address(const ip::address& addr_in) const {
  // Scope ids do not change which network an address is in.
  ip::address addr = addr_in;
  if (addr.is_v6()) addr = ip::address_v6(addr.to_v6().to_bytes());
  if (allowed_by_list(addr)) return {};
  if (addr.is_v6()) {
    if (auto e = embedded_v4(addr.to_v6()); e && allowed_by_list(e->first)) {
      // The embedded address is explicitly allowed, but only if the IPv6 form itself is not in a v6 range.
      bool v6_blocked = false;
      for (const auto& r : v6_ranges()) v6_blocked = v6_blocked || r.cidr.contains(addr);
      if (!v6_blocked) return {};
    }
  }
  auto range = blocked_range(addr);
  if (range.empty()) return {};
  return Error{
      Errc::kForbidden, fmt::format("address {} is not allowed ({})", addr_in.to_string(), range), {}};
}

Result<TargetUrl> UrlGuard::validate_url(std::string_view text) const {
  if (text.empty()) return invalid_url("URL is empty");
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return invalid_url(fmt::format("not an absolute URL: {}", parsed.error().message()));
  const boost::urls::url_view u = *parsed;
  TargetUrl t;
  const auto scheme = u.scheme_id();
  if (scheme == boost::urls::scheme::https) {
    t.tls = true;
  } else if (scheme == boost::urls::scheme::http) {
    if (options_.https_only) return invalid_url("https is required (http:// URLs are refused)");
  } else {
    return invalid_url(fmt::format("scheme must be http or https, not \"{}\"", std::string_view(u.scheme())));
  }
  if (!u.has_authority()) return invalid_url("URL has no host");
  if (u.has_userinfo()) return invalid_url("user info (user:password@) in the URL is not supported");
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      t.host = u.host_ipv4_address().to_string();
      t.host_is_ip = true;
      break;
    case boost::urls::host_type::ipv6:
      t.host = u.host_ipv6_address().to_string();
      t.host_is_ip = true;
      break;
    case boost::urls::host_type::name:
      t.host = u.host_address();
      break;
    default:
      return invalid_url("URL host is not a name or an IP address");
  }
  if (t.host.empty()) return invalid_url("URL has no host");
  for (unsigned char ch : t.host) {
    if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '\\' || ch == '%' || ch == '@')
      return invalid_url("URL host contains characters not allowed in a host name");
  }
  if (u.has_port()) {
    const std::string_view p = u.port();
    unsigned long port = 0;
    const auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (p.empty() || perr != std::errc{} || end != p.data() + p.size() || port == 0 || port > 65535)
      return invalid_url("URL port must be 1-65535");
    t.port = static_cast<uint16_t>(port);
  } else {
    t.port = t.tls ? 443 : 80;
  }
  t.target = std::string(u.encoded_path());
  if (t.target.empty()) t.target.push_back('/');
  if (t.target.front() != '/') return invalid_url("URL path must start with '/'");
  if (u.has_query()) {
    t.target += '?';
    t.target += std::string_view(u.encoded_query());
  }
  if (t.host_is_ip) {
    boost::system::error_code ec;
    const auto addr = ip::make_address(t.host, ec);
    if (!ec) {
      auto st = check_address(addr);
      if (!st.ok()) return invalid_url(st.error().detail);
    }
  }
  return t;
}

Status UrlGuard::check_configured_host(std::string_view text) const {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return {};
  const boost::urls::url_view u = *parsed;
  std::optional<ip::address> addr;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      addr = ip::address_v4(u.host_ipv4_address().to_uint());
      break;
    case boost::urls::host_type::ipv6:
      addr = ip::make_address(u.host_ipv6_address().to_string());
      break;
    case boost::urls::host_type::name: {
      // The resolver reads inet_aton's forms (decimal, octal, hex, fewer than four parts) without DNS.
      std::string host = u.host_address();
      in_addr v4{};
      if (!host.empty() && inet_aton(host.c_str(), &v4) != 0) addr = ip::address_v4(ntohl(v4.s_addr));
      // localhost and *.localhost are loopback by definition (RFC 6761), the name a newcomer types first.
      for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!host.empty() && host.back() == '.') host.pop_back();
      if (host == "localhost" || host.ends_with(".localhost")) {
        addr = ip::address_v4::loopback();
        if (auto st = check_address(*addr); !st.ok())
          return Error{Errc::kForbidden,
                       "localhost names are loopback: " + st.error().detail +
                           ": deliveries there are always refused, unless --delivery-allow-cidr allows it",
                       "url"};
      }
      break;
    }
    default:
      break;
  }
  if (!addr) return {};
  auto st = check_address(*addr);
  if (!st.ok())
    return Error{
        Errc::kForbidden,
        st.error().detail + ": deliveries there are always refused, unless --delivery-allow-cidr allows it",
        "url"};
  return {};
}

}  // namespace hookwire::delivery
