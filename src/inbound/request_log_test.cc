// What a request log record holds (request_log.h make_source_request): headers with secrets redacted, the
// body as text or base64, cut at kKeptBodyBytes without splitting a character; bytes that are not UTF-8 never
// reach the JSON. The gateway's use of it (what is kept, the bound, the rate, deletion) is in
// gateway_test.cc.
#include "inbound/request_log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <utility>
#include <vector>

#include "core/encoding.h"
#include "core/ids.h"
#include "core/names.h"

namespace hookwire::inbound {
namespace {

namespace json = boost::json;

CompiledSource compiled(std::string_view spec_json) {
  auto spec = parse_source_spec(json::parse(spec_json).as_object(), 1 << 20);
  EXPECT_TRUE(spec.ok()) << spec.error().detail;
  store::Source rec;
  rec.id = new_id(id_prefix::kSource);
  rec.app_id = new_id(id_prefix::kApplication);
  rec.config = config_json(*spec);
  auto c = compile(rec);
  EXPECT_TRUE(c.ok()) << c.error().detail;
  return std::move(*c);
}

struct Fields {
  std::vector<std::pair<std::string, std::string>> fields;
  RequestHead head(std::string_view target = "/in/src") const {
    RequestHead h;
    h.method = "POST";
    h.target = target;
    h.each_header = [this](const HeaderVisitor& visit) {
      for (const auto& [name, value] : fields) visit(name, value);
    };
    return h;
  }
};

const RequestFacts kRejected{401, "rejected",   "no_matching_signature", "no signature matched",
                             {},  "203.0.113.9"};

TEST(RequestRecord, RedactsCredentialsAndJoinsRepeatedFields) {
  auto src = compiled(
      R"({"pull":true,"verifier":"static-token","secrets":["tok-123"],"tokenHeader":"X-Api-Token"})");
  Fields f{{{"Authorization", "Bearer abc"},
            {"cookie", "session=1"},
            {"Proxy-Authorization", "Basic eA=="},
            {"x-api-token", "tok-123"},
            {"Content-Type", "application/json"},
            {"X-Forwarded-For", "198.51.100.1"},
            {"x-forwarded-for", "203.0.113.9"}}};
  auto r = make_source_request("sreq_1", src, f.head("/in/src?a=1"), R"({"a":1})", kRejected, TimePoint{});
  auto headers = json::parse(r.headers).as_object();
  EXPECT_EQ(headers.at("authorization").as_string(), "[redacted]");
  EXPECT_EQ(headers.at("cookie").as_string(), "[redacted]");
  EXPECT_EQ(headers.at("proxy-authorization").as_string(), "[redacted]");
  EXPECT_EQ(headers.at("x-api-token").as_string(), "[redacted]") << "the static token is the secret";
  EXPECT_EQ(headers.at("content-type").as_string(), "application/json");
  EXPECT_EQ(headers.at("x-forwarded-for").as_string(), "198.51.100.1, 203.0.113.9");
  EXPECT_EQ(r.headers.find("abc"), std::string::npos);
  EXPECT_EQ(r.headers.find("tok-123"), std::string::npos);
  EXPECT_EQ(r.source_id, src.record.id);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.outcome, "rejected");
  EXPECT_EQ(r.code, std::optional<std::string>("no_matching_signature"));
  EXPECT_EQ(r.reason, std::optional<std::string>("no signature matched"));
  EXPECT_EQ(r.client_address, "203.0.113.9");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/in/src?a=1");
  EXPECT_EQ(r.body, R"({"a":1})");
  EXPECT_FALSE(r.body_base64);
  EXPECT_FALSE(r.body_truncated);
  EXPECT_EQ(r.message_id, std::nullopt);

  // Another verifier's sources keep a header of that name: only a static token's is its secret.
  auto none = compiled(R"({"pull":true,"verifier":"none"})");
  auto kept = make_source_request("sreq_2", none, f.head(), "{}", kRejected, TimePoint{});
  EXPECT_EQ(json::parse(kept.headers).at("x-api-token").as_string(), "tok-123");
  EXPECT_EQ(json::parse(kept.headers).at("authorization").as_string(), "[redacted]");
}

TEST(RequestRecord, BodiesThatAreNotTextAreKeptInBase64AndLongOnesAreCut) {
  auto src = compiled(R"({"pull":true,"verifier":"none"})");
  Fields f{{{"X-Bad", "caf\xe9 \xff"}}};
  const std::string binary("\x89PNG\r\n\x1a\n\0\xff", 10);
  auto r = make_source_request("sreq_1", src, f.head("/in/src?q=\xff"), binary, kRejected, TimePoint{});
  EXPECT_TRUE(r.body_base64);
  EXPECT_EQ(base64_decode(r.body), binary);
  EXPECT_TRUE(is_utf8(r.headers));
  EXPECT_EQ(json::parse(r.headers).at("x-bad").as_string(), "caf\xEF\xBF\xBD \xEF\xBF\xBD");
  EXPECT_TRUE(is_utf8(r.path));

  const std::string nul("{\"a\":\"\0\"}", 9);
  EXPECT_TRUE(make_source_request("sreq_2", src, f.head(), nul, kRejected, TimePoint{}).body_base64)
      << "UTF-8, but a text column cannot hold NUL";

  // Cut at 64 KiB; a character the cut would split is left out whole, so the text stays text.
  std::string long_text(kKeptBodyBytes - 1, 'a');
  long_text += "\xc3\xa9 and more";  // 'é' straddles the cut
  auto cut = make_source_request("sreq_3", src, f.head(), long_text, kRejected, TimePoint{});
  EXPECT_TRUE(cut.body_truncated);
  EXPECT_FALSE(cut.body_base64);
  EXPECT_EQ(cut.body, std::string(kKeptBodyBytes - 1, 'a'));
  std::string exact(kKeptBodyBytes, 'b');
  auto whole = make_source_request("sreq_4", src, f.head(), exact, kRejected, TimePoint{});
  EXPECT_FALSE(whole.body_truncated);
  EXPECT_EQ(whole.body.size(), kKeptBodyBytes);
  std::string long_binary(kKeptBodyBytes + 10, '\xff');
  auto cut_binary = make_source_request("sreq_5", src, f.head(), long_binary, kRejected, TimePoint{});
  EXPECT_TRUE(cut_binary.body_truncated);
  EXPECT_TRUE(cut_binary.body_base64);
  EXPECT_EQ(base64_decode(cut_binary.body)->size(), kKeptBodyBytes);
}

}  // namespace
}  // namespace hookwire::inbound
