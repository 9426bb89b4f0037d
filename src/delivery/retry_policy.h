// RetryPolicy: what to do after one delivery attempt. Pure decision logic: no I/O, no threads, no clock
// reads.
//
// The dispatcher makes an attempt, classifies what happened into an AttemptOutcome, and asks
// `decide(outcome, attempts_made, now)`. The answer is a Decision with an absolute `retry_at` time, which the
// dispatcher persists with the attempt count; after a restart it resumes from the stored time and count, so
// the schedule survives restarts exactly (nothing here depends on process state).
//
// Rules (Svix-compatible, see /work/shared/PROTOCOLS.md):
//   * 2xx -> delivered. 410 Gone -> disable the endpoint; the delivery is marked failed, no more retries.
//   * Anything else fails the attempt: 1xx/3xx (redirects are not followed), 4xx, 5xx, timeouts, connection /
//     DNS / TLS errors, and requests the SSRF guard refused to send.
//   * After `attempts_made` attempts (1-based), retry number n = attempts_made waits schedule[n-1] +- jitter;
//     when attempts_made > schedule.size() the delivery is exhausted (dead letter). With the default schedule
//     that is 8 attempts in all: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
//   * Jitter: the wait is scheduled * (1 + jitter * (2u - 1)) with u from the injected random source in [0,
//   1],
//     so u = 0 gives exactly -jitter and u = 1 exactly +jitter. Computed in whole milliseconds.
//   * Retry-After (delta-seconds or any of the three HTTP-date forms of RFC 9110, relative to `now`) is
//   honoured
//     on every failed HTTP response, clamped to [w, 2w] where w is the jittered scheduled wait (Svix's
//     bounds: a receiver can slow us down, at most to twice the schedule, and never make us retry sooner than
//     the schedule). A malformed or absent header is ignored.
//   * Back-off floor: after a 429, a 502/503/504 (the receiver or its gateway says "overloaded/down") or a
//     client-side timeout, the wait is at least `min_wait_after_throttle` (60 s), applied last, so it also
//     beats a short schedule entry and a short clamped Retry-After.
//   * Blocked by the SSRF guard: a normal, retryable failure. The guard's verdict depends on DNS answers and
//     on operator configuration (allow-lists), both of which can change while the delivery is pending, and a
//     blocked attempt sends no traffic, so retrying costs nothing. An endpoint that stays blocked is disabled
//     by EndpointHealth after its failing period, like any dead endpoint.
//
// Operational webhooks (Svix contract, per message): `message.attempt.failing` is sent on the 4th failed
// attempt of a message (Decision::emit_failing), `message.attempt.exhausted` when the decision is kExhausted,
// `message.attempt.recovered` on a success after a failing event was sent, i.e. a 2xx on attempt 5 or later
// (Decision::emit_recovered).
//
// Thread-safety: `decide` is const and safe to call concurrently iff the random source is; the default source
// (a thread_local engine) is.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace hookwire::delivery {

using RetryDuration = std::chrono::milliseconds;

// A uniform draw in [0, 1]; values outside are clamped. Tests pass a constant or a seeded engine.
using RandomSource = std::function<double()>;

// A RandomSource over a std::mt19937_64 seeded with `seed` (deterministic; not thread-safe on its own).
RandomSource seeded_random_source(uint64_t seed);

// Svix's schedule: 5s, 5m, 30m, 2h, 5h, 10h, 10h.
std::vector<RetryDuration> default_retry_schedule();

// Parses "5s,5m,30m,2h,5h,10h,10h": comma-separated non-negative integers, each with a unit of ms, s, m, h
// or d; spaces around entries are allowed. Errors (kValidation, field "retry_schedule") name the entry and
// what is wrong with it. An empty schedule is an error (it would mean "never retry"; say so explicitly with
// a configuration of its own if ever needed).
Result<std::vector<RetryDuration>> parse_retry_schedule(std::string_view text);
// The inverse of parse_retry_schedule, using the largest unit that divides each entry: "5s,5m,30m,2h".
std::string format_retry_schedule(const std::vector<RetryDuration>& schedule);

// Parses a Retry-After value into a wait relative to `now`: delta-seconds ("120") or an HTTP-date
// (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime
// "Sun Nov  6 08:49:37 1994"). A date in the past gives zero. nullopt for anything malformed. Very large
// delta-seconds saturate (the caller clamps anyway).
std::optional<RetryDuration> parse_retry_after(std::string_view value, TimePoint now);

struct RetryOptions {
  std::vector<RetryDuration> schedule = default_retry_schedule();
  double jitter = 0.2;  // fraction of each wait, in [0, 1)
  RetryDuration min_wait_after_throttle = std::chrono::seconds{60};
  // Retry-After is clamped to [w, retry_after_max_factor * w], w the jittered scheduled wait.
  double retry_after_max_factor = 2.0;  // >= 1
  bool honour_retry_after = true;
};

// What happened on one attempt, as the HTTP client and SSRF guard report it.
struct AttemptOutcome {
  enum class Kind {
    kHttpResponse,  // the receiver answered; `status` says how
    kTimeout,       // no complete response within the request timeout
    kNetworkError,  // DNS, connect, TLS handshake/verification, reset, malformed response
    kBlocked,       // the SSRF guard refused the destination; nothing was sent
  };
  Kind kind = Kind::kHttpResponse;
  int status = 0;                          // for kHttpResponse
  std::optional<std::string> retry_after;  // raw Retry-After header value, if the response had one
  std::string detail;                      // free text for the reason (e.g. "TLS: certificate expired")

  static AttemptOutcome http(int status, std::optional<std::string> retry_after = std::nullopt);
  static AttemptOutcome timeout(std::string detail = {});
  static AttemptOutcome network_error(std::string detail);
  static AttemptOutcome blocked(std::string detail);
};

struct Decision {
  enum class Kind {
    kDelivered,        // 2xx: done
    kRetry,            // try again at retry_at
    kExhausted,        // the schedule is used up: dead letter (message.attempt.exhausted)
    kDisableEndpoint,  // 410 Gone: disable the endpoint; this delivery is failed, no further retries
  };
  Kind kind = Kind::kDelivered;
  TimePoint retry_at{};         // meaningful for kRetry only
  std::string reason;           // one line for logs and the attempt record: "HTTP 503; retry 2/7 in 5m"
  bool emit_failing = false;    // send message.attempt.failing (4th failed attempt, delivery continues)
  bool emit_recovered = false;  // send message.attempt.recovered (success after a failing event)
};

class RetryPolicy {
 public:
  // The failed-attempt count at which message.attempt.failing fires (Svix: the fourth failure).
  static constexpr int kFailingAfterAttempts = 4;

  // Options must pass validate() (asserted). An empty random source means a thread_local engine seeded from
  // std::random_device.
  explicit RetryPolicy(RetryOptions options = {}, RandomSource random = {});

  // Checks configuration: non-empty schedule, no negative entries, jitter in [0, 1), min wait >= 0,
  // retry_after_max_factor >= 1. Errors are kValidation naming the option.
  static Status validate(const RetryOptions& options);

  // `attempts_made` counts attempts so far including the one that produced `outcome` (>= 1, asserted).
  Decision decide(const AttemptOutcome& outcome, int attempts_made, TimePoint now) const;

  // The jittered wait before retry number `retry_number` (1-based, <= schedule size) for a given draw u.
  RetryDuration jittered_wait(int retry_number, double u) const;

  const RetryOptions& options() const { return options_; }
  // Attempts in all, the first included: schedule.size() + 1.
  int max_attempts() const { return static_cast<int>(options_.schedule.size()) + 1; }

 private:
  RetryOptions options_;
  RandomSource random_;
};

}  // namespace hookwire::delivery
