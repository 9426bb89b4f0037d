// Attempt listings (Svix ListResponse_MessageAttemptOut_): by message and by endpoint. The delivery engine
// writes the attempts; until it has, these answer empty pages of the right shape.
#include "api/v1/routes.h"
#include "api/v1/serialize.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

enum class By { kMessage, kEndpoint };

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req, std::string app_id, std::string id,
                               By by) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kDescending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page, app_id, id, by](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    Result<store::Page<store::Attempt>> attempts = Error::internal("unreachable");
    if (by == By::kMessage) {
      auto msg = tx.get_message(app->id, id);
      if (!msg) return msg.take_error();
      attempts = tx.list_attempts_by_message(app->id, msg->id, q);
    } else {
      auto ep = tx.get_endpoint(app->id, id);
      if (!ep) return ep.take_error();
      attempts = tx.list_attempts_by_endpoint(app->id, ep->id, q);
    }
    if (!attempts) return attempts.take_error();
    return Reply{http::status::ok, list_json(*attempts)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_attempt_routes(Router& router, const ApiContext* ctx) {
  router.add(http::verb::get, "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"), p.get("msg_id"), By::kMessage);
             }));
  router.add(http::verb::get, "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"), p.get("endpoint_id"), By::kEndpoint);
             }));
}

}  // namespace hookwire::api::v1
