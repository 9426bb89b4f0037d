#include "api/v1/json_body.h"

#include <gtest/gtest.h>

#include "api/v1/support.h"

namespace hookwire::api::v1 {
namespace {

TEST(RawMember, ReturnsTheExactSourceTextOfAMember) {
  const std::string text =
      R"({"eventType":"a.b", "payload" : {"n": 1.50, "s": "x}\"y", "l": [1, {"k": []}]} , "z": 1})";
  EXPECT_EQ(*raw_member(text, "payload"), R"({"n": 1.50, "s": "x}\"y", "l": [1, {"k": []}]})");
  EXPECT_EQ(*raw_member(text, "eventType"), R"("a.b")");
  EXPECT_EQ(*raw_member(text, "z"), "1");
  EXPECT_FALSE(raw_member(text, "missing"));
  EXPECT_FALSE(raw_member("[1,2]", "payload"));
}

TEST(RawMember, LastDuplicateWinsLikeTheParser) {
  EXPECT_EQ(*raw_member(R"({"payload":{"a":1},"payload":{"b":2}})", "payload"), R"({"b":2})");
}

// Keys are compared decoded, as the parser compares them: an escaped spelling of a name is that name
// (issue #18: `pay\u006coad` was missed, and the message stored empty).
TEST(RawMember, KeysAreComparedDecoded) {
  EXPECT_EQ(*raw_member(R"({"eventType":"a.b","pay\u006coad":{"x":1}})", "payload"), R"({"x":1})");
  EXPECT_EQ(*raw_member(R"({"\u0070\u0061\u0079\u006C\u006F\u0061\u0064" : [1]})", "payload"), "[1]");
  EXPECT_EQ(*raw_member(R"({"a\/b":1,"a\"b":2,"a\\b":3,"t\tb":4})", "a/b"), "1");
  EXPECT_EQ(*raw_member(R"({"a\/b":1,"a\"b":2,"a\\b":3,"t\tb":4})", "a\"b"), "2");
  EXPECT_EQ(*raw_member(R"({"a\/b":1,"a\"b":2,"a\\b":3,"t\tb":4})", "a\\b"), "3");
  EXPECT_EQ(*raw_member(R"({"a\/b":1,"a\"b":2,"a\\b":3,"t\tb":4})", "t\tb"), "4");
  // Non-ASCII, escaped (a surrogate pair for U+1F600) or not, equals its UTF-8 spelling.
  EXPECT_EQ(*raw_member(R"({"caf\u00e9":1,"\ud83d\ude00":2})", "caf\xc3\xa9"), "1");
  EXPECT_EQ(*raw_member(R"({"caf\u00e9":1,"\ud83d\ude00":2})", "\xf0\x9f\x98\x80"), "2");
  // Near misses are not matches.
  EXPECT_FALSE(raw_member(R"({"pay\u006coads":1,"\u0070ayloa":2,"payload\u0000":3})", "payload"));
  EXPECT_FALSE(raw_member(R"({"pay\\u006coad":1})", "payload"));  // an escaped backslash, not an escape
}

TEST(RawMember, TheLastDuplicateWinsWhateverItsSpelling) {
  const std::string text = R"({"payload":"str","pay\u006coad":{}})";
  EXPECT_EQ(*raw_member(text, "payload"), "{}");
  EXPECT_EQ(*raw_member(R"({"pay\u006coad":{},"payload":"str"})", "payload"), R"("str")");
  // The parser agrees: the member it validated is the one raw_member finds.
  auto obj = parse_object(text);
  ASSERT_TRUE(obj);
  EXPECT_TRUE(obj->at("payload").is_object());
}

TEST(ParseObject, SyntaxErrorsAre400AndOtherTypes422) {
  EXPECT_EQ(parse_object("{").error().code, Errc::kBadRequest);
  EXPECT_EQ(parse_object("").error().code, Errc::kBadRequest);
  EXPECT_EQ(parse_object("[]").error().code, Errc::kValidation);
  EXPECT_TRUE(parse_object(R"({"a":1})").ok());
}

TEST(FieldReader, NamesTheFirstBadField) {
  auto obj = parse_object(R"({"name": 5, "uid": "bad uid", "n": 3})");
  FieldReader r(*obj);
  r.req_string("name");
  r.opt_string("uid", FieldReader::Rule::kToken);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error()->field, "body.name");
  EXPECT_EQ(r.error()->code, Errc::kValidation);
}

TEST(FieldReader, ChecksRangesArraysAndObjects) {
  auto obj = parse_object(R"({"n": 0, "l": ["a", 1], "m": {"k": 1}, "ok": ["x.y", "z"]})");
  {
    FieldReader r(*obj);
    EXPECT_FALSE(r.opt_int("n", 1, 10));
    EXPECT_EQ(r.error()->field, "body.n");
  }
  {
    FieldReader r(*obj);
    EXPECT_FALSE(r.opt_string_array("l", FieldReader::Rule::kAny, 5));
    EXPECT_EQ(r.error()->field, "body.l");
  }
  {
    FieldReader r(*obj);
    EXPECT_FALSE(r.opt_object_text("m", /*string_values=*/true));
    EXPECT_EQ(r.error()->field, "body.m");
  }
  {
    FieldReader r(*obj);
    auto ok = r.opt_string_array("ok", FieldReader::Rule::kToken, 2);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->size(), 2u);
    EXPECT_FALSE(r.opt_string_array("ok", FieldReader::Rule::kToken, 1));
    EXPECT_FALSE(r.error()->detail.empty());
  }
}

TEST(Tokens, FollowSvixRule) {
  EXPECT_TRUE(is_token("user.created-v2_x"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token(std::string(257, 'a')));
}

TEST(Query, DecodesRepeatsAndCommaLists) {
  auto q = Query::parse("/api/v1/app/x/msg?event_types=a.b,c&event_types=d&limit=5&channel=p%20q");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->list("event_types"), (std::vector<std::string>{"a.b", "c", "d"}));
  EXPECT_EQ(*q->get("channel"), "p q");
  auto page = page_query(*q, store::Order::kDescending);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->limit, 5);
  EXPECT_EQ(page->order, store::Order::kDescending);
}

TEST(Query, RejectsBadPaging) {
  for (const char* t : {"/x?limit=0", "/x?limit=251", "/x?limit=1x", "/x?order=up"}) {
    auto q = Query::parse(t);
    ASSERT_TRUE(q);
    auto page = page_query(*q, store::Order::kAscending);
    ASSERT_FALSE(page) << t;
    EXPECT_EQ(page.error().field.substr(0, 6), "query.");
  }
  EXPECT_FALSE(bool_param(*Query::parse("/x?flag=yes"), "flag", false));
  EXPECT_TRUE(*bool_param(*Query::parse("/x"), "flag", true));
}

TEST(Query, StatusTimeEventTypeAndChannelFilters) {
  auto q = Query::parse("/x?status=3&since=2026-01-02T03:04:05.250Z&event_types=a.b,c&channel=eu-1");
  ASSERT_TRUE(q);
  EXPECT_EQ(*status_param(*q), 3);
  EXPECT_EQ(format_iso8601(**time_param(*q, "since")), "2026-01-02T03:04:05.250Z");
  EXPECT_FALSE(time_param(*q, "until")->has_value());
  EXPECT_EQ(*event_types_param(*q), (std::vector<std::string>{"a.b", "c"}));
  EXPECT_EQ(**channel_param(*q), "eu-1");
  EXPECT_FALSE(status_param(*Query::parse("/x"))->has_value());
  for (const char* t : {"/x?status=4", "/x?status=-1", "/x?status=01", "/x?status=sending"})
    EXPECT_EQ(status_param(*Query::parse(t)).error().field, "query.status") << t;
  EXPECT_EQ(time_param(*Query::parse("/x?before=yesterday"), "before").error().field, "query.before");
  EXPECT_EQ(event_types_param(*Query::parse("/x?event_types=a,b%20c")).error().field, "query.event_types");
  EXPECT_EQ(channel_param(*Query::parse("/x?channel=a/b")).error().field, "query.channel");
}

}  // namespace
}  // namespace hookwire::api::v1

#include "api/v1/serialize.h"

namespace hookwire::api::v1 {
namespace {

TEST(MessageJson, IsValidJsonWithThePayloadVerbatim) {
  store::Message m;
  m.id = "msg_1";
  m.event_type = "a.b";
  m.event_id = "e\"1";
  m.channels = std::vector<std::string>{"c1", "c2"};
  m.payload = R"({"n": 1.50})";
  m.created_at = from_unix_millis(1614265330123);
  const std::string text = message_json(m);
  auto parsed = parse_object(text);
  ASSERT_TRUE(parsed) << text;
  EXPECT_EQ(parsed->at("eventId").as_string(), "e\"1");
  EXPECT_EQ(parsed->at("timestamp").as_string(), "2021-02-25T15:02:10.123Z");
  EXPECT_EQ(parsed->at("channels").as_array().size(), 2u);
  EXPECT_EQ(*raw_member(text, "payload"), R"({"n": 1.50})");
  m.event_id.reset();
  m.channels.reset();
  auto lean = parse_object(message_json(m, /*with_content=*/false));
  ASSERT_TRUE(lean);
  EXPECT_TRUE(lean->at("eventId").is_null());
  EXPECT_TRUE(lean->at("payload").as_object().empty());
}

// EndpointMessageOut: the message, then its delivery status as Svix reports it (a delivery retrying after a
// failed attempt is "sending"; leased for its first attempt, still "pending").
TEST(EndpointMessageJson, CarriesSvixStatusesAndTheDeadLetterFields) {
  store::Page<store::MessageDelivery> page;
  store::MessageDelivery md;
  md.message.id = "msg_1";
  md.message.event_type = "a.b";
  md.message.payload = R"({"n":1})";
  md.delivery.id = "dlv_1";
  md.delivery.endpoint_id = "ep_1";
  md.delivery.status = store::Delivery::kPending;
  md.delivery.attempts = 2;
  md.delivery.next_attempt_at = from_unix_millis(1614265330123);
  page.items.push_back(md);
  md.delivery.status = store::Delivery::kSending;
  md.delivery.attempts = 0;
  page.items.push_back(md);
  md.delivery.status = store::Delivery::kFailed;
  md.delivery.attempts = 3;
  page.items.push_back(md);
  page.iterator = "msg_1";
  page.done = false;
  auto parsed = parse_object(endpoint_message_list_json(page, true));
  ASSERT_TRUE(parsed);
  const auto& data = parsed->at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0].at("status").as_int64(), 3);
  EXPECT_EQ(data[0].at("statusText").as_string(), "sending");
  EXPECT_EQ(data[0].at("nextAttempt").as_string(), "2021-02-25T15:02:10.123Z");
  EXPECT_EQ(data[0].at("payload").at("n").as_int64(), 1);
  EXPECT_EQ(data[1].at("statusText").as_string(), "pending");
  EXPECT_TRUE(data[1].at("nextAttempt").is_null());
  EXPECT_EQ(data[2].at("statusText").as_string(), "fail");
  EXPECT_FALSE(data[2].as_object().contains("endpointId"));
  EXPECT_EQ(parsed->at("iterator").as_string(), "msg_1");
  EXPECT_FALSE(parsed->at("done").as_bool());
  auto dead = parse_object(endpoint_message_list_json(page, false, /*dead_letter=*/true));
  ASSERT_TRUE(dead);
  const auto& letter = dead->at("data").as_array()[2];
  EXPECT_EQ(letter.at("endpointId").as_string(), "ep_1");
  EXPECT_EQ(letter.at("deliveryId").as_string(), "dlv_1");
  EXPECT_EQ(letter.at("attempts").as_int64(), 3);
  EXPECT_TRUE(letter.at("payload").as_object().empty());
}

// Issue #18: a date past what the time type holds overflowed into a wrong time; now a 422 naming the
// parameter.
TEST(TimeParam, DatesOutsideTheTimeRangeAre422NamingTheParameter) {
  for (const char* name : {"before", "after", "since", "until"}) {
    for (const char* date : {"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2262-04-12T00:00:00Z"}) {
      auto q = Query::parse(std::string("/x?") + name + "=" + date);
      ASSERT_TRUE(q);
      auto t = time_param(*q, name);
      ASSERT_FALSE(t) << name << "=" << date;
      EXPECT_EQ(t.error().code, Errc::kValidation);
      EXPECT_EQ(t.error().field, std::string("query.") + name);
    }
  }
}

TEST(RawMember, EscapedQuotesAndBackslashesInsideStrings) {
  const std::string text = R"({"a":"x\\","payload":{"s":"q\"}\\\"{"},"b":"\\\\"})";
  EXPECT_EQ(*raw_member(text, "payload"), R"({"s":"q\"}\\\"{"})");
  EXPECT_EQ(*raw_member(text, "b"), R"("\\\\")");
}

}  // namespace
}  // namespace hookwire::api::v1
