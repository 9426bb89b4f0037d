// Manual recovery, on Svix's paths: resend one message to one endpoint, and recover an endpoint's failed
// deliveries since a point in time. Both only queue work for the dispatcher (202) and wake it.
#include "api/v1/background_tasks.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "core/ids.h"
#include "delivery/fan_out.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

// Resend and recover refuse a disabled endpoint (409): the dispatcher would only mark the deliveries failed.
constexpr const char* kDisabledEndpoint = "the endpoint is disabled: enable it first";
// And a pull-only one (a sink, read through the feed): it is never pushed to.
constexpr const char* kPullOnlyEndpoint =
    "the endpoint is pull-only: it is read through the feed, never sent to";

// 409 for an endpoint the dispatcher will not push to (disabled, or a pull-only sink).
Status pushable(const store::Endpoint& ep) {
  if (ep.disabled) return Error::conflict(kDisabledEndpoint);
  if (ep.pull_only) return Error::conflict(kPullOnlyEndpoint);
  return {};
}

// POST /app/{app}/msg/{msg}/endpoint/{ep}/resend: a new delivery of the message to the endpoint, due now,
// with a fresh retry schedule (whatever became of the earlier ones); its first attempt is logged as manual.
asio::awaitable<Response> resend(const ApiContext* ctx, const Request& req, std::string app_id,
                                 std::string msg_id, std::string ep_id) {
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [app_id, msg_id, ep_id, now, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto msg = tx.get_message(app->id, msg_id);
    if (!msg) return msg.take_error();
    if (msg->payload.empty())
      return Error::conflict("the message's payload was expunged: it cannot be resent");
    auto ep = tx.get_endpoint(app->id, ep_id);
    if (!ep) return ep.take_error();
    if (auto st = pushable(*ep); !st) return st.take_error();
    store::Delivery d = delivery::due_delivery(app->id, msg->id, ep->id, now);
    d.manual = true;  // its attempt is logged with triggerType 1 (manual)
    if (auto st = tx.insert_delivery(d); !st) return st.take_error();
    return Reply{http::status::accepted, "{}"};  // Svix EmptyResponse
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  if (response.result() == http::status::accepted && ctx->on_deliveries_created) ctx->on_deliveries_created();
  co_return response;
}

// POST /app/{app}/endpoint/{ep}/recover {"since": ISO 8601, "until"?: ISO 8601}: every failed delivery to the
// endpoint created in [since, until) is tried again, due now. Answers Svix's RecoverOut.
asio::awaitable<Response> recover(const ApiContext* ctx, const Request& req, std::string app_id,
                                  std::string ep_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  auto range = read_range(r);
  if (!range) co_return error_response(range.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [app_id, ep_id, since = range->since,
                until = range->until.value_or(now + std::chrono::seconds(1)), now,
                caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    if (auto st = pushable(*ep); !st) return st.take_error();
    auto n = tx.requeue_failed_deliveries(ep->app_id, ep->id, since, until, now);
    if (!n) return n.take_error();
    const auto task =
        finished_task("endpoint.recover",
                      json::object{{"appId", ep->app_id}, {"endpointId", ep->id}, {"recovered", *n}}, now);
    if (auto st = tx.insert_background_task(task); !st) return st.take_error();
    auto out = task_summary_json(task);
    out["recovered"] = *n;
    return Reply{http::status::accepted, json::serialize(out)};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  if (response.result() == http::status::accepted && ctx->on_deliveries_created) ctx->on_deliveries_created();
  co_return response;
}

// Svix's two replays, a page of the application's messages created in [since, until] per write (other writes
// go between); answered once done with Svix's ReplayOut (status "finished") and `replayed`, how many were
// queued. Every queued delivery is due now and logged as manual.
//  - POST .../endpoint/{ep}/replay-missing {"since", "until"?}: the messages the endpoint subscribes to that
//    were never queued for it (it did not exist yet, its filters changed, it was a sink).
//  - POST .../endpoint/{ep}/bulk-replay {"since", "until"?, "status"?, "statusCode"?, "eventTypes"?,
//    "channel"?}: the messages that were sent to it, again, when their latest delivery to it has that status
//    (Svix MessageStatus) and its last attempt that HTTP status; one still in flight (pending, sending) is
//    left alone.
enum class Replay { kMissing, kBulk };

asio::awaitable<Response> replay(const ApiContext* ctx, const Request& req, std::string app_id,
                                 std::string ep_id, Replay mode) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  auto range = read_range(r);
  if (!range) co_return error_response(range.error(), req.version(), req.keep_alive());
  std::optional<int64_t> status, status_code;
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::string> channel;
  if (mode == Replay::kBulk) {
    status = r.opt_int("status", 0, 3);
    status_code = r.opt_int("statusCode", 100, 599);
    event_types = r.opt_string_array("eventTypes", FieldReader::Rule::kToken, 1000);
    channel = r.opt_string("channel", FieldReader::Rule::kToken, 128);
  }
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  struct Batch {
    int queued = 0;
    std::optional<std::string> next;  // the page's iterator; nullopt: done
  };
  int queued = 0;
  std::optional<std::string> iterator;
  for (;;) {
    std::function<Result<Batch>(store::Tx&)> fn =
        [app_id, ep_id, iterator, mode, since = range->since, until = range->until, status, status_code,
         event_types, channel, now, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Batch> {
      auto ep = find_endpoint(tx, caller, app_id, ep_id);
      if (!ep) return ep.take_error();
      if (auto st = pushable(*ep); !st) return st.take_error();
      const std::string& app = ep->app_id;
      store::MessageQuery q;
      q.page.limit = 250;
      q.page.order = store::Order::kAscending;
      q.page.iterator = iterator;
      q.after = since - std::chrono::milliseconds(1);  // created_at > after: since itself included
      if (until) q.before = *until + std::chrono::milliseconds(1);
      if (event_types) q.event_types = *event_types;
      q.channel = channel;
      auto page = tx.list_messages(app, q);
      if (!page) return page.take_error();
      Batch out;
      for (const auto& msg : page->items) {
        if (msg.payload.empty()) continue;  // expunged: never sent again
        auto held = tx.list_deliveries_by_message(app, msg.id);
        if (!held) return held.take_error();
        const store::Delivery* latest = nullptr;
        for (const auto& d : *held)
          if (d.endpoint_id == ep->id && (!latest || d.created_at >= latest->created_at)) latest = &d;
        if (mode == Replay::kMissing) {
          if (latest || !delivery::endpoint_matches(*ep, msg)) continue;
        } else {
          if (!latest || latest->status == store::Delivery::kPending ||
              latest->status == store::Delivery::kSending)
            continue;
          if (status && latest->status != *status) continue;
          if (status_code) {
            store::AttemptQuery aq(store::PageQuery{1, std::nullopt, store::Order::kDescending});
            aq.endpoint_id = ep->id;
            auto last = tx.list_attempts_by_message(app, msg.id, aq);
            if (!last) return last.take_error();
            if (last->items.empty() || last->items.front().response_status_code != *status_code) continue;
          }
        }
        store::Delivery d = delivery::due_delivery(app, msg.id, ep->id, now);
        d.manual = true;
        if (auto st = tx.insert_delivery(d); !st) return st.take_error();
        ++out.queued;
      }
      if (!page->done && page->iterator) out.next = page->iterator;
      return out;
    };
    auto batch = co_await store::write<Batch>(*ctx->store, std::move(fn));
    if (!batch) co_return error_response(batch.error(), req.version(), req.keep_alive());
    queued += batch->queued;
    if (batch->queued > 0 && ctx->on_deliveries_created) ctx->on_deliveries_created();
    if (!batch->next) break;
    iterator = std::move(batch->next);
  }
  auto task = finished_task(mode == Replay::kBulk ? "endpoint.bulk-replay" : "endpoint.replay",
                            json::object{{"appId", app_id}, {"endpointId", ep_id}, {"replayed", queued}},
                            ctx->clock->now());
  json::object extra{{"replayed", queued}};
  co_return co_await answer_with_task(ctx, req, std::move(task), std::move(extra));
}

}  // namespace

void add_recovery_routes(Router& router, const ApiContext* ctx) {
  router.add(http::verb::post, "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
             app_capable(ctx, {capability::kCreateAttempts}, [ctx](const Request& req, const PathParams& p) {
               return resend(ctx, req, p.get("app_id"), p.get("msg_id"), p.get("endpoint_id"));
             }));
  router.add(http::verb::post, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
             app_capable(ctx, {capability::kCreateAttempts}, [ctx](const Request& req, const PathParams& p) {
               return replay(ctx, req, p.get("app_id"), p.get("endpoint_id"), Replay::kMissing);
             }));
  router.add(http::verb::post, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
             app_capable(ctx, {capability::kCreateAttempts}, [ctx](const Request& req, const PathParams& p) {
               return replay(ctx, req, p.get("app_id"), p.get("endpoint_id"), Replay::kBulk);
             }));
  router.add(http::verb::post, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
             app_capable(ctx, {capability::kCreateAttempts}, [ctx](const Request& req, const PathParams& p) {
               return recover(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
}

}  // namespace hookwire::api::v1
