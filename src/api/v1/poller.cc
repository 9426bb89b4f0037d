// Reading an application's log through a sink (issue #19, docs/pull.md "Routes"): Svix's poller
// (/api/v1/app/{app}/poller/{sink}[/consumer/{consumer}[/seek]]) and polling endpoint
// (/api/v1/app/{app}/polling-endpoint/{sink}/consumer/{consumer}[/commit]), with hookwire's long-poll `wait`.
//
// Rules decided here (see also docs/architecture.md, "api"):
//  - The sink is any endpoint of the application (id or uid); its event-type and channel filters apply. A
//    disabled endpoint still reads: disabling (by hand or after failures) stops pushes, while a reader pulls
//    at its own pace, so it is not a reason to hide the log.
//  - Every read is bounded by head = Store::feed_head(), taken before the read is submitted, and looks at
//    most kScanLimit rows; the iterator handed back is where the read stopped looking (FeedPage::scanned_to),
//    so a sink whose filter matches little never rescans.
//  - Poller consumers: a poll's move of the held position is conditional on the position it read (compare
//    and set in the writer); when another poll of the same consumer moved it first, the poll reads again from
//    there. So two concurrent polls never both return the same page as new, and a consumer never moves
//    backwards, except when the caller passes `iterator` (an explicit restart) or seeks.
//  - Polling-endpoint consumers (the same record): positions (position, leased_through] were handed out
//    and are leased until lease_until (one lease for all of them: a poll during a live lease extends it).
//    Such a poll's write is conditional on the whole record it read, as above.
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <chrono>

#include "api/v1/feed_reads.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "feed/cursor.h"
#include "feed/hub.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::FeedConsumer;
using store::FeedPage;

namespace {

constexpr int64_t kMaxWaitSeconds = 60;     // `wait`
constexpr int64_t kMaxLeaseMs = 3'600'000;  // `lease_duration_ms`: one hour
constexpr int64_t kDefaultLeaseMs = 30'000;
constexpr int kMaxConflicts = 16;  // a consumer moved by others this many times in a row: 409
// ---- Query parameters

Result<std::optional<int64_t>> int_param(const Query& q, std::string_view name, int64_t lo, int64_t hi) {
  auto text = q.get(name);
  if (!text) return std::optional<int64_t>();
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || ptr != text->data() + text->size() || n < lo || n > hi)
    return Error::validation("query." + std::string(name),
                             fmt::format("must be an integer between {} and {}", lo, hi));
  return std::optional<int64_t>(n);
}

struct ReadParams {
  FeedFilter filter;                    // limit, event_type, channel
  std::optional<std::string> iterator;  // as given; decoded against the log in the read
  std::optional<TimePoint> after;
  std::chrono::seconds wait{0};
  // polling-endpoint
  int64_t lease_ms = kDefaultLeaseMs;
  bool start_latest = false;
};

enum class Route { kPoll, kConsumerPoll, kLeasedPoll };

Status check_consumer_id(const std::string& id) {
  if (!is_token(id))
    return Error::validation("path.consumer_id", "must match ^[a-zA-Z0-9\\-_.]+$ (at most 256 characters)");
  return {};
}

// The parameters of a read; the consumer routes check their consumer id first.
Result<ReadParams> read_params(const Request& req, Route route, const std::string& consumer_id = {}) {
  if (route != Route::kPoll) {
    if (auto st = check_consumer_id(consumer_id); !st) return st.take_error();
  }
  auto q = Query::parse(req.target());
  if (!q) return q.take_error();
  ReadParams p;
  auto limit = int_param(*q, "limit", 1, 250);
  if (!limit) return limit.take_error();
  if (*limit) p.filter.limit = static_cast<int>(**limit);
  auto wait = int_param(*q, "wait", 0, kMaxWaitSeconds);
  if (!wait) return wait.take_error();
  if (*wait) p.wait = std::chrono::seconds(**wait);
  if (route != Route::kLeasedPoll) {
    if (auto it = q->get("iterator"); it && !it->empty()) p.iterator = std::move(*it);
  }
  if (route == Route::kPoll) {
    p.filter.event_type = q->get("event_type");
    if (p.filter.event_type && !is_token(*p.filter.event_type))
      return Error::validation("query.event_type", "must match ^[a-zA-Z0-9\\-_.]+$ (at most 256 characters)");
    auto channel = channel_param(*q);
    if (!channel) return channel.take_error();
    p.filter.channel = std::move(*channel);
    auto after = time_param(*q, "after");
    if (!after) return after.take_error();
    p.after = *after;
  }
  if (route == Route::kLeasedPoll) {
    auto lease = int_param(*q, "lease_duration_ms", 1, kMaxLeaseMs);
    if (!lease) return lease.take_error();
    if (*lease) p.lease_ms = **lease;
    if (auto sp = q->get("starting_position")) {
      if (*sp == "latest") {
        p.start_latest = true;
      } else if (*sp != "earliest") {
        return Error::validation("query.starting_position", "must be \"earliest\" or \"latest\"");
      }
    }
  }
  return p;
}

// ---- Reading

// One read: the sink, where the log starts, where this read started, what it found, and the consumer's
// record as it was read (consumer routes; nullopt: no such consumer yet).
struct Step {
  Sink sink;
  int64_t start = 0;
  int64_t from = 0;
  FeedPage page;
  std::optional<FeedConsumer> consumer;
};

// One read of the sink up to `head`, authorized on the first read (`authorized` remembers it). `origin(tx,
// step)` runs in the read with the sink and start set (from = start): it sets where the read starts and, on
// consumer routes, the consumer's record.
template <class Origin>
asio::awaitable<Result<Step>> read_step(const ApiContext* ctx, const Request& req, std::string app_id,
                                        std::string sink_id, FeedFilter filter, int64_t head,
                                        bool& authorized, Origin origin) {
  auto fn = [app_id = std::move(app_id), sink_id = std::move(sink_id), filter = std::move(filter), head,
             origin = std::move(origin)](store::Tx& tx) -> Result<Step> {
    auto sink = resolve_sink(tx, app_id, sink_id);
    if (!sink) return sink.take_error();
    auto start = tx.feed_start();
    if (!start) return start.take_error();
    Step step{std::move(*sink), *start, *start, FeedPage{}, std::nullopt};
    if (auto st = origin(tx, step); !st) return st.take_error();
    auto page = read_after(tx, step.sink, filter, step.from, head);
    if (!page) return page.take_error();
    step.page = std::move(*page);
    return step;
  };
  auto step = co_await store::read<Step>(*ctx->store, std::move(fn));
  if (!step) co_return step;
  if (!authorized) {
    if (auto st = authorize(ctx, req, step->sink.app_id, step->sink.endpoint_id); !st)
      co_return st.take_error();
    authorized = true;
  }
  co_return step;
}

// The sink of a route that writes without reading the log (seek, commit): resolved and authorized before
// anything is written.
asio::awaitable<Result<Sink>> authorized_sink(const ApiContext* ctx, const Request& req, std::string app_id,
                                              std::string sink_id) {
  auto resolve = [app_id = std::move(app_id), sink_id = std::move(sink_id)](store::Tx& tx) {
    return resolve_sink(tx, app_id, sink_id);
  };
  auto sink = co_await store::read<Sink>(*ctx->store, std::move(resolve));
  if (!sink) co_return sink;
  if (auto st = authorize(ctx, req, sink->app_id, sink->endpoint_id); !st) co_return st.take_error();
  co_return sink;
}

bool same_record(const std::optional<FeedConsumer>& a, const std::optional<FeedConsumer>& b) {
  if (!a || !b) return !a && !b;
  return a->position == b->position && a->leased_through == b->leased_through &&
         a->lease_until == b->lease_until;
}

// The consumer's record to write: `current`, or a new one, with the ids set.
FeedConsumer consumer_record(const std::optional<FeedConsumer>& current, const Sink& sink,
                             const std::string& consumer_id) {
  FeedConsumer c = current ? *current : FeedConsumer{};
  c.app_id = sink.app_id;
  c.endpoint_id = sink.endpoint_id;
  c.consumer_id = consumer_id;
  return c;
}

// The consumer routes' compare-and-set, run in the writer: writes make(current record) when the record is
// still `seen` (or always, with `force`). False: another request moved it first (read again).
template <class Make>
auto consumer_cas(const Sink& sink, const std::string& consumer_id, std::optional<FeedConsumer> seen,
                  bool force, Make make) {
  return [app_id = sink.app_id, endpoint_id = sink.endpoint_id, consumer_id, seen = std::move(seen), force,
          make = std::move(make)](store::Tx& tx) -> Result<bool> {
    auto current = find_consumer(tx, app_id, endpoint_id, consumer_id);
    if (!current) return current.take_error();
    if (!force && !same_record(*current, seen)) return false;
    if (auto st = tx.put_feed_consumer(make(*current)); !st) return st.take_error();
    return true;
  };
}

// A compare-and-set's outcome; after kMaxConflicts lost in a row, 409 naming `movers`.
Result<bool> counted(Result<bool> stored, int& conflicts, std::string_view movers) {
  if (stored && !*stored && ++conflicts > kMaxConflicts)
    return Error::conflict(fmt::format("the consumer is being moved by other {}; try again", movers));
  return stored;
}

// ---- Answers

// PollingEndpointOut {data, iterator, done}, or PollerV2PollOut {data, done} (with offsets) without iterator.
std::string page_json(const FeedPage& page, std::optional<int64_t> iterator) {
  std::string out = "{\"data\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) out += ',';
    append_feed_message(out, page.items[i], !iterator);
  }
  out += ']';
  if (iterator) out += ",\"iterator\":\"" + feed::encode_cursor(*iterator) + "\"";
  out += page.done ? ",\"done\":true}" : ",\"done\":false}";
  return out;
}

Response ok_json(const Request& req, std::string body) {
  return make_response(req, Reply{http::status::ok, std::move(body)});
}

// Long-poll: how long a request may still be held.
using Deadline = std::chrono::steady_clock::time_point;
std::chrono::milliseconds left(Deadline deadline) {
  // Rounded up: a request is never answered before its `wait` is over.
  return std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
}

// Holds the request until the application's log moves past `head`, the time is up, or the hub stops.
// False: answer now (time up or shutting down).
asio::awaitable<bool> hold(const ApiContext* ctx, std::string app_id, int64_t head, Deadline deadline,
                           std::chrono::milliseconds cap = std::chrono::milliseconds::max()) {
  if (!ctx->feed_hub) co_return false;
  auto remaining = std::min(left(deadline), cap);
  if (remaining <= std::chrono::milliseconds::zero()) co_return false;
  auto wake = co_await ctx->feed_hub->wait(std::move(app_id), head, remaining);
  if (wake == feed::FeedHub::Wake::kStopped) co_return false;
  co_return left(deadline) > std::chrono::milliseconds::zero() || wake == feed::FeedHub::Wake::kAdvanced;
}

// After a read: true to answer with it now (it found messages, the request does not wait, or the hold ended
// without news), false to read again (the scan stopped early while time lasts, or the log moved).
asio::awaitable<bool> answer_now(const ApiContext* ctx, const Step& step, std::chrono::seconds wait,
                                 int64_t head, Deadline deadline,
                                 std::chrono::milliseconds cap = std::chrono::milliseconds::max()) {
  if (!step.page.items.empty() || wait.count() == 0) co_return true;
  // Only rows the sink does not take so far: look further at once, while the time lasts.
  if (!step.page.done && left(deadline) > std::chrono::milliseconds::zero()) co_return false;
  co_return !co_await hold(ctx, step.sink.app_id, head, deadline, cap);
}

// ---- GET /app/{app}/poller/{sink}

asio::awaitable<Response> poll(const ApiContext* ctx, const Request& req, std::string app_id,
                               std::string sink_id) {
  auto params = read_params(req, Route::kPoll);
  if (!params) co_return feed_fail(req, params.error());
  const auto p = std::move(*params);
  const Deadline deadline = std::chrono::steady_clock::now() + p.wait;
  std::optional<int64_t> from;  // after the first read: where the next one continues
  bool authorized = false;
  for (;;) {
    const int64_t head = ctx->store->feed_head();
    auto origin = [p, from, head](store::Tx& tx, Step& s) -> Status {
      if (from) {
        s.from = std::max(*from, s.start);  // pruned meanwhile: nothing older is left to read
      } else if (p.iterator) {
        auto pos = iterator_position(*p.iterator, s.start, head);
        if (!pos) return pos.take_error();
        s.from = *pos;
      } else if (p.after) {
        auto pos = tx.feed_position_at(s.sink.app_id, *p.after);
        if (!pos) return pos.take_error();
        s.from = std::clamp(*pos, s.start, std::max(s.start, head));
      }
      return {};
    };
    auto step = co_await read_step(ctx, req, app_id, sink_id, p.filter, head, authorized, origin);
    if (!step) co_return feed_fail(req, step.error());
    from = step->page.scanned_to;
    if (co_await answer_now(ctx, *step, p.wait, head, deadline))
      co_return ok_json(req, page_json(step->page, *from));
  }
}

// ---- GET /app/{app}/poller/{sink}/consumer/{consumer}

asio::awaitable<Response> consumer_poll(const ApiContext* ctx, const Request& req, std::string app_id,
                                        std::string sink_id, std::string consumer_id) {
  auto params = read_params(req, Route::kConsumerPoll, consumer_id);
  if (!params) co_return feed_fail(req, params.error());
  const auto p = std::move(*params);
  const Deadline deadline = std::chrono::steady_clock::now() + p.wait;
  bool explicit_iterator = p.iterator.has_value();  // only for the first read
  bool authorized = false;
  int conflicts = 0;
  for (;;) {
    const int64_t head = ctx->store->feed_head();
    auto origin = [p, consumer_id, explicit_iterator, head](store::Tx& tx, Step& s) -> Status {
      auto consumer = find_consumer(tx, s.sink.app_id, s.sink.endpoint_id, consumer_id);
      if (!consumer) return consumer.take_error();
      if (explicit_iterator) {
        auto pos = iterator_position(*p.iterator, s.start, head);
        if (!pos) return pos.take_error();
        s.from = *pos;
      } else if (*consumer) {
        // A held position in the pruned part of the log continues where the log starts: an error would
        // leave the consumer stuck until someone seeks it.
        s.from = std::max((*consumer)->position, s.start);
      }
      s.consumer = std::move(*consumer);
      return {};
    };
    auto step = co_await read_step(ctx, req, app_id, sink_id, p.filter, head, authorized, origin);
    if (!step) co_return feed_fail(req, step.error());
    const int64_t to = step->page.scanned_to;
    if (explicit_iterator || !step->consumer || step->consumer->position != to) {
      const TimePoint now = ctx->clock->now();
      auto make = [sink = step->sink, consumer_id, to, now](const std::optional<FeedConsumer>& current) {
        FeedConsumer c = consumer_record(current, sink, consumer_id);
        c.position = to;
        c.updated_at = now;
        return c;
      };
      // Another poll moved the consumer first: read again from where it left it.
      auto cas = consumer_cas(step->sink, consumer_id, step->consumer, explicit_iterator, std::move(make));
      auto stored = counted(co_await store::write<bool>(*ctx->store, std::move(cas)), conflicts, "polls");
      if (!stored) co_return feed_fail(req, stored.error());
      if (!*stored) continue;
      explicit_iterator = false;
    }
    if (co_await answer_now(ctx, *step, p.wait, head, deadline))
      co_return ok_json(req, page_json(step->page, to));
  }
}

// ---- POST /app/{app}/poller/{sink}/consumer/{consumer}/seek {after}

asio::awaitable<Response> consumer_seek(const ApiContext* ctx, const Request& req, std::string app_id,
                                        std::string sink_id, std::string consumer_id) {
  if (auto st = check_consumer_id(consumer_id); !st) co_return feed_fail(req, st.error());
  auto obj = parse_object(req.body());
  if (!obj) co_return feed_fail(req, obj.error());
  FieldReader r(*obj);
  auto after_text = r.req_string("after", FieldReader::Rule::kNonEmpty, 64);
  std::optional<TimePoint> after;
  if (!r.error()) {
    after = parse_iso8601(after_text);
    if (!after) r.fail("after", "must be an ISO 8601 date-time such as 2026-01-02T03:04:05Z");
  }
  if (r.error()) co_return feed_fail(req, *r.error());
  auto sink = co_await authorized_sink(ctx, req, app_id, sink_id);
  if (!sink) co_return feed_fail(req, sink.error());
  const int64_t head = ctx->store->feed_head();
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [sink = *sink, consumer_id, after = *after, head, now](store::Tx& tx) -> Result<Reply> {
    if (auto ep = tx.get_endpoint(sink.app_id, sink.endpoint_id); !ep) return ep.take_error();
    auto start = tx.feed_start();
    if (!start) return start.take_error();
    auto pos = tx.feed_position_at(sink.app_id, after);
    if (!pos) return pos.take_error();
    const int64_t position = std::clamp(*pos, *start, std::max(*start, head));
    auto current = find_consumer(tx, sink.app_id, sink.endpoint_id, consumer_id);
    if (!current) return current.take_error();
    FeedConsumer c = consumer_record(*current, sink, consumer_id);
    c.position = position;
    c.leased_through = position;  // a seek drops any lease: what follows is handed out afresh
    c.lease_until.reset();
    c.updated_at = now;
    if (auto st = tx.put_feed_consumer(c); !st) return st.take_error();
    return Reply{http::status::ok, "{\"iterator\":\"" + feed::encode_cursor(position) + "\"}"};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

// ---- GET /app/{app}/polling-endpoint/{sink}/consumer/{consumer}

asio::awaitable<Response> leased_poll(const ApiContext* ctx, const Request& req, std::string app_id,
                                      std::string sink_id, std::string consumer_id) {
  auto params = read_params(req, Route::kLeasedPoll, consumer_id);
  if (!params) co_return feed_fail(req, params.error());
  const auto p = std::move(*params);
  const Deadline deadline = std::chrono::steady_clock::now() + p.wait;
  bool authorized = false;
  int conflicts = 0;
  for (;;) {
    const int64_t head = ctx->store->feed_head();
    const TimePoint now = ctx->clock->now();
    auto origin = [p, consumer_id, head, now](store::Tx& tx, Step& s) -> Status {
      auto consumer = find_consumer(tx, s.sink.app_id, s.sink.endpoint_id, consumer_id);
      if (!consumer) return consumer.take_error();
      if (p.start_latest) s.from = std::max(s.start, head);  // a new consumer
      if (const auto& c = *consumer) {
        const bool live = c->lease_until && now < *c->lease_until;
        s.from = std::max(live ? std::max(c->position, c->leased_through) : c->position, s.start);
      }
      s.consumer = std::move(*consumer);
      return {};
    };
    auto step = co_await read_step(ctx, req, app_id, sink_id, p.filter, head, authorized, origin);
    if (!step) co_return feed_fail(req, step.error());
    const auto& seen = step->consumer;
    const int64_t to = step->page.scanned_to;
    const bool live = seen && seen->lease_until && now < *seen->lease_until;
    if (!seen || !step->page.items.empty() || to != step->from) {
      // The record after this poll: a new consumer starts at `from`; handed-out messages are leased; rows
      // passed over (not the sink's) move the lease's end, or, without a live lease, the position itself.
      FeedConsumer c = consumer_record(seen, step->sink, consumer_id);
      if (!seen) c.position = c.leased_through = step->from;
      if (!step->page.items.empty()) {
        c.leased_through = to;
        c.lease_until = now + std::chrono::milliseconds(p.lease_ms);
      } else if (live) {
        c.leased_through = to;
      } else {
        c.position = c.leased_through = to;
        c.lease_until.reset();
      }
      c.updated_at = now;
      // Moved by another poll or a commit: read again.
      auto cas = consumer_cas(step->sink, consumer_id, seen, false,
                              [c](const std::optional<FeedConsumer>&) { return c; });
      auto stored = counted(co_await store::write<bool>(*ctx->store, std::move(cas)), conflicts, "requests");
      if (!stored) co_return feed_fail(req, stored.error());
      if (!*stored) continue;
    }
    // Held until the log moves; a lease running out meanwhile also ends the hold (its messages come back).
    auto cap = std::chrono::milliseconds::max();
    if (live && seen->leased_through > seen->position)
      cap = std::chrono::duration_cast<std::chrono::milliseconds>(*seen->lease_until - now) +
            std::chrono::milliseconds(1);
    if (co_await answer_now(ctx, *step, p.wait, head, deadline, cap))
      co_return ok_json(req, page_json(step->page, std::nullopt));
  }
}

// ---- POST /app/{app}/polling-endpoint/{sink}/consumer/{consumer}/commit {offset}

asio::awaitable<Response> commit(const ApiContext* ctx, const Request& req, std::string app_id,
                                 std::string sink_id, std::string consumer_id) {
  if (auto st = check_consumer_id(consumer_id); !st) co_return feed_fail(req, st.error());
  auto obj = parse_object(req.body());
  if (!obj) co_return feed_fail(req, obj.error());
  FieldReader r(*obj);
  if (!r.has("offset") || r.is_null("offset")) r.fail("offset", "field required");
  auto offset = r.opt_int("offset", 0, INT64_MAX);
  if (r.error()) co_return feed_fail(req, *r.error());
  auto sink = co_await authorized_sink(ctx, req, app_id, sink_id);
  if (!sink) co_return feed_fail(req, sink.error());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [sink = *sink, consumer_id, offset = *offset, now](store::Tx& tx) -> Result<Reply> {
    auto current = find_consumer(tx, sink.app_id, sink.endpoint_id, consumer_id);
    if (!current) return current.take_error();
    if (!*current) return Error::not_found("consumer not found: poll it first");
    FeedConsumer c = **current;
    if (offset > std::max(c.position, c.leased_through))
      return Error::bad_request(fmt::format("offset {} was not handed out to this consumer (the last was {})",
                                            offset, std::max(c.position, c.leased_through)));
    if (offset > c.position) {  // committing what is already committed changes nothing
      c.position = offset;
      c.updated_at = now;
      if (auto st = tx.put_feed_consumer(c); !st) return st.take_error();
    }
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_poller_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::get, "/api/v1/app/{app_id}/poller/{sink_id}",
             sink_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return poll(ctx, req, p.get("app_id"), p.get("sink_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}",
             sink_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return consumer_poll(ctx, req, p.get("app_id"), p.get("sink_id"), p.get("consumer_id"));
             }));
  router.add(V::post, "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek",
             sink_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return consumer_seek(ctx, req, p.get("app_id"), p.get("sink_id"), p.get("consumer_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}",
             sink_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return leased_poll(ctx, req, p.get("app_id"), p.get("sink_id"), p.get("consumer_id"));
             }));
  router.add(V::post, "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}/commit",
             sink_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return commit(ctx, req, p.get("app_id"), p.get("sink_id"), p.get("consumer_id"));
             }));
}

}  // namespace hookwire::api::v1
