// Delivery status, on Svix's paths: the endpoints a message goes to (ListResponse_MessageEndpointOut_), the
// messages of an endpoint (ListResponse_EndpointMessageOut_), an endpoint's counts (EndpointStats); and the
// hookwire extensions listing an application's dead letters and showing an endpoint's health over time.
// Statuses are reported as Svix does: pending before the first attempt, sending while retries remain,
// success, fail (a dead letter).
#include "api/v1/routes.h"
#include "api/v1/serialize.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

// Shared by the endpoint-message and dead-letter listings: paging, status, time bounds, event types,
// channel, with_content.
struct ListParams {
  store::DeliveryQuery query;
  bool with_content = true;
};

Result<ListParams> list_params(const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) return query.take_error();
  ListParams p;
  auto page = page_query(*query, store::Order::kDescending);
  if (!page) return page.take_error();
  p.query.page = *page;
  auto status = status_param(*query);
  if (!status) return status.take_error();
  p.query.status = *status;
  auto before = time_param(*query, "before");
  if (!before) return before.take_error();
  p.query.before = *before;
  auto after = time_param(*query, "after");
  if (!after) return after.take_error();
  p.query.after = *after;
  auto event_types = event_types_param(*query);
  if (!event_types) return event_types.take_error();
  p.query.event_types = std::move(*event_types);
  auto channel = channel_param(*query);
  if (!channel) return channel.take_error();
  p.query.channel = std::move(*channel);
  auto with_content = bool_param(*query, "with_content", true);
  if (!with_content) return with_content.take_error();
  p.with_content = *with_content;
  return p;
}

// GET /app/{app}/msg/{msg}/endpoint
asio::awaitable<Response> message_endpoints(const ApiContext* ctx, const Request& req, std::string app_id,
                                            std::string msg_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kAscending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page, app_id, msg_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto msg = tx.get_message(app->id, msg_id);
    if (!msg) return msg.take_error();
    auto list = tx.list_message_endpoints(app->id, msg->id, q);
    if (!list) return list.take_error();
    return Reply{http::status::ok, list_json(*list)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// GET /app/{app}/endpoint/{ep}/msg
asio::awaitable<Response> endpoint_messages(const ApiContext* ctx, const Request& req, std::string app_id,
                                            std::string ep_id) {
  auto params = list_params(req);
  if (!params) co_return error_response(params.error(), req.version(), req.keep_alive());
  ReadFn fn = [p = std::move(*params), app_id, ep_id,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto ep = tx.get_endpoint(app->id, ep_id);
    if (!ep) return ep.take_error();
    auto list = tx.list_endpoint_messages(app->id, ep->id, p.query);
    if (!list) return list.take_error();
    return Reply{http::status::ok, endpoint_message_list_json(*list, p.with_content)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// GET /app/{app}/endpoint/{ep}/stats?since&until
asio::awaitable<Response> endpoint_stats(const ApiContext* ctx, const Request& req, std::string app_id,
                                         std::string ep_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto since = time_param(*query, "since");
  if (!since) co_return error_response(since.error(), req.version(), req.keep_alive());
  auto until = time_param(*query, "until");
  if (!until) co_return error_response(until.error(), req.version(), req.keep_alive());
  ReadFn fn = [app_id, ep_id, since = *since, until = *until,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto ep = tx.get_endpoint(app->id, ep_id);
    if (!ep) return ep.take_error();
    auto counts = tx.count_endpoint_deliveries(app->id, ep->id, since, until);
    if (!counts) return counts.take_error();
    json::object out{{"success", counts->success},
                     {"pending", counts->pending},
                     {"sending", counts->sending},
                     {"fail", counts->fail},
                     {"canceled", 0}};  // hookwire never cancels a delivery
    return Reply{http::status::ok, json::serialize(out)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// GET /app/{app}/endpoint/{ep}/health?period=day|week (hookwire extension, issue #22; docs/api.md): the
// endpoint's attempts counted into buckets (day: 24 hourly ones; week: 28 of 6 h), aligned on UTC, the last
// holding now; its newest failures; why it is disabled. The attempts are read newest first through the
// (app_id, endpoint_id, id) index, at most kHealthScanLimit of them: on a busier endpoint the counts are
// complete from `countedSince` on (older buckets are partial).
constexpr int kHealthScanLimit = 20'000;
constexpr size_t kHealthLastFailures = 5;

asio::awaitable<Response> endpoint_health(const ApiContext* ctx, const Request& req, std::string app_id,
                                          std::string ep_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  const std::string period = query->get("period").value_or("day");
  if (period != "day" && period != "week")
    co_return error_response(Error::validation("query.period", "must be \"day\" or \"week\""), req.version(),
                             req.keep_alive());
  const bool day = period == "day";
  const std::chrono::seconds width = day ? std::chrono::hours{1} : std::chrono::hours{6};
  const int count = day ? 24 : 28;
  const TimePoint now = ctx->clock->now();
  const int64_t w = width.count();
  const int64_t last_start = unix_seconds(now) / w * w;
  const TimePoint first = TimePoint{std::chrono::seconds{last_start - (count - 1) * w}};
  ReadFn fn = [app_id, ep_id, first, width, count, period,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto ep = find_endpoint(tx, caller, app_id, ep_id);
    if (!ep) return ep.take_error();
    auto health = tx.get_endpoint_health(ep->id);
    if (!health) return health.take_error();
    auto attempts = tx.recent_endpoint_attempts(ep->app_id, ep->id, first, kHealthScanLimit);
    if (!attempts) return attempts.take_error();
    std::vector<std::pair<int64_t, int64_t>> counts(static_cast<size_t>(count));  // success, failure
    json::array failures;
    for (const auto& a : *attempts) {
      const auto i = (a.created_at - first) / width;
      if (i >= 0 && i < count) {
        auto& c = counts[static_cast<size_t>(i)];
        (a.status == 0 ? c.first : c.second) += 1;
      }
      if (a.status != 0 && failures.size() < kHealthLastFailures)
        failures.push_back(json::object{{"msgId", a.msg_id},
                                        {"attemptId", a.id},
                                        {"timestamp", format_iso8601(a.created_at)},
                                        {"responseStatusCode", a.response_status_code},
                                        {"response", a.response}});
    }
    json::array buckets;
    for (int i = 0; i < count; ++i)
      buckets.push_back(json::object{{"start", format_iso8601(first + i * width)},
                                     {"success", counts[static_cast<size_t>(i)].first},
                                     {"failure", counts[static_cast<size_t>(i)].second}});
    const bool complete = attempts->size() < static_cast<size_t>(kHealthScanLimit);
    auto iso = [](const std::optional<TimePoint>& t) -> json::value {
      return t ? json::value(format_iso8601(*t)) : json::value(nullptr);
    };
    json::object out{
        {"period", period},
        {"bucketSeconds", width.count()},
        {"buckets", std::move(buckets)},
        {"countedSince", format_iso8601(complete ? first : attempts->back().created_at)},
        {"lastFailures", std::move(failures)},
        {"disabled", ep->disabled},
        {"disabledReason", ep->disabled && health->disabled_reason ? json::value(*health->disabled_reason)
                                                                   : json::value(nullptr)},
        {"disabledAt", ep->disabled ? iso(health->disabled_at) : json::value(nullptr)},
        {"failingSince",
         health->consecutive_failures > 0 ? iso(health->first_failure_at) : json::value(nullptr)},
    };
    return Reply{http::status::ok, json::serialize(out)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// GET /app/{app}/dead-letter (hookwire extension): every failed delivery of the application, newest first.
asio::awaitable<Response> dead_letters(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto params = list_params(req);
  if (!params) co_return error_response(params.error(), req.version(), req.keep_alive());
  if (params->query.status) {
    co_return error_response(Error::validation("query.status", "is not a filter of dead letters (all fail)"),
                             req.version(), req.keep_alive());
  }
  ReadFn fn = [p = std::move(*params), app_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto list = tx.list_failed_deliveries(app->id, p.query);
    if (!list) return list.take_error();
    return Reply{http::status::ok, endpoint_message_list_json(*list, p.with_content, true)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_delivery_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::get, "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return message_endpoints(ctx, req, p.get("app_id"), p.get("msg_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return endpoint_messages(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return endpoint_stats(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/health",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return endpoint_health(ctx, req, p.get("app_id"), p.get("endpoint_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/dead-letter",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return dead_letters(ctx, req, p.get("app_id"));
             }));
}

}  // namespace hookwire::api::v1
