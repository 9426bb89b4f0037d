#include "api/v1/routes.h"

#include <fmt/format.h>

#include "delivery/queue_metrics.h"
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

asio::awaitable<Response> metrics_text(const ApiContext* ctx, Request req) {
  co_await delivery::refresh_queue_gauges(ctx->store->delivery_queue(), ctx->clock->now(), *ctx->metrics);
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
  add_session_routes(router, ctx);
  add_stream_routes(router, ctx);
  add_server_routes(router, ctx);
  add_unsupported_routes(router);
}

}  // namespace hookwire::api::v1
