// GET /api/v1/app/{app_id}/poller/{sink_id}/stream: a sink's feed as server-sent events (issue #19,
// docs/pull.md "Routes"); GET /api/v1/app/{app_id}/stream: the same over every message of the application
// (issue #22, the portal's live tail; docs/api.md), with the request's `event_types` and `channel` filters
// and no consumer. Rules decided here:
//  - Each message is `id: <iterator>\nevent: message\ndata: <PollingEndpointMessageOut + offset>\n\n`; the id
//    is feed::encode_cursor(position), so a client's `Last-Event-ID` resumes right after it. A payload's line
//    breaks become several `data:` lines (SSE's rule: the client joins them with "\n").
//  - Start: `Last-Event-ID`, else `iterator`, else `consumer=<id>` (after that polling-endpoint consumer's
//    committed position; a consumer not seen before starts at the start of the retained log), else the start
//    of the retained log. A cursor that is not one of ours, pruned, or past the head: 400 invalid_iterator
//    before the stream starts.
//  - With `consumer`, every batch is recorded as handed out (the consumer's leased_through, created if new)
//    before it is written, so the client may commit each event's `offset` with POST
//    .../polling-endpoint/{sink}/consumer/{id}/commit (what `hookwire listen` does).
//  - Loop: the caller is still admitted (else `event: close` with `"reason":"unauthorized"`, then the end: a
//    token rotated away or expired, or a session logged out or expired, ends its streams at their next event
//    or heartbeat); head = feed_head();
//    read (after, head]; write the events; when nothing is new, FeedHub::wait up to the heartbeat interval,
//    and write `: heartbeat` when it passes. Server stop (or hub stop): `event:
//    close`, then the connection closes. How many streams may be open is the server's max_streams
//    (--max-streams).
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include "api/v1/feed_reads.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "feed/cursor.h"
#include "feed/hub.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::FeedPage;

namespace {

constexpr int kBatch = 100;  // messages one read returns at most

struct Params {
  std::optional<std::string> cursor;  // Last-Event-ID, else iterator
  std::optional<std::string> consumer;
  std::optional<std::string> event_type;
  std::vector<std::string> event_types;  // the application stream's filter (empty: any)
  std::optional<std::string> channel;
};

Result<Params> parse_params(const Request& req) {
  auto q = Query::parse(req.target());
  if (!q) return q.take_error();
  Params p;
  if (auto last = req["last-event-id"]; !last.empty()) {
    p.cursor = std::string(last);
  } else if (auto it = q->get("iterator"); it && !it->empty()) {
    p.cursor = std::move(*it);
  }
  if (auto c = q->get("consumer"); c) {
    if (!is_token(*c))
      return Error::validation("query.consumer", "must match ^[a-zA-Z0-9\\-_.]+$ (at most 256 characters)");
    p.consumer = std::move(*c);
  }
  p.event_type = q->get("event_type");
  if (p.event_type && !is_token(*p.event_type))
    return Error::validation("query.event_type", "must match ^[a-zA-Z0-9\\-_.]+$ (at most 256 characters)");
  auto channel = channel_param(*q);
  if (!channel) return channel.take_error();
  p.channel = std::move(*channel);
  auto types = event_types_param(*q);
  if (!types) return types.take_error();
  p.event_types = std::move(*types);
  return p;
}

// Where a stream reads: the sink (ids resolved, with its filters; for the application stream, no endpoint
// and the request's event_types), the request's filters, and where it starts.
struct Plan {
  Sink sink;
  Params params;
  int64_t after = 0;
  Credentials credentials;  // the request's (bearer token or session cookies), checked again before each read
};

// The stream's start: the explicit cursor, else the consumer's committed position, else the log's start.
Result<Plan> plan_start(store::Tx& tx, Sink sink, Params p, int64_t head) {
  auto start = tx.feed_start();
  if (!start) return start.take_error();
  Plan plan{std::move(sink), std::move(p), *start, {}};
  if (plan.params.cursor) {
    auto pos = iterator_position(*plan.params.cursor, *start, head);
    if (!pos) return pos.take_error();
    plan.after = *pos;
  } else if (plan.params.consumer) {
    auto c = find_consumer(tx, plan.sink.app_id, plan.sink.endpoint_id, *plan.params.consumer);
    if (!c) return c.take_error();
    if (*c) plan.after = std::max((*c)->position, *start);
  }
  return plan;
}

Result<Plan> plan_stream(store::Tx& tx, const std::string& app_id, const std::string& sink_id, Params p,
                         int64_t head) {
  auto sink = resolve_sink(tx, app_id, sink_id);
  if (!sink) return sink.take_error();
  return plan_start(tx, std::move(*sink), std::move(p), head);
}

// The application stream: every message of the application, through the request's event_types.
Result<Plan> plan_app_stream(store::Tx& tx, const std::string& app_id, Params p, int64_t head) {
  auto app = tx.get_application(app_id);
  if (!app) return app.take_error();
  Sink sink{app->id, {}, std::nullopt, std::nullopt};
  if (!p.event_types.empty()) sink.event_types = p.event_types;
  return plan_start(tx, std::move(sink), std::move(p), head);
}

// The sink a stream's caller must still be admitted to: the endpoint, or for the application stream none.
std::optional<std::string_view> sink_of(const Plan& plan) {
  if (plan.sink.endpoint_id.empty()) return std::nullopt;
  return plan.sink.endpoint_id;
}

// One event: the message as PollingEndpointMessageOut with its `offset`, each line of it a `data:` line.
void append_event(std::string& out, const store::Message& m) {
  std::string json;
  append_feed_message(json, m, true);
  out += "id: ";
  out += feed::encode_cursor(m.position);
  out += "\nevent: message\n";
  size_t line = 0;
  for (size_t i = 0; i <= json.size(); ++i) {
    if (i < json.size() && json[i] != '\n' && json[i] != '\r') continue;
    out += "data: ";
    out.append(json, line, i - line);
    out += '\n';
    if (i + 1 < json.size() && json[i] == '\r' && json[i + 1] == '\n') ++i;
    line = i + 1;
  }
  out += '\n';
}

// Records positions up to `last` as handed out to the plan's consumer (created if new, starting where this
// stream started), so that the client may commit them.
asio::awaitable<Status> record_handed_out(const ApiContext* ctx, const Plan& plan, int64_t last) {
  auto fn = [app = plan.sink.app_id, ep = plan.sink.endpoint_id, id = *plan.params.consumer,
             from = plan.after, last, now = ctx->clock->now()](store::Tx& tx) -> Result<bool> {
    auto current = tx.get_feed_consumer(app, ep, id);
    store::FeedConsumer c;
    if (current) {
      c = std::move(*current);
      if (c.leased_through >= last) return true;
    } else if (current.error().code == Errc::kNotFound) {
      c.app_id = app;
      c.endpoint_id = ep;
      c.consumer_id = id;
      c.position = from;
    } else {
      return current.take_error();
    }
    c.leased_through = std::max(c.leased_through, last);
    c.updated_at = now;
    if (auto st = tx.put_feed_consumer(c); !st) return st.take_error();
    return true;
  };
  auto done = co_await store::write<bool>(*ctx->store, std::move(fn));
  if (!done) co_return done.take_error();
  co_return Status{};
}

asio::awaitable<void> run_stream(const ApiContext* ctx, Plan plan, std::chrono::milliseconds heartbeat,
                                 StreamWriter& w) {
  int64_t after = plan.after;
  auto over = [&] { return w.stopping() || ctx->feed_hub->stopped(); };
  for (;;) {
    if (w.closed()) co_return;
    if (over()) break;
    // A token rotated away or expired, or a session ended, since the stream opened ends it at its next event
    // or heartbeat.
    if (auto st = caller_of(ctx, plan.credentials).may_access(plan.sink.app_id, sink_of(plan)); !st) {
      co_await w.write(fmt::format("event: close\ndata: {{\"reason\":\"unauthorized\",\"detail\":{}}}\n\n",
                                   boost::json::serialize(boost::json::string(st.error().detail))));
      co_return;
    }
    const int64_t head = ctx->store->feed_head();
    if (head > after) {
      FeedFilter filter{kBatch, plan.params.event_type, plan.params.channel};
      auto fn = [sink = plan.sink, filter = std::move(filter), after, head](store::Tx& tx) {
        return read_after(tx, sink, filter, after, head);
      };
      auto page = co_await store::read<FeedPage>(*ctx->store, std::move(fn));
      if (!page) co_return;  // the store logs its failures; the client reconnects with Last-Event-ID
      if (!page->items.empty()) {
        if (plan.params.consumer) {
          auto st = co_await record_handed_out(ctx, plan, page->items.back().position);
          if (!st) co_return;
        }
        std::string out;
        for (const auto& m : page->items) append_event(out, m);
        if (!co_await w.write(std::move(out))) co_return;
      }
      after = std::max(after, page->scanned_to);
      continue;
    }
    if (w.closed()) co_return;
    if (over()) break;
    const auto wake = co_await ctx->feed_hub->wait(plan.sink.app_id, after, heartbeat);
    if (wake == feed::FeedHub::Wake::kTimeout && !w.closed() && !over()) {
      if (!co_await w.write(": heartbeat\n\n")) co_return;
    }
  }
  co_await w.write("event: close\ndata: {\"reason\":\"shutdown\"}\n\n");
}

// Plans a stream from its request's parameters, in a read (the sink's route or the application's).
using Planner = std::function<Result<Plan>(store::Tx&, Params, int64_t head)>;

asio::awaitable<Response> open_stream(const ApiContext* ctx, const Request& req, const PathParams& params,
                                      std::chrono::milliseconds heartbeat, Planner planner) {
  auto p = parse_params(req);
  if (!p) co_return feed_fail(req, p.error());
  if (!ctx->feed_hub || !params.can_stream())
    co_return feed_fail(req, Error::unavailable("streams are not served here"));
  const int64_t head = ctx->store->feed_head();
  auto fn = [planner = std::move(planner), p = std::move(*p), head](store::Tx& tx) mutable {
    return planner(tx, std::move(p), head);
  };
  auto plan = co_await store::read<Plan>(*ctx->store, std::move(fn));
  if (!plan) co_return feed_fail(req, plan.error());
  if (auto st = authorize(ctx, req, plan->sink.app_id, sink_of(*plan)); !st)
    co_return feed_fail(req, st.error());
  plan->credentials = credentials_of(req);
  StreamBody body = [ctx, plan = std::move(*plan), heartbeat](StreamWriter& w) {
    return run_stream(ctx, plan, heartbeat, w);
  };
  params.stream(std::move(body));
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.set("x-accel-buffering", "no");  // a buffering proxy in front (nginx) passes events at once
  co_return res;
}

asio::awaitable<Response> open_sink_stream(const ApiContext* ctx, const Request& req,
                                           const PathParams& params, std::chrono::milliseconds heartbeat) {
  Planner planner = [app = params.get("app_id"), sink = params.get("sink_id")](store::Tx& tx, Params p,
                                                                               int64_t head) -> Result<Plan> {
    if (!p.event_types.empty())
      return Error::validation("query.event_types",
                               "is for the application's stream; a sink's takes event_type");
    return plan_stream(tx, app, sink, std::move(p), head);
  };
  co_return co_await open_stream(ctx, req, params, heartbeat, std::move(planner));
}

asio::awaitable<Response> open_app_stream(const ApiContext* ctx, const Request& req, const PathParams& params,
                                          std::chrono::milliseconds heartbeat) {
  Planner planner = [app = params.get("app_id")](store::Tx& tx, Params p, int64_t head) -> Result<Plan> {
    if (p.consumer)
      return Error::validation("query.consumer", "is for a sink's stream (.../poller/{sink_id}/stream)");
    return plan_app_stream(tx, app, std::move(p), head);
  };
  co_return co_await open_stream(ctx, req, params, heartbeat, std::move(planner));
}

}  // namespace

void add_stream_routes(Router& router, const ApiContext* ctx, StreamOptions options) {
  router.add(http::verb::get, "/api/v1/app/{app_id}/poller/{sink_id}/stream",
             sink_reader(ctx, [ctx, heartbeat = options.heartbeat](const Request& req, const PathParams& p) {
               return open_sink_stream(ctx, req, p, heartbeat);
             }));
  router.add(http::verb::get, "/api/v1/app/{app_id}/stream",
             app_reader(ctx, [ctx, heartbeat = options.heartbeat](const Request& req, const PathParams& p) {
               return open_app_stream(ctx, req, p, heartbeat);
             }));
}

}  // namespace hookwire::api::v1
