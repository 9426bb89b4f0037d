#include "api/v1/routes.h"

#include <fmt/format.h>

#include "feed/hub.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {
// 204 while the store works; 503 with the reason otherwise. Cheap enough for every probe of a load balancer:
// what the store knows of its writes (Store::problem(), no I/O) and one point read (an application lookup
// that finds nothing) on a reader thread; never an integrity check.
asio::awaitable<Response> health(const ApiContext* ctx, Request req) {
  std::optional<std::string> problem = ctx->store->problem();
  if (!problem) {
    auto fn = [](store::Tx& tx) -> Result<bool> {
      auto app = tx.get_application("app_health-probe");
      if (!app && app.error().code != Errc::kNotFound) return app.take_error();
      return true;
    };
    auto read = co_await store::read<bool>(*ctx->store, std::move(fn));
    if (!read) problem = read.error().code == Errc::kUnavailable ? read.error().detail : "storage error";
  }
  if (problem)
    co_return error_response(Error::unavailable("store: " + *problem), req.version(), req.keep_alive());
  Response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

// The delivery queue is measured at scrape time, so the gauges are exactly as fresh as the scrape, at a cost
// that does not grow with the queue (Tx::delivery_queue_stats: counters, the due index's first entry, and a
// due count that stops at store::kDueCountLimit). Deliveries the dispatcher leases in memory count as
// sending.
asio::awaitable<void> refresh_queue_gauges(const ApiContext* ctx) {
  const TimePoint now = ctx->clock->now();
  auto fn = [now, held = ctx->leased_rows ? ctx->leased_rows() : std::vector<int64_t>{}](store::Tx& tx) {
    return tx.delivery_queue_stats(now, held);
  };
  auto stats = co_await store::read<store::DeliveryQueueStats>(*ctx->store, std::move(fn));
  if (!stats.ok()) co_return;  // the scrape still answers, with the last values
  auto& m = *ctx->metrics;
  const char* depth_help = "Live deliveries by state: pending (waiting for an attempt) or sending (leased).";
  m.gauge("delivery_queue_depth", depth_help, {{"state", "pending"}})
      .set(static_cast<double>(stats->pending));
  m.gauge("delivery_queue_depth", depth_help, {{"state", "sending"}})
      .set(static_cast<double>(stats->sending));
  static const std::string due_help =
      fmt::format("Deliveries due now and not yet being sent (including expired leases), counted up to {}.",
                  store::kDueCountLimit);
  m.gauge("delivery_due", due_help).set(static_cast<double>(stats->due));
  const double lag =
      stats->oldest_due ? std::chrono::duration<double>(now - *stats->oldest_due).count() : 0.0;
  m.gauge("delivery_lag_seconds", "How long the oldest due delivery has been waiting (0 when none is due).")
      .set(lag);
}

asio::awaitable<Response> metrics_text(const ApiContext* ctx, Request req) {
  co_await refresh_queue_gauges(ctx);
  if (ctx->feed_hub)
    ctx->metrics
        ->gauge("feed_readers_waiting", "Long-poll requests held until their application's log moves.")
        .set(static_cast<double>(ctx->feed_hub->waiting()));
  Response res{http::status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = ctx->metrics->render();
  res.prepare_payload();
  co_return res;
}

void add_health_routes(Router& router, const ApiContext* ctx) {
  // Health needs no token (load balancers probe it); HEAD falls back to GET in the router.
  for (const char* path : {"/api/v1/health", "/api/v1/health/ping"})
    router.add(http::verb::get, path, [ctx](const Request& req, const PathParams&) {
      return health(ctx, Request{req.base()});  // header only: the body is not needed
    });
}
}  // namespace

void add_public_routes(Router& router, const ApiContext* ctx) {
  add_health_routes(router, ctx);
  add_inbound_routes(router, ctx);
}

void add_routes(Router& router, const ApiContext* ctx) {
  add_health_routes(router, ctx);
  // Prometheus scrapes with its own token (--metrics-token), so it never holds the admin token; the admin
  // token works too. Without a metrics token only the admin token does.
  router.add(http::verb::get, "/metrics",
             guarded(bearer_admission({&ctx->metrics_token, &ctx->admin_token}),
                     [ctx](const Request& req, const PathParams&) {
                       return metrics_text(ctx, Request{req.base()});
                     }));
  add_application_routes(router, ctx);
  add_event_type_routes(router, ctx);
  add_endpoint_routes(router, ctx);
  add_message_routes(router, ctx);
  add_attempt_routes(router, ctx);
  add_recovery_routes(router, ctx);
  add_background_task_routes(router, ctx);
  add_delivery_routes(router, ctx);
  add_source_routes(router, ctx);
  add_poller_routes(router, ctx);
  add_auth_routes(router, ctx);
  add_stream_routes(router, ctx);
  add_unsupported_routes(router);
}

}  // namespace hookwire::api::v1
