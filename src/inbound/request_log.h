// RequestLog: the requests inbound sources were sent, kept for the console ("rejected requests and why", the
// request inspector). The gateway keeps every request it refuses once the source is known (401, 403, 413,
// 400, and a request it could not keep: 404/503/500), and every request of a source whose verifier is
// `none` (accepted and duplicates too); never the 404 of an unknown source name. Records are store rows
// (store::SourceRequest), so every node sharing a store sees them.
//
// Cheap and bounded:
//  - at most kKeptPerSource records per source: each insert deletes the source's older ones (the store's
//    bound is exact); deleted with the source; the janitor removes the orphans of a source deleted by another
//    node while a record was being written;
//  - at most kRecordsPerSecond records per source per second (a LogThrottle window on the injected clock):
//  the
//    rest are counted (inbound_requests_unrecorded_total{source}) and logged, rate-limited;
//  - written as bookkeeping (Ack::kCommitted: no wait for the flush; PostgreSQL commits such a batch with
//    synchronous_commit off) and never awaited: record() queues the write and returns, so the HTTP answer
//    never waits for it. A failed write is counted (inbound_request_log_failures_total) and logged,
//    rate-limited.
//  - accepted requests of the other verifiers cost nothing: the gateway does not call record() for them.
// What a record holds: the request line, every header (lowercase names; several lines of one name joined
// with ", "; the values of Authorization, Cookie, Proxy-Authorization and a static-token source's token
// header replaced by "[redacted]"; bytes that are not UTF-8 replaced by U+FFFD), the first kKeptBodyBytes
// of the body (as UTF-8 text when it is UTF-8 without NUL, else base64; body_truncated when cut), the status,
// outcome, code and reason answered, the client address as the gateway decided it, and the message id.
//
// Live views: after a record's write commits, the source's waiters are woken (wait(), a FeedHub keyed by
// source id). Only this process's records wake them: another node's are seen by the next read.
//
// Thread-safety: every member may be called from any thread; wait() from a coroutine, where it resumes. The
// store, clock and metrics registry must outlive the store's last write (the writes' completions share
// what they touch with the log, so the log itself may go first).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log_throttle.h"
#include "core/metrics.h"
#include "feed/hub.h"
#include "inbound/source.h"
#include "store/store.h"

namespace hookwire::inbound {

inline constexpr int kKeptPerSource = 100;
inline constexpr size_t kKeptBodyBytes = 64 * 1024;
inline constexpr uint32_t kRecordsPerSecond = 20;
inline constexpr std::string_view kRedacted = "[redacted]";

// The request line and header fields of an inbound request, for its record. `each_header` calls its
// argument with every field (name as sent, value), in order; empty: no headers known.
using HeaderVisitor = std::function<void(std::string_view name, std::string_view value)>;
struct RequestHead {
  std::string_view method;
  std::string_view target;
  std::function<void(const HeaderVisitor&)> each_header;
};

// What the gateway answered, for the record.
struct RequestFacts {
  int status = 0;
  std::string_view outcome;     // "accepted", "duplicate" or "rejected"
  std::string_view code;        // the refusal's machine code; "" for none
  std::string_view reason;      // the human text answered; "" for none
  std::string_view message_id;  // "" for none
  std::string client_address;
};

// The record of one request (pure: no I/O). `id` is its sreq_ id.
store::SourceRequest make_source_request(std::string id, const CompiledSource& src, const RequestHead& head,
                                         std::string_view body, const RequestFacts& facts, TimePoint now);

class RequestLog {
 public:
  struct Options {
    int keep = kKeptPerSource;
    uint32_t per_second = kRecordsPerSecond;
  };
  RequestLog(store::Store& store, const Clock& clock, metrics::Registry& metrics, Options options);
  RequestLog(store::Store& store, const Clock& clock, metrics::Registry& metrics)
      : RequestLog(store, clock, metrics, Options{}) {}
  ~RequestLog();

  // Keeps a record of the request (queued, not awaited) unless the source is over its rate: then counts it in
  // `unrecorded` and logs it (rate-limited). Returns whether it was queued.
  bool record(const CompiledSource& src, const RequestHead& head, std::string_view body,
              const RequestFacts& facts, metrics::Counter& unrecorded);

  // For live views: read `sequence()` before a read of the store; if the read found nothing new, wait(source,
  // seen, timeout) returns kAdvanced as soon as a record of the source committed after `seen` was taken (at
  // once if one did meanwhile), kTimeout, or kStopped once stop() was called.
  int64_t sequence() const;
  boost::asio::awaitable<feed::FeedHub::Wake> wait(std::string source_id, int64_t seen,
                                                   std::chrono::milliseconds timeout);
  // Ends every wait at once, and those to come (shutdown).
  void stop();

 private:
  struct Shared;
  store::Store& store_;
  const Clock& clock_;
  const Options options_;
  LogThrottle throttle_;      // records per source per second
  LogThrottle log_throttle_;  // lines about the records not kept
  std::shared_ptr<Shared> shared_;
};

}  // namespace hookwire::inbound
