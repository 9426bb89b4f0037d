#include "delivery/url_guard.h"

#include <gtest/gtest.h>

namespace hookwire::delivery {
namespace {

namespace ip = boost::asio::ip;

ip::address addr(const char* s) { return ip::make_address(s); }

TEST(CidrTest, ParsesV4AndV6) {
  auto a = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(a.ok()) << a.error().detail;
  EXPECT_EQ(a->prefix, 8u);
  EXPECT_EQ(a->to_string(), "10.0.0.0/8");
  EXPECT_TRUE(a->contains(addr("10.255.1.2")));
  EXPECT_FALSE(a->contains(addr("11.0.0.1")));
  EXPECT_FALSE(a->contains(addr("::ffff:10.0.0.1")));  // families never mix

  auto b = Cidr::parse("fd00::/8");
  ASSERT_TRUE(b.ok()) << b.error().detail;
  EXPECT_TRUE(b->contains(addr("fd12:3456::1")));
  EXPECT_FALSE(b->contains(addr("fe80::1")));
  EXPECT_FALSE(b->contains(addr("10.0.0.1")));

  auto odd = Cidr::parse("100.64.0.0/10");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->contains(addr("100.127.255.255")));
  EXPECT_FALSE(odd->contains(addr("100.128.0.0")));

  auto host = Cidr::parse("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix, 32u);
  EXPECT_TRUE(host->contains(addr("192.0.2.7")));
  EXPECT_FALSE(host->contains(addr("192.0.2.8")));

  auto all = Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->contains(addr("8.8.8.8")));
  auto host6 = Cidr::parse("::1");
  ASSERT_TRUE(host6.ok());
  EXPECT_EQ(host6->prefix, 128u);
}

TEST(CidrTest, RejectsBadInputWithClearMessages) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"", "not an IPv4 or IPv6 address"},
      {"/8", "not an IPv4 or IPv6 address"},
      {"10.0.0/8", "not an IPv4 or IPv6 address"},
      {"example.com/8", "not an IPv4 or IPv6 address"},
      {"10.0.0.0/", "missing prefix length"},
      {"10.0.0.0/x", "not a number"},
      {"10.0.0.0/8x", "not a number"},
      {"10.0.0.0/-1", "not a number"},
      {"10.0.0.0/33", "at most 32"},
      {"fd00::/129", "at most 128"},
      {"10.1.2.3/8", "did you mean 10.0.0.0/8"},
      {"fd00::1/8", "did you mean fd00::/8"},
  };
  for (const auto& c : cases) {
    auto r = Cidr::parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, Errc::kValidation);
    EXPECT_EQ(r.error().field, "cidr");
    EXPECT_NE(r.error().detail.find(c.says), std::string::npos) << c.text << ": " << r.error().detail;
    EXPECT_NE(r.error().detail.find(std::string("\"") + c.text + "\""), std::string::npos)
        << r.error().detail;
  }
}

TEST(UrlGuardTest, RefusesEveryListedRangeByDefault) {
  const UrlGuard guard;
  const char* refused[] = {
      "0.0.0.0",
      "0.1.2.3",
      "10.0.0.1",
      "10.255.255.255",
      "100.64.0.1",
      "100.127.255.254",
      "100.100.100.200",
      "127.0.0.1",
      "127.255.0.1",
      "169.254.0.1",
      "169.254.169.254",
      "172.16.0.1",
      "172.31.255.255",
      "192.0.0.8",
      "192.168.1.1",
      "198.18.0.1",
      "198.19.255.255",
      "224.0.0.1",
      "239.255.255.255",
      "240.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fc00::1",
      "fdff::1",
      "fe80::1",
      "febf::1",
      "ff02::1",
      "ff0e::1",
      "::ffff:127.0.0.1",
      "::ffff:10.1.2.3",
      "::ffff:169.254.169.254",
      "64:ff9b::7f00:1",
      "64:ff9b::a00:1",
      "fd00:ec2::254",
      "2002:7f00:1::1",
      "2002:a9fe:a9fe::",
      "::127.0.0.1",
      "fec0::1",
  };
  for (const char* a : refused) {
    auto st = guard.check_address(addr(a));
    ASSERT_FALSE(st.ok()) << a;
    EXPECT_EQ(st.error().code, Errc::kForbidden);
    EXPECT_NE(st.error().detail.find(std::string("address ") + a + " is not allowed"), std::string::npos)
        << st.error().detail;
  }
}

TEST(UrlGuardTest, AllowsPublicAddresses) {
  const UrlGuard guard;
  const char* allowed[] = {
      "8.8.8.8",         "1.1.1.1",          "9.255.255.255",        "11.0.0.0",
      "100.63.255.255",  "100.128.0.0",      "126.255.255.255",      "128.0.0.1",
      "169.253.255.255", "169.255.0.0",      "172.15.255.255",       "172.32.0.0",
      "192.0.1.0",       "192.167.255.255",  "192.169.0.0",          "198.17.255.255",
      "198.20.0.0",      "223.255.255.255",  "2001:4860:4860::8888", "2606:4700::1111",
      "::ffff:8.8.8.8",  "64:ff9b::808:808", "2002:808:808::1",      "fbff::1",
  };
  for (const char* a : allowed) {
    auto st = guard.check_address(addr(a));
    EXPECT_TRUE(st.ok()) << a << ": " << st.error().detail;
  }
}

TEST(UrlGuardTest, NamesTheRange) {
  const UrlGuard guard;
  EXPECT_EQ(guard.check_address(addr("169.254.169.254")).error().detail,
            "address 169.254.169.254 is not allowed (cloud metadata 169.254.169.254/32)");
  EXPECT_EQ(guard.check_address(addr("fd00:ec2::254")).error().detail,
            "address fd00:ec2::254 is not allowed (cloud metadata fd00:ec2::254/128)");
  EXPECT_EQ(guard.check_address(addr("100.64.1.1")).error().detail,
            "address 100.64.1.1 is not allowed (CGNAT shared 100.64.0.0/10)");
  EXPECT_EQ(guard.check_address(addr("::ffff:127.0.0.1")).error().detail,
            "address ::ffff:127.0.0.1 is not allowed (loopback 127.0.0.0/8 (IPv4-mapped))");
  EXPECT_EQ(blocked_range(addr("64:ff9b::a00:1")), "private 10.0.0.0/8 (NAT64)");
  EXPECT_EQ(blocked_range(addr("8.8.8.8")), "");
}

TEST(UrlGuardTest, ScopedLinkLocalIsStillRefused) {
  const UrlGuard guard;
  auto a = ip::make_address_v6("fe80::1%1");
  EXPECT_FALSE(guard.check_address(a).ok());
}

TEST(UrlGuardTest, AllowListOverrides) {
  auto guard = UrlGuard::from_config({"127.0.0.0/8", "fd00::/8", "10.1.0.0/16"}, false);
  ASSERT_TRUE(guard.ok()) << guard.error().detail;
  EXPECT_TRUE(guard->check_address(addr("127.0.0.1")).ok());
  EXPECT_TRUE(guard->check_address(addr("127.5.6.7")).ok());
  EXPECT_TRUE(guard->check_address(addr("::ffff:127.0.0.1")).ok());  // the embedded v4 is allowed
  EXPECT_TRUE(guard->check_address(addr("fd12::1")).ok());
  EXPECT_TRUE(guard->check_address(addr("10.1.200.3")).ok());
  EXPECT_FALSE(guard->check_address(addr("10.2.0.1")).ok());
  EXPECT_FALSE(guard->check_address(addr("::1")).ok());  // only 127/8 was allowed, not the v6 loopback
  EXPECT_FALSE(guard->check_address(addr("169.254.169.254")).ok());
  EXPECT_TRUE(guard->check_address(addr("8.8.8.8")).ok());
}

TEST(UrlGuardTest, FromConfigNamesTheBadCidr) {
  auto guard = UrlGuard::from_config({"127.0.0.0/8", "10.0.0.0/40"}, false);
  ASSERT_FALSE(guard.ok());
  EXPECT_EQ(guard.error().field, "cidr");
  EXPECT_NE(guard.error().detail.find("\"10.0.0.0/40\""), std::string::npos);
}

TEST(UrlGuardTest, ValidatesUrls) {
  const UrlGuard guard;
  auto t = guard.validate_url("https://hooks.example.com/path/x?a=1&b=%20#frag");
  ASSERT_TRUE(t.ok()) << t.error().detail;
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->host, "hooks.example.com");
  EXPECT_EQ(t->port, 443);
  EXPECT_EQ(t->target, "/path/x?a=1&b=%20");
  EXPECT_FALSE(t->host_is_ip);
  EXPECT_EQ(t->origin(), "https://hooks.example.com:443");

  t = guard.validate_url("http://Example.com:8080");
  ASSERT_TRUE(t.ok()) << t.error().detail;
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->target, "/");

  t = guard.validate_url("https://[2606:4700::1111]:8443/x");
  ASSERT_TRUE(t.ok()) << t.error().detail;
  EXPECT_EQ(t->host, "2606:4700::1111");
  EXPECT_TRUE(t->host_is_ip);
  EXPECT_EQ(t->origin(), "https://[2606:4700::1111]:8443");

  // Host names that resolve to private addresses pass here; the connect-time check catches them.
  EXPECT_TRUE(guard.validate_url("http://localhost:1/").ok());
}

TEST(UrlGuardTest, RejectsBadUrls) {
  const UrlGuard guard;
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"", "empty"},
      {"hooks.example.com/x", "not an absolute URL"},
      {"ftp://example.com/", "scheme must be http or https"},
      {"file:///etc/passwd", "scheme must be http or https"},
      {"gopher://127.0.0.1:6379/", "scheme must be http or https"},
      {"http:/x", "no host"},
      {"http:///x", "no host"},
      {"https://user:pw@example.com/", "user info"},
      {"http://example.com:0/", "port"},
      {"http://example.com:99999/", "port"},
      {"http://127.0.0.1/", "address 127.0.0.1 is not allowed (loopback"},
      {"http://[::1]:8080/", "address ::1 is not allowed"},
      {"http://169.254.169.254/latest/meta-data/", "cloud metadata"},
      {"http://[::ffff:a9fe:a9fe]/", "cloud metadata"},
      {"http://exa%20mple.com/", "not allowed in a host name"},
  };
  for (const auto& c : cases) {
    auto r = guard.validate_url(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.error().code, Errc::kValidation) << c.url;
    EXPECT_EQ(r.error().field, "url");
    EXPECT_NE(r.error().detail.find(c.says), std::string::npos) << c.url << ": " << r.error().detail;
  }
}

TEST(UrlGuardTest, HttpsOnly) {
  UrlGuardOptions options;
  options.https_only = true;
  const UrlGuard guard(options);
  auto r = guard.validate_url("http://example.com/");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("https is required"), std::string::npos);
  EXPECT_TRUE(guard.validate_url("https://example.com/").ok());
}

TEST(UrlGuardTest, AllowListAppliesToIpLiteralUrls) {
  auto guard = UrlGuard::from_config({"127.0.0.0/8"}, false);
  ASSERT_TRUE(guard.ok());
  auto t = guard->validate_url("http://127.0.0.1:9/hook");
  ASSERT_TRUE(t.ok()) << t.error().detail;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 9);
}

// What endpoint creation refuses at once, without DNS: an IP host the guard refuses, in any spelling the
// resolver would read as an address. Host names (resolved at delivery) and allowed addresses pass.
TEST(UrlGuardTest, ConfiguredHostsThatAreRefusedAddressesAreForbiddenWithoutDns) {
  const UrlGuard guard;
  for (const char* url :
       {"http://127.0.0.1:9/hook", "https://10.1.2.3/", "http://169.254.169.254/latest", "http://[::1]/",
        "http://[::ffff:127.0.0.1]/", "http://[fd00:ec2::254]/", "http://127.1/", "http://2130706433/",
        "http://0x7f000001/", "http://017700000001/", "http://0.0.0.0/", "http://127.0.0.%31/",
        "http://localhost:9/", "http://LocalHost./", "http://api.localhost/"}) {
    auto st = guard.check_configured_host(url);
    ASSERT_FALSE(st.ok()) << url;
    EXPECT_EQ(st.error().code, Errc::kForbidden) << url;
    EXPECT_EQ(st.error().field, "url");
    EXPECT_NE(st.error().detail.find("not allowed"), std::string::npos) << url << ": " << st.error().detail;
  }
  for (const char* url : {"https://example.com/hook", "http://localhost.example.com:9/",
                          "https://93.184.216.34/", "http://[2606:4700::1]/", "not a url"}) {
    EXPECT_TRUE(guard.check_configured_host(url).ok()) << url;
  }
  auto allowed = UrlGuard::from_config({"127.0.0.0/8"}, false);
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(allowed->check_configured_host("http://127.0.0.1:9/hook").ok());
  EXPECT_TRUE(allowed->check_configured_host("http://localhost:9/hook").ok());
  EXPECT_FALSE(allowed->check_configured_host("http://[::1]:9/hook").ok());
}

}  // namespace
}  // namespace hookwire::delivery
