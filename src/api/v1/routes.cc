#include "api/v1/routes.h"

#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {
asio::awaitable<Response> health(Request req) {
  Response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

// The delivery queue is measured at scrape time (reads of the live-deliveries index), so the gauges are
// exactly as fresh as the scrape. Deliveries the dispatcher leases in memory count as sending.
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
  m.gauge("delivery_due", "Deliveries due now and not yet being sent (including expired leases).")
      .set(static_cast<double>(stats->due));
  const double lag =
      stats->oldest_due ? std::chrono::duration<double>(now - *stats->oldest_due).count() : 0.0;
  m.gauge("delivery_lag_seconds", "How long the oldest due delivery has been waiting (0 when none is due).")
      .set(lag);
}

asio::awaitable<Response> metrics_text(const ApiContext* ctx, Request req) {
  co_await refresh_queue_gauges(ctx);
  Response res{http::status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = ctx->metrics->render();
  res.prepare_payload();
  co_return res;
}
}  // namespace

void add_routes(Router& router, const ApiContext* ctx) {
  // Health needs no token (load balancers probe it); HEAD falls back to GET in the router.
  for (const char* path : {"/api/v1/health", "/api/v1/health/ping"})
    router.add(http::verb::get, path, [](const Request& req, const PathParams&) {
      return health(Request{req.base()});  // header only: the body is not needed
    });
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
  add_delivery_routes(router, ctx);
  add_source_routes(router, ctx);
}

}  // namespace hookwire::api::v1
