#include "delivery/retry_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

namespace hookwire::delivery {
namespace {

using namespace std::chrono_literals;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Kind = Decision::Kind;

// 2024-01-01T00:00:00Z, a Monday.
const TimePoint kNow = TimePoint{seconds{1'704'067'200}};

RandomSource constant(double u) {
  return [u] { return u; };
}

RetryPolicy no_jitter() {
  RetryOptions o;
  o.jitter = 0;
  return RetryPolicy(o, constant(0.5));
}

RetryPolicy with_draw(double u) { return RetryPolicy(RetryOptions{}, constant(u)); }

milliseconds wait_of(const Decision& d) {
  EXPECT_EQ(d.kind, Kind::kRetry) << d.reason;
  return std::chrono::duration_cast<milliseconds>(d.retry_at - kNow);
}

TEST(RetryScheduleTest, DefaultIsSvixSchedule) {
  std::vector<RetryDuration> expected = {5s, 5min, 30min, 2h, 5h, 10h, 10h};
  EXPECT_EQ(default_retry_schedule(), expected);
  EXPECT_EQ(RetryOptions{}.schedule, expected);
  EXPECT_DOUBLE_EQ(RetryOptions{}.jitter, 0.2);
  EXPECT_EQ(RetryOptions{}.min_wait_after_throttle, 60s);
  EXPECT_EQ(format_retry_schedule(expected), "5s,5m,30m,2h,5h,10h,10h");
  EXPECT_EQ(RetryPolicy().max_attempts(), 8);
}

TEST(RetryScheduleTest, ParsesConfigString) {
  auto r = parse_retry_schedule("5s,5m,30m,2h,5h,10h,10h");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(*r, default_retry_schedule());

  auto spaced = parse_retry_schedule(" 0s , 1500ms,\t1d ,90m");
  ASSERT_TRUE(spaced.ok()) << spaced.error().detail;
  EXPECT_EQ(*spaced, (std::vector<RetryDuration>{0s, 1500ms, 24h, 90min}));
  EXPECT_EQ(format_retry_schedule(*spaced), "0s,1500ms,1d,90m");

  auto round_trip = parse_retry_schedule(format_retry_schedule(*spaced));
  ASSERT_TRUE(round_trip.ok());
  EXPECT_EQ(*round_trip, *spaced);
}

TEST(RetryScheduleTest, RejectsJunkWithClearErrors) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"   ", "empty"},
      {"5", "entry 1 \"5\": missing unit"},
      {"5s,5x", "entry 2 \"5x\": unknown unit \"x\""},
      {"s", "entry 1 \"s\": expected a non-negative whole number"},
      {"5s,,5m", "entry 2 \"\": empty entry"},
      {"5s,", "entry 2 \"\": empty entry"},
      {"-5s", "entry 1 \"-5s\": expected a non-negative whole number"},
      {"1.5s", "entry 1 \"1.5s\": unknown unit \".5s\""},
      {"5 s", "unknown unit \" s\""},
      {"400d", "longer than 365d"},
      {"9000h", "longer than 365d"},
      {"9999999999999h", "number too large"},
      {"5S", "unknown unit \"S\""},
  };
  for (const Case& c : cases) {
    auto r = parse_retry_schedule(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, Errc::kValidation) << c.text;
    EXPECT_EQ(r.error().field, "retry_schedule") << c.text;
    EXPECT_NE(r.error().detail.find(c.message_part), std::string::npos)
        << c.text << " -> " << r.error().detail;
  }
}

TEST(RetryOptionsTest, Validate) {
  EXPECT_TRUE(RetryPolicy::validate(RetryOptions{}).ok());
  RetryOptions o;
  o.schedule.clear();
  EXPECT_FALSE(RetryPolicy::validate(o).ok());
  o = {};
  o.schedule = {5s, -1s};
  EXPECT_FALSE(RetryPolicy::validate(o).ok());
  o = {};
  o.jitter = 1.0;
  EXPECT_EQ(RetryPolicy::validate(o).error().field, "retry_jitter");
  o.jitter = -0.1;
  EXPECT_FALSE(RetryPolicy::validate(o).ok());
  o = {};
  o.retry_after_max_factor = 0.5;
  EXPECT_FALSE(RetryPolicy::validate(o).ok());
  o = {};
  o.min_wait_after_throttle = -1s;
  EXPECT_FALSE(RetryPolicy::validate(o).ok());
}

TEST(RetryPolicyTest, DefaultScheduleExactlyWithJitterZero) {
  const RetryPolicy p = no_jitter();
  const std::vector<milliseconds> expected = {5s, 5min, 30min, 2h, 5h, 10h, 10h};
  for (int attempt = 1; attempt <= 7; ++attempt) {
    Decision d = p.decide(AttemptOutcome::http(500), attempt, kNow);
    ASSERT_EQ(d.kind, Kind::kRetry) << attempt;
    EXPECT_EQ(d.retry_at, kNow + expected[attempt - 1]) << attempt;
  }
}

TEST(RetryPolicyTest, ExhaustedAfterTheLastEntry) {
  const RetryPolicy p = no_jitter();
  EXPECT_EQ(p.decide(AttemptOutcome::http(500), 7, kNow).kind, Kind::kRetry);
  for (const AttemptOutcome& o :
       {AttemptOutcome::http(500), AttemptOutcome::http(429), AttemptOutcome::timeout(),
        AttemptOutcome::network_error("connection refused"),
        AttemptOutcome::blocked("10.0.0.1 is private")}) {
    Decision d = p.decide(o, 8, kNow);
    EXPECT_EQ(d.kind, Kind::kExhausted) << d.reason;
    EXPECT_NE(d.reason.find("exhausted after 8 attempts"), std::string::npos) << d.reason;
    EXPECT_EQ(p.decide(o, 9, kNow).kind, Kind::kExhausted);
  }
  // A success or a 410 on the last attempt is still what it is.
  EXPECT_EQ(p.decide(AttemptOutcome::http(200), 8, kNow).kind, Kind::kDelivered);
  EXPECT_EQ(p.decide(AttemptOutcome::http(410), 8, kNow).kind, Kind::kDisableEndpoint);

  RetryOptions short_schedule;
  short_schedule.schedule = {1s, 2s};
  short_schedule.jitter = 0;
  const RetryPolicy q(short_schedule);
  EXPECT_EQ(q.max_attempts(), 3);
  EXPECT_EQ(q.decide(AttemptOutcome::http(500), 2, kNow).retry_at, kNow + 2s);
  EXPECT_EQ(q.decide(AttemptOutcome::http(500), 3, kNow).kind, Kind::kExhausted);
}

TEST(RetryPolicyTest, JitterExtremesAreExactlyPlusMinusTwentyPercent) {
  EXPECT_EQ(wait_of(with_draw(0.0).decide(AttemptOutcome::http(500), 1, kNow)), 4s);
  EXPECT_EQ(wait_of(with_draw(1.0).decide(AttemptOutcome::http(500), 1, kNow)), 6s);
  EXPECT_EQ(wait_of(with_draw(0.5).decide(AttemptOutcome::http(500), 1, kNow)), 5s);
  EXPECT_EQ(wait_of(with_draw(0.0).decide(AttemptOutcome::http(500), 3, kNow)), 24min);
  EXPECT_EQ(wait_of(with_draw(1.0).decide(AttemptOutcome::http(500), 3, kNow)), 36min);
  EXPECT_EQ(wait_of(with_draw(0.0).decide(AttemptOutcome::http(500), 7, kNow)), 8h);
  EXPECT_EQ(wait_of(with_draw(1.0).decide(AttemptOutcome::http(500), 7, kNow)), 12h);
  // Out-of-range draws are clamped, not extrapolated.
  EXPECT_EQ(wait_of(with_draw(-3.0).decide(AttemptOutcome::http(500), 1, kNow)), 4s);
  EXPECT_EQ(wait_of(with_draw(7.0).decide(AttemptOutcome::http(500), 1, kNow)), 6s);
  // The largest double below 1 (the top of a [0, 1) generator) stays within the bound.
  EXPECT_EQ(wait_of(with_draw(std::nextafter(1.0, 0.0)).decide(AttemptOutcome::http(500), 1, kNow)), 6s);
}

TEST(RetryPolicyTest, JitterStaysWithinBoundsOverManyDraws) {
  const RetryPolicy p(RetryOptions{}, seeded_random_source(20240101));
  const auto schedule = default_retry_schedule();
  for (int retry = 1; retry <= 7; ++retry) {
    const int64_t base = schedule[retry - 1].count();
    int64_t lo = base * 2, hi = 0;
    for (int i = 0; i < 5000; ++i) {
      const int64_t w = wait_of(p.decide(AttemptOutcome::http(500), retry, kNow)).count();
      ASSERT_LE(5 * w, 6 * base) << retry;  // w <= 1.2 * base, in integers
      ASSERT_GE(5 * w, 4 * base) << retry;  // w >= 0.8 * base
      lo = std::min(lo, w);
      hi = std::max(hi, w);
    }
    // The draws actually spread over the range (not stuck at the scheduled value).
    EXPECT_LT(lo, base * 81 / 100) << retry;
    EXPECT_GT(hi, base * 119 / 100) << retry;
  }
}

TEST(RetryPolicyTest, SameSeedSameDecisions) {
  const RetryPolicy a(RetryOptions{}, seeded_random_source(7));
  const RetryPolicy b(RetryOptions{}, seeded_random_source(7));
  for (int attempt = 1; attempt <= 7; ++attempt)
    EXPECT_EQ(a.decide(AttemptOutcome::http(500), attempt, kNow).retry_at,
              b.decide(AttemptOutcome::http(500), attempt, kNow).retry_at);
}

TEST(RetryPolicyTest, ResumesFromPersistedAttemptCountAfterRestart) {
  // The decision depends only on (outcome, attempts, now): a fresh policy after a restart continues the
  // schedule where the stored attempt count left it.
  const TimePoint after_restart = kNow + 3h;
  Decision before = no_jitter().decide(AttemptOutcome::http(500), 4, after_restart);
  Decision after = no_jitter().decide(AttemptOutcome::http(500), 4, after_restart);
  EXPECT_EQ(before.retry_at, after_restart + 2h);
  EXPECT_EQ(after.retry_at, before.retry_at);
}

TEST(RetryPolicyTest, TooManyRequestsWaitsAtLeastSixtySeconds) {
  // Schedule entry 5 s; with any jitter the 60 s floor wins.
  for (double u : {0.0, 0.5, 1.0}) {
    Decision d = with_draw(u).decide(AttemptOutcome::http(429), 1, kNow);
    EXPECT_EQ(wait_of(d), 60s) << u;
    EXPECT_NE(d.reason.find("at least 1m after 429"), std::string::npos) << d.reason;
  }
  // When the schedule is already longer, it wins.
  EXPECT_EQ(wait_of(no_jitter().decide(AttemptOutcome::http(429), 2, kNow)), 5min);
}

TEST(RetryPolicyTest, TimeoutWaitsAtLeastSixtySeconds) {
  for (double u : {0.0, 1.0}) {
    Decision d = with_draw(u).decide(AttemptOutcome::timeout("no response in 15s"), 1, kNow);
    EXPECT_EQ(wait_of(d), 60s);
    EXPECT_NE(d.reason.find("timeout: no response in 15s"), std::string::npos) << d.reason;
  }
  EXPECT_EQ(wait_of(no_jitter().decide(AttemptOutcome::timeout(), 2, kNow)), 5min);
}

TEST(RetryPolicyTest, GatewayErrorsBackOffLikeThrottling) {
  for (int status : {502, 503, 504})
    EXPECT_EQ(wait_of(no_jitter().decide(AttemptOutcome::http(status), 1, kNow)), 60s) << status;
  // Other failures follow the schedule exactly.
  for (int status : {400, 401, 404, 500, 501})
    EXPECT_EQ(wait_of(no_jitter().decide(AttemptOutcome::http(status), 1, kNow)), 5s) << status;
  EXPECT_EQ(wait_of(no_jitter().decide(AttemptOutcome::network_error("TLS: bad certificate"), 1, kNow)), 5s);
}

TEST(RetryPolicyTest, MinimumWaitIsConfigurable) {
  RetryOptions o;
  o.jitter = 0;
  o.min_wait_after_throttle = 2min;
  EXPECT_EQ(wait_of(RetryPolicy(o).decide(AttemptOutcome::http(429), 2, kNow)), 5min);
  EXPECT_EQ(wait_of(RetryPolicy(o).decide(AttemptOutcome::http(429), 1, kNow)), 2min);
}

TEST(RetryPolicyTest, RetryAfterSecondsClampedToScheduledAndTwiceScheduled) {
  const RetryPolicy p = no_jitter();  // retry 2 is scheduled at 5 min: the clamp is [5 min, 10 min]
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "420"), 2, kNow)), 7min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "300"), 2, kNow)), 5min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "600"), 2, kNow)), 10min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "10"), 2, kNow)), 5min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "0"), 2, kNow)), 5min);
  Decision high = p.decide(AttemptOutcome::http(503, "3600"), 2, kNow);
  EXPECT_EQ(wait_of(high), 10min);
  EXPECT_NE(high.reason.find("Retry-After 1h clamped to [5m, 10m]"), std::string::npos) << high.reason;
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "99999999999999999999999"), 2, kNow)), 10min);
  // Honoured on any failed response, not only 429/503.
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(500, " 480 "), 2, kNow)), 8min);
  // The clamp is around the jittered wait.
  EXPECT_EQ(wait_of(with_draw(0.0).decide(AttemptOutcome::http(500, "1"), 2, kNow)), 4min);
  EXPECT_EQ(wait_of(with_draw(1.0).decide(AttemptOutcome::http(500, "86400"), 2, kNow)), 12min);
}

TEST(RetryPolicyTest, RetryAfterNeverBelowTheThrottleMinimum) {
  const RetryPolicy p = no_jitter();  // retry 1: scheduled 5 s, clamp [5 s, 10 s], then the 60 s floor
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(429, "1"), 1, kNow)), 60s);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(429, "8"), 1, kNow)), 60s);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(429, "120"), 1, kNow)), 60s);
  // Retry 3 (30 min): Retry-After within [30 min, 60 min] is taken as is.
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(429, "2700"), 3, kNow)), 45min);
}

TEST(RetryPolicyTest, RetryAfterHttpDateRelativeToNow) {
  const RetryPolicy p = no_jitter();  // retry 2: [5 min, 10 min]; kNow is Mon, 01 Jan 2024 00:00:00 GMT
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Mon, 01 Jan 2024 00:08:00 GMT"), 2, kNow)), 8min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Mon, 01 Jan 2024 05:00:00 GMT"), 2, kNow)), 10min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Mon, 01 Jan 2024 00:01:00 GMT"), 2, kNow)), 5min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Sun, 31 Dec 2023 23:00:00 GMT"), 2, kNow)), 5min);
  // The obsolete forms RFC 9110 requires recipients to accept.
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Monday, 01-Jan-24 00:09:00 GMT"), 2, kNow)), 9min);
  EXPECT_EQ(wait_of(p.decide(AttemptOutcome::http(503, "Mon Jan  1 00:06:30 2024"), 2, kNow)), 6min + 30s);
  // A later `now` moves the same date closer.
  EXPECT_EQ(p.decide(AttemptOutcome::http(503, "Mon, 01 Jan 2024 00:08:00 GMT"), 2, kNow + 1min).retry_at,
            kNow + 8min);
}

TEST(RetryPolicyTest, MalformedRetryAfterIsIgnored) {
  const RetryPolicy p = no_jitter();
  for (const char* junk :
       {"soon", "-5", "1.5", "", "  ", "5s", "0x10", "Mon, 32 Jan 2024 00:08:00 GMT",
        "Mon, 01 Foo 2024 00:08:00 GMT", "Mon, 01 Jan 2024 25:08:00 GMT", "Mon, 01 Jan 2024 00:08:00 UTC",
        "2024-01-01T00:08:00Z", "Mon, 1 Jan 2024 00:08:00 GMT"}) {
    Decision d = p.decide(AttemptOutcome::http(503, junk), 2, kNow);
    EXPECT_EQ(wait_of(d), 5min) << junk;
    EXPECT_NE(d.reason.find("malformed Retry-After ignored"), std::string::npos) << junk << ": " << d.reason;
  }
}

TEST(RetryPolicyTest, RetryAfterCanBeSwitchedOff) {
  RetryOptions o;
  o.jitter = 0;
  o.honour_retry_after = false;
  EXPECT_EQ(wait_of(RetryPolicy(o).decide(AttemptOutcome::http(503, "420"), 2, kNow)), 5min);
}

TEST(RetryAfterTest, ParsesDeltaSecondsAndAllDateForms) {
  EXPECT_EQ(parse_retry_after("120", kNow), 120s);
  EXPECT_EQ(parse_retry_after("0", kNow), 0s);
  EXPECT_EQ(parse_retry_after("Mon, 01 Jan 2024 00:02:00 GMT", kNow), 2min);
  EXPECT_EQ(parse_retry_after("Monday, 01-Jan-24 00:02:00 GMT", kNow), 2min);
  EXPECT_EQ(parse_retry_after("Mon Jan  1 00:02:00 2024", kNow), 2min);
  EXPECT_EQ(parse_retry_after("Mon Jan 01 00:02:00 2024", kNow), 2min);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow), 0s);  // the past: now
  // RFC 850 two-digit years: more than 50 years ahead means the previous century.
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", kNow), 0s);
  EXPECT_EQ(parse_retry_after("Wednesday, 01-Jan-75 00:00:00 GMT", kNow), 0s);              // 1975
  EXPECT_EQ(parse_retry_after("Monday, 01-Jan-74 00:00:00 GMT", kNow), hours{24 * 18263});  // 2074
  // Late in a century, "00" is the next one: 2100-01-01 seen from 2099-12-31T23:59:00Z.
  const TimePoint end_of_2099 = TimePoint{std::chrono::sys_days{std::chrono::year{2100} / 1 / 1}} - 1min;
  EXPECT_EQ(parse_retry_after("Friday, 01-Jan-00 00:00:00 GMT", end_of_2099), 1min);
  EXPECT_FALSE(parse_retry_after("Mon, 29 Feb 2023 00:00:00 GMT", kNow));  // not a date
  EXPECT_FALSE(parse_retry_after("Fri, 01 Jan 2024 00:02:00 GMT garbage", kNow));
  EXPECT_FALSE(parse_retry_after("Funday, 01-Jan-24 00:02:00 GMT", kNow));
}

TEST(RetryPolicyTest, GoneDisablesTheEndpoint) {
  for (int attempt : {1, 4, 8}) {
    Decision d = no_jitter().decide(AttemptOutcome::http(410, "60"), attempt, kNow);
    EXPECT_EQ(d.kind, Kind::kDisableEndpoint);
    EXPECT_NE(d.reason.find("410"), std::string::npos);
    EXPECT_FALSE(d.emit_failing);
  }
}

TEST(RetryPolicyTest, RedirectsAreFailures) {
  for (int status : {300, 301, 302, 303, 304, 307, 308}) {
    Decision d = no_jitter().decide(AttemptOutcome::http(status), 1, kNow);
    EXPECT_EQ(wait_of(d), 5s) << status;
    EXPECT_NE(d.reason.find("redirects are not followed"), std::string::npos) << d.reason;
  }
}

TEST(RetryPolicyTest, OnlyTwoHundredsAreDelivered) {
  for (int status : {200, 201, 202, 204, 299})
    EXPECT_EQ(no_jitter().decide(AttemptOutcome::http(status), 1, kNow).kind, Kind::kDelivered) << status;
  for (int status : {100, 199, 300, 400, 404, 409, 500, 599})
    EXPECT_EQ(no_jitter().decide(AttemptOutcome::http(status), 1, kNow).kind, Kind::kRetry) << status;
}

TEST(RetryPolicyTest, BlockedBySsrfGuardRetriesOnTheSchedule) {
  Decision d = no_jitter().decide(AttemptOutcome::blocked("169.254.169.254 is link-local"), 1, kNow);
  EXPECT_EQ(wait_of(d), 5s);
  EXPECT_NE(d.reason.find("blocked by SSRF guard: 169.254.169.254 is link-local"), std::string::npos)
      << d.reason;
}

TEST(RetryPolicyTest, ReasonNamesRetryNumberAndWait) {
  Decision d = no_jitter().decide(AttemptOutcome::http(500), 2, kNow);
  EXPECT_EQ(d.reason, "HTTP 500; retry 2/7 in 5m");
  EXPECT_EQ(with_draw(0.123).decide(AttemptOutcome::http(500), 1, kNow).reason,
            "HTTP 500; retry 1/7 in 4.246s");
}

TEST(RetryPolicyTest, FailingOnTheFourthFailureRecoveredAfterIt) {
  const RetryPolicy p = no_jitter();
  for (int attempt = 1; attempt <= 7; ++attempt)
    EXPECT_EQ(p.decide(AttemptOutcome::http(500), attempt, kNow).emit_failing, attempt == 4) << attempt;
  EXPECT_FALSE(p.decide(AttemptOutcome::http(500), 8, kNow).emit_failing);  // exhausted instead
  for (int attempt = 1; attempt <= 4; ++attempt)
    EXPECT_FALSE(p.decide(AttemptOutcome::http(200), attempt, kNow).emit_recovered) << attempt;
  for (int attempt = 5; attempt <= 8; ++attempt)
    EXPECT_TRUE(p.decide(AttemptOutcome::http(200), attempt, kNow).emit_recovered) << attempt;
}

}  // namespace
}  // namespace hookwire::delivery
