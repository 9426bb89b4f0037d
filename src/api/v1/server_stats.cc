// GET /api/v1/server/stats?window=3600 (hookwire extension, issue #22; docs/api.md): this node's figures over
// time for the console's charts, from the app's FigureSampler (core/figures.h): no store read per request.
// Admin only. `window`: seconds, 60..86400 (default 3600); the samples stamped within it, oldest first.
#include <boost/json.hpp>

#include "api/v1/routes.h"
#include "api/v1/serialize.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

Result<std::chrono::seconds> window_param(const Query& q) {
  auto text = q.get("window");
  if (!text) return std::chrono::seconds{3600};
  int64_t v = 0;
  const bool digits = !text->empty() && text->size() <= 6 &&
                      std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) v = std::stoll(*text);
  if (!digits || v < 60 || v > 86400)
    return Error::validation("query.window", "must be a number of seconds from 60 to 86400");
  return std::chrono::seconds{v};
}

std::string stats_json(const ApiContext* ctx, std::chrono::seconds window) {
  json::array samples;
  for (const auto& s : ctx->figures->window(window)) {
    json::object o{{"at", format_iso8601(s.at)}, {"queueDepth", s.queue_depth}};
    if (s.due_now) o["dueNow"] = *s.due_now;
    o["lagSeconds"] = s.lag_seconds;
    o["delivered"] = s.delivered;
    o["failed"] = s.failed;
    o["messagesCreated"] = s.messages_created;
    o["inboundAccepted"] = s.inbound_accepted;
    o["inboundRejected"] = s.inbound_rejected;
    samples.push_back(std::move(o));
  }
  json::object out{{"intervalSeconds", metrics::FigureSampler::kInterval.count()},
                   {"nodeId", ctx->node_id},
                   {"samples", std::move(samples)}};
  return json::serialize(out);
}

asio::awaitable<Response> server_stats(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto window = window_param(*query);
  if (!window) co_return error_response(window.error(), req.version(), req.keep_alive());
  if (!ctx->figures)
    co_return error_response(Error::unavailable("the server's figures are not kept here"), req.version(),
                             req.keep_alive());
  co_return make_response(req, Reply{http::status::ok, stats_json(ctx, *window)});
}

}  // namespace

void add_server_routes(Router& router, const ApiContext* ctx) {
  router.add(http::verb::get, "/api/v1/server/stats",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return server_stats(ctx, req); }));
}

}  // namespace hookwire::api::v1
