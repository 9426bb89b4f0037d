#include "delivery/retry_policy.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <random>
#include <utility>

namespace hookwire::delivery {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kScheduleField = "retry_schedule";
constexpr milliseconds kMaxScheduleEntry = days{365};
constexpr int64_t kMaxRetryAfterSeconds = 10'000'000'000;  // ~317 years; the clamp brings it down anyway

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Parses exactly `n` digits at s[pos...]; -1 if they are not all digits.
int digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return -1;
    v = v * 10 + (s[pos + i] - '0');
  }
  return v;
}

// "HH:MM:SS" at s[pos...] into seconds of the day; -1 if malformed.
int64_t time_of_day(std::string_view s, size_t pos) {
  if (pos + 8 > s.size() || s[pos + 2] != ':' || s[pos + 5] != ':') return -1;
  int h = digits(s, pos, 2), m = digits(s, pos + 3, 2), sec = digits(s, pos + 6, 2);
  if (h < 0 || m < 0 || sec < 0 || h > 23 || m > 59 || sec > 60) return -1;
  return h * 3600 + m * 60 + sec;
}

int month_index(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < kMonths.size(); ++i)
    if (kMonths[i] == s) return static_cast<int>(i) + 1;
  return 0;
}

bool is_short_day(std::string_view s) {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  return std::find(kDays.begin(), kDays.end(), s) != kDays.end();
}

bool is_long_day(std::string_view s) {
  static constexpr std::array<std::string_view, 7> kDays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                            "Friday", "Saturday", "Sunday"};
  return std::find(kDays.begin(), kDays.end(), s) != kDays.end();
}

std::optional<TimePoint> make_time(int year, int month, int day, int64_t tod) {
  if (month < 1 || tod < 0) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return TimePoint{std::chrono::sys_days{ymd}.time_since_epoch() + seconds{tod}};
}

// RFC 9110 section 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms recipients must accept.
std::optional<TimePoint> parse_http_date(std::string_view s, TimePoint now) {
  auto comma = s.find(',');
  if (comma != std::string_view::npos) {
    std::string_view day_name = s.substr(0, comma);
    std::string_view rest = s.substr(comma + 1);
    if (is_short_day(day_name)) {
      // " 06 Nov 1994 08:49:37 GMT"
      if (rest.size() != 25 || rest[0] != ' ' || rest[3] != ' ' || rest[7] != ' ' || rest[12] != ' ' ||
          rest.substr(21) != " GMT")
        return std::nullopt;
      int day = digits(rest, 1, 2), year = digits(rest, 8, 4);
      if (day < 0 || year < 0) return std::nullopt;
      return make_time(year, month_index(rest.substr(4, 3)), day, time_of_day(rest, 13));
    }
    if (is_long_day(day_name)) {
      // " 06-Nov-94 08:49:37 GMT"
      if (rest.size() != 23 || rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' || rest[10] != ' ' ||
          rest.substr(19) != " GMT")
        return std::nullopt;
      int day = digits(rest, 1, 2), yy = digits(rest, 8, 2);
      if (day < 0 || yy < 0) return std::nullopt;
      // RFC 9110: a two-digit year more than 50 years in the future means the previous century; and
      // symmetrically (late in a century) one 50 or more years in the past means the next one.
      int now_year = static_cast<int>(std::chrono::year_month_day{std::chrono::floor<days>(now)}.year());
      int year = now_year / 100 * 100 + yy;
      if (year > now_year + 50) {
        year -= 100;
      } else if (year <= now_year - 50) {
        year += 100;
      }
      return make_time(year, month_index(rest.substr(4, 3)), day, time_of_day(rest, 11));
    }
    return std::nullopt;
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' ||
      !is_short_day(s.substr(0, 3)))
    return std::nullopt;
  int day = s[8] == ' ' ? digits(s, 9, 1) : digits(s, 8, 2);
  int year = digits(s, 20, 4);
  if (day < 0 || year < 0) return std::nullopt;
  return make_time(year, month_index(s.substr(4, 3)), day, time_of_day(s, 11));
}

// "1h2m3s", "4.321s", "0s": compact and exact, for reason texts.
std::string human(milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, rem = ms % 1000;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s || rem) {
    out += std::to_string(s);
    if (rem) {
      std::string frac = std::to_string(rem);
      frac.insert(0, 3 - frac.size(), '0');
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    out += "s";
  }
  return out;
}

std::string describe_failure(const AttemptOutcome& o) {
  std::string text;
  switch (o.kind) {
    case AttemptOutcome::Kind::kHttpResponse:
      text = "HTTP " + std::to_string(o.status);
      if (o.status >= 300 && o.status < 400) text += " (redirects are not followed)";
      break;
    case AttemptOutcome::Kind::kTimeout:
      text = "timeout";
      break;
    case AttemptOutcome::Kind::kNetworkError:
      text = "network error";
      break;
    case AttemptOutcome::Kind::kBlocked:
      text = "blocked by SSRF guard";
      break;
  }
  if (!o.detail.empty()) text += ": " + o.detail;
  return text;
}

// Outcomes after which the receiver (or its gateway) has told us it is overloaded or gone quiet.
bool is_throttle(const AttemptOutcome& o) {
  if (o.kind == AttemptOutcome::Kind::kTimeout) return true;
  if (o.kind != AttemptOutcome::Kind::kHttpResponse) return false;
  return o.status == 429 || o.status == 502 || o.status == 503 || o.status == 504;
}

RandomSource default_random_source() {
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

}  // namespace

RandomSource seeded_random_source(uint64_t seed) {
  return [engine = std::mt19937_64{seed}]() mutable {
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

std::vector<RetryDuration> default_retry_schedule() {
  return {seconds{5}, minutes{5}, minutes{30}, hours{2}, hours{5}, hours{10}, hours{10}};
}

Result<std::vector<RetryDuration>> parse_retry_schedule(std::string_view text) {
  std::vector<RetryDuration> out;
  if (trim(text).empty())
    return Error::validation(std::string(kScheduleField),
                             "retry schedule is empty; expected e.g. \"5s,5m,2h\"");
  size_t index = 0;
  while (true) {
    ++index;
    size_t comma = text.find(',');
    std::string_view raw = text.substr(0, comma);
    std::string_view entry = trim(raw);
    auto fail = [&](std::string what) -> Result<std::vector<RetryDuration>> {
      return Error::validation(std::string(kScheduleField), "retry schedule entry " + std::to_string(index) +
                                                                " \"" + std::string(entry) + "\": " + what);
    };
    size_t n = 0;
    while (n < entry.size() && is_digit(entry[n])) ++n;
    if (entry.empty()) return fail("empty entry");
    if (n == 0) return fail("expected a non-negative whole number followed by a unit (ms, s, m, h, d)");
    if (n > 12) return fail("number too large");
    int64_t value = 0;
    for (size_t i = 0; i < n; ++i) value = value * 10 + (entry[i] - '0');
    std::string_view unit = entry.substr(n);
    milliseconds d;
    if (unit == "ms") {
      d = milliseconds{value};
    } else if (unit == "s") {
      d = seconds{value};
    } else if (unit == "m") {
      d = minutes{value};
    } else if (unit == "h") {
      d = hours{value};
    } else if (unit == "d") {
      if (value > 365) return fail("longer than 365d");
      d = days{value};
    } else if (unit.empty()) {
      return fail("missing unit (ms, s, m, h, d)");
    } else {
      return fail("unknown unit \"" + std::string(unit) + "\" (use ms, s, m, h, d)");
    }
    if (d > kMaxScheduleEntry) return fail("longer than 365d");
    out.push_back(d);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string format_retry_schedule(const std::vector<RetryDuration>& schedule) {
  static constexpr std::array<std::pair<int64_t, std::string_view>, 4> kUnits = {
      {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
  std::string out;
  for (RetryDuration d : schedule) {
    if (!out.empty()) out += ',';
    int64_t ms = d.count();
    std::string piece = std::to_string(ms) + "ms";
    if (ms == 0) piece = "0s";
    for (auto [size, unit] : kUnits) {
      if (ms != 0 && ms % size == 0) {
        piece = std::to_string(ms / size) + std::string(unit);
        break;
      }
    }
    out += piece;
  }
  return out;
}

std::optional<RetryDuration> parse_retry_after(std::string_view value, TimePoint now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), is_digit)) {
    int64_t secs = 0;
    for (char c : value) {
      secs = secs * 10 + (c - '0');
      if (secs > kMaxRetryAfterSeconds) {
        secs = kMaxRetryAfterSeconds;
        break;
      }
    }
    return seconds{secs};
  }
  auto date = parse_http_date(value, now);
  if (!date) return std::nullopt;
  if (*date <= now) return milliseconds{0};
  return std::chrono::ceil<milliseconds>(*date - now);
}

AttemptOutcome AttemptOutcome::http(int status, std::optional<std::string> retry_after) {
  AttemptOutcome o;
  o.kind = Kind::kHttpResponse;
  o.status = status;
  o.retry_after = std::move(retry_after);
  return o;
}

AttemptOutcome AttemptOutcome::timeout(std::string detail) {
  AttemptOutcome o;
  o.kind = Kind::kTimeout;
  o.detail = std::move(detail);
  return o;
}

AttemptOutcome AttemptOutcome::network_error(std::string detail) {
  AttemptOutcome o;
  o.kind = Kind::kNetworkError;
  o.detail = std::move(detail);
  return o;
}

AttemptOutcome AttemptOutcome::blocked(std::string detail) {
  AttemptOutcome o;
  o.kind = Kind::kBlocked;
  o.detail = std::move(detail);
  return o;
}

RetryPolicy::RetryPolicy(RetryOptions options, RandomSource random)
    : options_(std::move(options)), random_(random ? std::move(random) : default_random_source()) {
  assert(validate(options_).ok());
}

Status RetryPolicy::validate(const RetryOptions& o) {
  if (o.schedule.empty()) return Error::validation(std::string(kScheduleField), "retry schedule is empty");
  for (RetryDuration d : o.schedule)
    if (d.count() < 0) return Error::validation(std::string(kScheduleField), "negative retry schedule entry");
  if (!(o.jitter >= 0.0 && o.jitter < 1.0))
    return Error::validation("retry_jitter", "jitter must be a fraction in [0, 1)");
  if (o.min_wait_after_throttle.count() < 0)
    return Error::validation("retry_min_wait_after_throttle", "must not be negative");
  if (!(o.retry_after_max_factor >= 1.0))
    return Error::validation("retry_after_max_factor", "must be at least 1");
  return {};
}

RetryDuration RetryPolicy::jittered_wait(int retry_number, double u) const {
  assert(retry_number >= 1 && retry_number <= static_cast<int>(options_.schedule.size()));
  const int64_t base = options_.schedule[retry_number - 1].count();
  if (!(u >= 0.0)) u = 0.0;  // also catches NaN
  if (u > 1.0) u = 1.0;
  // |offset| <= jitter * base exactly; the epsilon keeps u = 1 from losing a millisecond to rounding.
  const auto max_offset =
      static_cast<int64_t>(std::floor(static_cast<double>(base) * options_.jitter + 1e-9));
  int64_t offset = std::llround(static_cast<double>(base) * options_.jitter * (2.0 * u - 1.0));
  offset = std::clamp(offset, -max_offset, max_offset);
  return RetryDuration{base + offset};
}

Decision RetryPolicy::decide(const AttemptOutcome& outcome, int attempts_made, TimePoint now) const {
  assert(attempts_made >= 1);
  Decision d;
  const bool http = outcome.kind == AttemptOutcome::Kind::kHttpResponse;
  if (http && outcome.status >= 200 && outcome.status < 300) {
    d.kind = Decision::Kind::kDelivered;
    d.reason = "HTTP " + std::to_string(outcome.status);
    d.emit_recovered = attempts_made > kFailingAfterAttempts;
    return d;
  }
  if (http && outcome.status == 410) {
    d.kind = Decision::Kind::kDisableEndpoint;
    d.reason = "HTTP 410 Gone: endpoint disabled, delivery failed";
    return d;
  }

  std::string failure = describe_failure(outcome);
  const int retries = static_cast<int>(options_.schedule.size());
  if (attempts_made > retries) {
    d.kind = Decision::Kind::kExhausted;
    d.reason = failure + "; exhausted after " + std::to_string(attempts_made) + " attempts";
    return d;
  }

  const RetryDuration scheduled = jittered_wait(attempts_made, random_());
  RetryDuration wait = scheduled;
  std::string note;
  if (http && options_.honour_retry_after && outcome.retry_after) {
    if (auto ra = parse_retry_after(*outcome.retry_after, now)) {
      const auto upper = RetryDuration{
          std::llround(static_cast<double>(scheduled.count()) * options_.retry_after_max_factor)};
      wait = std::clamp(*ra, scheduled, upper);
      note = "; Retry-After " + human(*ra) +
             (wait == *ra ? "" : " clamped to [" + human(scheduled) + ", " + human(upper) + "]");
    } else {
      note = "; malformed Retry-After ignored";
    }
  }
  if (is_throttle(outcome) && wait < options_.min_wait_after_throttle) {
    wait = options_.min_wait_after_throttle;
    note += "; at least " + human(wait) + " after " + (http ? std::to_string(outcome.status) : "a timeout");
  }

  d.kind = Decision::Kind::kRetry;
  d.retry_at = now + wait;
  d.emit_failing = attempts_made == kFailingAfterAttempts;
  d.reason = failure + "; retry " + std::to_string(attempts_made) + "/" + std::to_string(retries) + " in " +
             human(wait) + note;
  return d;
}

}  // namespace hookwire::delivery
