// Gateway: the receiving half of hookwire. One call per `POST /in/{source}`:
//   source (404) -> client address (403) -> body limit (413) -> signature on the raw bytes (401, with the
//   reason) -> body is JSON (400) -> GitHub ping answered (200, nothing kept) -> ONE store write: the
//   deduplication record (a live one makes the request a duplicate: 200, nothing new) and the message in the
//   source's application with its fan-out deliveries -> 202 once durable -> the dispatcher forwards. The
//   write checks that the application still exists (404 otherwise), so a request racing a deletion keeps
//   nothing.
// What was refused once the source was known, and every request of a source whose verifier is `none`, is
// kept in the request log (request_log.h), written in the background: the answer never waits for it.
// Sources are cached compiled (verifier built, networks parsed). Every change to a source goes through this
// process (embedded store), and its writer calls invalidate() after the change commits; a load racing an
// invalidate is dropped (generation counter), so the cache never keeps a stale source. Names the store does
// not know are cached too (at most kMaxAbsent of them, the oldest forgotten first; invalidate() drops them,
// so a source created after a 404 for its name is found at once), so that lookup() can answer on a request's
// head, before its body is read: 404 for an unknown source, 413 for a declared length over its bodyLimit.
// A store several nodes share (Store::shared()) has changes this process hears of only later (the change
// listener calls invalidate()), so there receive() reads the source's id and revision for every request (a
// read, not a write) and uses the cached source only if it is still the stored one: a change committed on
// any node is used by the next request everywhere. Names are then not cached as absent; a cached source's
// body limit may still answer a request's head (413) for the moment until the change is heard of.
//
// Threads: receive() runs on the caller's executor (an HTTP loop) and co_awaits store work; every member is
// thread-safe. The store, clock and metrics registry must outlive the gateway.
#pragma once

#include <hookwire/signing.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/log_throttle.h"
#include "core/metrics.h"
#include "inbound/request_log.h"
#include "inbound/source.h"
#include "store/store.h"

namespace hookwire::inbound {

struct GatewayOptions {
  size_t max_body_limit = 1 << 20;  // the HTTP server's own limit: a source's bodyLimit may only lower it
  // Called after an accepted request's deliveries are durable (wakes the dispatcher). Thread-safe.
  std::function<void()> on_deliveries_created;
  // The request log's bound and rate (request_log.h); tests lower them.
  RequestLog::Options request_log;
};

// A compiled source as the gateway caches it (opaque outside gateway.cc).
struct CachedSource;

// One inbound request. The views must stay valid until receive()'s awaitable completes.
struct Incoming {
  std::string_view source;  // id or uid, from the path
  boost::asio::ip::address peer;
  signing::HeaderLookup headers;
  std::string_view body;
  // The request line and every header, for the request log (request_log.h): read only when the request is
  // kept there (a refusal, or any request of a source whose verifier is `none`).
  RequestHead head;
  // The source as lookup() found it on the request's head, if it did: receive() then does not look it up
  // again (unless the cache was invalidated since).
  std::shared_ptr<const CachedSource> source_entry;
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

  // What the cache knows of a source name, without waiting (no store access): for the HTTP server to
  // answer on a request's head. kNotCached: ask warm(), or let the request through to receive().
  struct Lookup {
    enum class Kind { kKnown, kAbsent, kNotCached };
    Kind kind = Kind::kNotCached;
    size_t body_limit = 0;                      // with kKnown: the source's bodyLimit
    std::shared_ptr<const CachedSource> entry;  // with kKnown: pass it on in Incoming::source_entry
  };
  // A name that is not a token (no source can have it) is kAbsent. Thread-safe; one shared lock.
  Lookup lookup(std::string_view source) const;
  // lookup() with its refusal: 404 (counted and logged as receive() would) or 413 for a `content_length`
  // over the source's limit (kept in the request log with `head`, without a body); nullopt when the request
  // may go on (its body limit then is `body_limit`).
  std::optional<Outcome> admit(const Lookup& found, std::string_view source,
                               std::optional<uint64_t> content_length, const boost::asio::ip::address& peer,
                               const RequestHead& head = {});
  // Loads `source` into the cache (or records it absent), so that the next lookup() knows it. Never throws:
  // on a store error the name stays not cached (receive() answers 503 then).
  boost::asio::awaitable<void> warm(std::string source);
  // The most names kept as absent.
  static constexpr size_t kMaxAbsent = 1024;
  // How many names are cached as absent (tests).
  size_t absent_count() const;

  // Drops every cached source; call after any change to a source has committed.
  void invalidate();
  // Counts a successful delivery of a message of application `app_id` (dispatcher's callback; any thread).
  void note_delivered(const std::string& app_id);
  // Registers the metrics of a source (so forwards are counted before its first request, e.g. after a
  // restart). Idempotent.
  void note_source(const store::Source& record);

  const GatewayOptions& options() const { return options_; }
  // The requests the sources were sent (request_log.h): the API's source request routes read it; the app
  // stops it (every held live view answers) before the HTTP server.
  RequestLog& request_log() { return request_log_; }
  // Sets GatewayOptions::on_deliveries_created; only before the first receive().
  void set_on_deliveries_created(std::function<void()> fn) { options_.on_deliveries_created = std::move(fn); }

  struct Counters;

 private:
  using Entry = CachedSource;
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  boost::asio::awaitable<std::shared_ptr<const Entry>> find(std::string key);
  // A shared store: `entry` (or the cached one) if the stored source named `key` is still it (same id and
  // revision), else the stored one compiled and cached (the cache dropped first: it is stale), or null when
  // the name is no longer a source's.
  boost::asio::awaitable<std::shared_ptr<const Entry>> current(std::string key,
                                                               std::shared_ptr<const Entry> entry);
  // Compiles `record` and caches it if the cache is still at `generation`. Throws if it does not compile.
  std::shared_ptr<const Entry> cache(const store::Source& record, uint64_t generation);
  // Records `key` as absent if the cache is still at `generation`; under mu_ (unique).
  void note_absent(const std::string& key, uint64_t generation);
  Outcome not_found(std::string_view source, const boost::asio::ip::address& peer);
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
  RequestLog request_log_;

  mutable std::shared_mutex mu_;
  std::atomic<uint64_t> generation_ = 0;  // written under mu_ (unique); read without it by receive()
  std::unordered_map<std::string, std::shared_ptr<const Entry>, NameHash, std::equal_to<>>
      cache_;  // by id and by uid
  // Names the store did not have, at most kMaxAbsent: absent_order_ is a ring of them, oldest at
  // absent_next_ once full.
  std::unordered_set<std::string, NameHash, std::equal_to<>> absent_;
  std::vector<std::string> absent_order_;
  size_t absent_next_ = 0;

  std::mutex counters_mu_;
  std::unordered_map<std::string, std::unique_ptr<Counters>> counters_;  // by label
  std::unordered_map<std::string, metrics::Counter*> forwarded_by_app_;
};

// The dedup key or event type named by `what`, from the headers or the parsed JSON body ("" if absent).
// Strings are taken as they are; numbers are written in decimal.
std::string extract(const Extract& what, const signing::HeaderLookup& headers,
                    const boost::json::value* body);

}  // namespace hookwire::inbound
