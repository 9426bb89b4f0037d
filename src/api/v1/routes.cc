#include "api/v1/routes.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {
asio::awaitable<Response> health(Request req) {
  Response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

asio::awaitable<Response> metrics_text(const ApiContext* ctx, Request req) {
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
  router.add(http::verb::get, "/metrics",
             [ctx](const Request& req, const PathParams&) { return metrics_text(ctx, Request{req.base()}); });
  add_application_routes(router, ctx);
  add_event_type_routes(router, ctx);
  add_endpoint_routes(router, ctx);
  add_message_routes(router, ctx);
  add_attempt_routes(router, ctx);
  add_recovery_routes(router, ctx);
  add_source_routes(router, ctx);
}

}  // namespace hookwire::api::v1
