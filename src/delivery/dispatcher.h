// Dispatcher: drives deliveries from the store to the endpoints — at least once, signed, retried.
//
// Loop: lease due deliveries from the store's DeliveryQueue (store/delivery_queue.h; the lease outlives the
// HTTP timeout and is renewed while the delivery waits or is sent, so a slow receiver never causes a second
// concurrent attempt, and a crashed node's leases simply expire and are taken over), fail unsent those that
// have nothing left to send or nowhere to go (due_rules.h), send
// each one (Standard Webhooks signature with every active secret of the endpoint, the endpoint's custom
// headers), then record the attempt and the delivery's next state in one write: delivered, retry at the time
// RetryPolicy decides, exhausted (failed: a dead letter), or failed with the endpoint disabled (410). The
// same write keeps the endpoint's health: an endpoint failing continuously for `health.disable_after` (any
// success resets the clock) is disabled. The schedule lives in the store (next_attempt_at), so a restart
// resumes it exactly. Fairness: before sending, each delivery must be admitted by its endpoint's limits — its
// `rateLimit` (token bucket) and a cap on requests in flight to that endpoint. One not admitted waits in its
// endpoint's line (in memory, leased), started when a slot frees or when the bucket will have a token (a
// timer); past the line's short capacity it goes back to the store, due when it may go. Neither counts as an
// attempt: a slow or dead endpoint holds at most its own cap of slots. Operational webhooks (operational.h)
// raised by an attempt are written in its record.
//
// Threads: one thread with its own io_context runs the loop, the HTTP client and every attempt. wake() and
// stop() may be called from any thread. Time for due-ness and the schedule comes from the injected Clock; the
// loop also looks for due work every `poll_interval` and whenever wake() is called (new messages).
// Lifecycle: create(), start(); stop() stops claiming, aborts in-flight requests, records them as failed
// attempts to retry, and joins. stop() must be called before destruction (the destructor calls it).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "delivery/endpoint_health.h"
#include "delivery/http_client.h"
#include "delivery/rate_limiter.h"
#include "delivery/retry_policy.h"
#include "store/store.h"

namespace hookwire::delivery {

struct DispatcherOptions {
  HttpClientOptions http;
  RetryOptions retry;
  RandomSource random;                             // jitter draws; empty: a real random source
  int claim_batch = 256;                           // most deliveries leased per claim
  size_t max_in_flight = 512;                      // most attempts in flight at once
  std::chrono::milliseconds poll_interval{1000};   // look for due retries at least this often
  std::chrono::milliseconds lease_margin{30'000};  // lease = HTTP total timeout + this, renewed every third
  size_t max_logged_response = 4096;               // response bytes kept in the attempt log
  RateLimiterOptions limits;                       // per-endpoint in-flight cap (default 10) and rate buckets
  EndpointHealthOptions health;                    // auto-disable after failing continuously (default 5 days)
  bool svix_headers = false;                       // svix-* instead of webhook-* header names
  // How many nodes deliver from the store now (Store::live_nodes; empty: 1). An endpoint's rateLimit is
  // divided between them: each node's bucket fills at its share, and bursts by max(1, limit / nodes).
  std::function<int()> nodes;
  // With several nodes: how this node tells the others which rate-limited endpoints it has work for
  // (Store::announce; rate_shares.h), heard by theirs through Dispatcher::heard. Set, an endpoint's
  // limit is divided between the nodes that have work for it rather than between every live node, so a node
  // with nothing to send to it leaves its share to the others. An approximation (docs/operations.md).
  std::function<void(std::string topic)> announce;
  // The operational application (operational.h): when set, endpoint.disabled and message.attempt.* events
  // are written, as its messages, in the same write as the attempt that raised them.
  std::optional<std::string> operational_app_id;
  // Where this server's API is reached from outside (--public-url, no trailing '/'): thin endpoints are sent
  // `<public_url>/api/v1/app/{app}/msg/{msg}` as where to fetch each message (thin_payload).
  std::string public_url;
  // Called on the dispatcher's thread after each attempt's record is durable (or failed to be written):
  // how tests and callers wait for an outcome instead of polling. Must not block.
  std::function<void(const store::Delivery& after, const store::Attempt& attempt)> on_recorded;
};

class Dispatcher {
 public:
  // `store`, `clock` and `metrics` (optional) must outlive the dispatcher.
  static Result<std::unique_ptr<Dispatcher>> create(store::Store& store, const Clock& clock,
                                                    DispatcherOptions options, metrics::Registry* metrics);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Sets DispatcherOptions::public_url; only before start() (the app learns its port once it listens).
  void set_public_url(std::string url);
  void start();
  void wake();
  // A change another node published (Store::set_change_listener): its rate-limit announcements (announce)
  // are taken, other topics ignored, "*" taken as some missed. Any thread.
  void heard(std::string_view topic);
  void stop();

 private:
  class State;
  explicit Dispatcher(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// What a thin endpoint (Endpoint::thin) is sent instead of the payload, signed like any delivery:
// {"id","type","timestamp","url"}, the message's id, event type and creation time, and
// `<public_url>/api/v1/app/{app id}/msg/{msg id}`, where the receiver fetches the whole message.
std::string thin_payload(const store::Message& msg, std::string_view public_url);

// What an attempt records of the request it sent (store::Attempt::request_headers): the fields the HTTP
// client sends for `headers` (for_each_sent_field: all but Host and Content-Length), `name: value` lines
// joined by '\n', the values of sensitive headers (is_sensitive_header) replaced by `[redacted]`.
std::string recorded_request_headers(const Headers& headers, std::string_view user_agent);

}  // namespace hookwire::delivery
