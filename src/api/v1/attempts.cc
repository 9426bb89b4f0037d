// Attempt listings (Svix ListResponse_MessageAttemptOut_): by message and by endpoint, newest first, with
// Svix's filters (status, status_code_class, before/after, event_types, channel, endpoint_id by message); one
// attempt by id, and the expunge of its logged response. The delivery engine writes the attempts. The single
// attempt also shows its `requestHeaders` (hookwire's extension; the listings leave it out: serialize.h).
#include <algorithm>

#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

enum class By { kMessage, kEndpoint };

Result<store::AttemptQuery> attempt_query(const Query& query, By by) {
  store::AttemptQuery q;
  auto page = page_query(query, store::Order::kDescending);
  if (!page) return page.take_error();
  q.page = *page;
  auto status = status_param(query);
  if (!status) return status.take_error();
  q.status = *status;
  if (auto cls = query.get("status_code_class")) {
    static constexpr std::string_view kClasses[] = {"0", "100", "200", "300", "400", "500"};
    if (std::find(std::begin(kClasses), std::end(kClasses), *cls) == std::end(kClasses))
      return Error::validation("query.status_code_class", "must be one of 0, 100, 200, 300, 400, 500");
    q.status_code_class = std::stoi(*cls);
  }
  auto before = time_param(query, "before");
  if (!before) return before.take_error();
  q.before = *before;
  auto after = time_param(query, "after");
  if (!after) return after.take_error();
  q.after = *after;
  auto event_types = event_types_param(query);
  if (!event_types) return event_types.take_error();
  q.event_types = std::move(*event_types);
  auto channel = channel_param(query);
  if (!channel) return channel.take_error();
  q.channel = std::move(*channel);
  if (by == By::kMessage) {
    q.endpoint_id = query.get("endpoint_id");
    if (q.endpoint_id && (q.endpoint_id->empty() || q.endpoint_id->size() > 256 || !is_token(*q.endpoint_id)))
      return Error::validation("query.endpoint_id", "must be an endpoint id or uid");
  }
  return q;
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req, std::string app_id, std::string id,
                               By by) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto aq = attempt_query(*query, by);
  if (!aq) co_return error_response(aq.error(), req.version(), req.keep_alive());
  // Svix's with_content is checked but changes nothing: an attempt here carries no message content, and its
  // response body is always listed (the svix SDKs send with_content=false unless asked otherwise).
  auto with_content = bool_param(*query, "with_content", true);
  if (!with_content) co_return error_response(with_content.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = std::move(*aq), app_id, id, by,
               caller = caller_of(ctx, req)](store::Tx& tx) mutable -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    Result<store::Page<store::Attempt>> attempts = Error::internal("unreachable");
    if (by == By::kMessage) {
      auto msg = tx.get_message(app->id, id);
      if (!msg) return msg.take_error();
      if (q.endpoint_id) {
        // By uid or id; an id of a deleted endpoint still filters its attempts (they outlive it).
        auto ep = tx.get_endpoint(app->id, *q.endpoint_id);
        if (ep)
          q.endpoint_id = ep->id;
        else if (ep.error().code != Errc::kNotFound)
          return ep.take_error();
      }
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

// GET /app/{app}/msg/{msg}/attempt/{attempt} (MessageAttemptOut; the message by id or eventId) and
// DELETE .../content (Svix's expunge: the logged response body is deleted, and with it the request headers
// recorded, which can carry the endpoint's custom headers; the attempt stays).
asio::awaitable<Response> one(const ApiContext* ctx, const Request& req, std::string app_id,
                              std::string msg_id, std::string attempt_id, bool expunge) {
  auto fn = [app_id, msg_id, attempt_id, expunge,
             caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto msg = tx.get_message(app->id, msg_id);
    if (!msg) return msg.take_error();
    if (expunge) {
      if (auto st = tx.expunge_attempt_response(app->id, msg->id, attempt_id); !st) return st.take_error();
      return Reply{http::status::no_content, {}};
    }
    auto attempt = tx.get_attempt(app->id, msg->id, attempt_id);
    if (!attempt) return attempt.take_error();
    return Reply{http::status::ok, json::serialize(attempt_detail_json(*attempt))};
  };
  if (expunge) {
    auto response = co_await write_reply(ctx, req, std::move(fn));
    co_return response;
  }
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_attempt_routes(Router& router, const ApiContext* ctx) {
  router.add(http::verb::get, "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return one(ctx, req, p.get("app_id"), p.get("msg_id"), p.get("attempt_id"), false);
             }));
  router.add(http::verb::delete_, "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return one(ctx, req, p.get("app_id"), p.get("msg_id"), p.get("attempt_id"), true);
             }));
  router.add(http::verb::get, "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"), p.get("msg_id"), By::kMessage);
             }));
  router.add(http::verb::get, "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"), p.get("endpoint_id"), By::kEndpoint);
             }));
}

}  // namespace hookwire::api::v1
