// Gateway: the receiving half of hookwire. One call per `POST /in/{source}`:
//   source (404) -> client address (403) -> body limit (413) -> signature on the raw bytes (401, with the
//   reason) -> body is JSON (400) -> GitHub ping answered (200, nothing kept) -> ONE store write: the
//   deduplication record (a live one makes the request a duplicate: 200, nothing new) and the message in the
//   source's application with its fan-out deliveries -> 202 once durable -> the dispatcher forwards. The
//   write checks that the application still exists (404 otherwise), so a request racing a deletion keeps
//   nothing.
// Sources are cached compiled (verifier built, networks parsed). Every change to a source goes through this
// process (embedded store), and its writer calls invalidate() after the change commits; a load racing an
// invalidate is dropped (generation counter), so the cache never keeps a stale source.
//
// Threads: receive() runs on the caller's executor (an HTTP loop) and co_awaits store work; every member is
// thread-safe. The store, clock and metrics registry must outlive the gateway.
#pragma once

#include <hookwire/signing.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/log_throttle.h"
#include "core/metrics.h"
#include "inbound/source.h"
#include "store/store.h"

namespace hookwire::inbound {

struct GatewayOptions {
  size_t max_body_limit = 1 << 20;  // the HTTP server's own limit: a source's bodyLimit may only lower it
  // Called after an accepted request's deliveries are durable (wakes the dispatcher). Thread-safe.
  std::function<void()> on_deliveries_created;
};

// One inbound request. The views must stay valid until receive()'s awaitable completes.
struct Incoming {
  std::string_view source;  // id or uid, from the path
  boost::asio::ip::address peer;
  signing::HeaderLookup headers;
  std::string_view body;
};

// The answer: an HTTP status and a JSON body ({"id"} when kept; {"code","detail"} when refused).
struct Outcome {
  int status = 500;
  std::string body;
};

class Gateway {
 public:
  Gateway(store::Store& store, const Clock& clock, metrics::Registry& metrics, GatewayOptions options);
  ~Gateway();

  boost::asio::awaitable<Outcome> receive(Incoming in);

  // Drops every cached source; call after any change to a source has committed.
  void invalidate();
  // Counts a successful delivery of a message of application `app_id` (dispatcher's callback; any thread).
  void note_delivered(const std::string& app_id);
  // Registers the metrics of a source (so forwards are counted before its first request, e.g. after a
  // restart). Idempotent.
  void note_source(const store::Source& record);

  const GatewayOptions& options() const { return options_; }
  // Sets GatewayOptions::on_deliveries_created; only before the first receive().
  void set_on_deliveries_created(std::function<void()> fn) { options_.on_deliveries_created = std::move(fn); }

  struct Counters;

 private:
  struct Entry;
  boost::asio::awaitable<std::shared_ptr<const Entry>> find(std::string key);
  Counters& counters_for(const std::string& label);
  // A warning for a refused request, rate-limited per source and reason (log_throttle_). Never the body, a
  // secret or a signature: `detail` is hookwire's own text.
  void log_refusal(std::string_view label, std::string_view reason, int status, std::string_view client,
                   std::string_view detail);

  store::Store& store_;
  const Clock& clock_;
  metrics::Registry& metrics_;
  GatewayOptions options_;
  metrics::Counter* unknown_source_ = nullptr;
  LogThrottle log_throttle_;

  std::shared_mutex mu_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> cache_;  // by id and by uid

  std::mutex counters_mu_;
  std::unordered_map<std::string, std::unique_ptr<Counters>> counters_;  // by label
  std::unordered_map<std::string, metrics::Counter*> forwarded_by_app_;
};

// The dedup key or event type named by `what`, from the headers or the parsed JSON body ("" if absent).
// Strings are taken as they are; numbers are written in decimal.
std::string extract(const Extract& what, const signing::HeaderLookup& headers,
                    const boost::json::value* body);

}  // namespace hookwire::inbound
