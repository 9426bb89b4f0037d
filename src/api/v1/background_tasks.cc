#include "api/v1/background_tasks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <set>

#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "core/ids.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;

namespace {

constexpr std::array<std::string_view, 3> kStatuses = {"running", "finished", "failed"};
constexpr std::array<std::string_view, 8> kTypes = {
    "endpoint.replay", "endpoint.recover",     "application.stats",         "message.broadcast",
    "sdk.generate",    "event-type.aggregate", "application.purge_content", "endpoint.bulk-replay"};
// Applications one statistics request may name.
constexpr size_t kMaxAppIds = 1000;

template <size_t N>
Result<std::optional<std::string>> enum_param(const Query& q, std::string_view name,
                                              const std::array<std::string_view, N>& allowed) {
  auto v = q.get(name);
  if (!v) return std::optional<std::string>();
  if (std::find(allowed.begin(), allowed.end(), *v) == allowed.end())
    return Error::validation(fmt::format("query.{}", name),
                             fmt::format("must be one of: {}", fmt::join(allowed, ", ")));
  return v;
}

// GET /api/v1/background-task?status&task&limit&iterator&order (newest first by default).
asio::awaitable<Response> list(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kDescending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  auto status = enum_param(*query, "status", kStatuses);
  if (!status) co_return error_response(status.error(), req.version(), req.keep_alive());
  auto task = enum_param(*query, "task", kTypes);
  if (!task) co_return error_response(task.error(), req.version(), req.keep_alive());
  store::BackgroundTaskQuery q{*page, *status, *task};
  ReadFn fn = [q](store::Tx& tx) -> Result<Reply> {
    auto tasks = tx.list_background_tasks(q);
    if (!tasks) return tasks.take_error();
    return Reply{http::status::ok, list_json(*tasks)};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string id) {
  ReadFn fn = [id](store::Tx& tx) -> Result<Reply> {
    auto t = tx.get_background_task(id);
    if (!t) return t.take_error();
    return Reply{http::status::ok, json::serialize(to_json(*t))};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

// POST /api/v1/stats/usage/app {since, until, appIds?}: per application (those named, else every one), the
// messages created in [since, until) and their destinations (the deliveries queued in it). The result is the
// task's data: {since, until, appStats: [{appId, appUid, messages, messageDestinations}]}. Names that resolve
// to no application are answered in unresolvedAppIds; if none resolves, 422.
asio::awaitable<Response> app_stats(const ApiContext* ctx, const Request& req) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  auto range = read_range(r, /*until_required=*/true);
  const auto app_ids = r.opt_string_array("appIds", FieldReader::Rule::kToken, kMaxAppIds);
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  if (!range) co_return error_response(range.error(), req.version(), req.keep_alive());
  if (*range->until <= range->since)
    co_return error_response(Error::validation("body.until", "must be after since"), req.version(),
                             req.keep_alive());
  if (app_ids && app_ids->empty())
    co_return error_response(Error::validation("body.appIds",
                                               "must name at least one application (or be "
                                               "left out for every application)"),
                             req.version(), req.keep_alive());
  struct Stats {
    json::array app_stats;
    json::array unresolved;
  };
  std::function<Result<Stats>(store::Tx&)> fn = [range = *range, app_ids](store::Tx& tx) -> Result<Stats> {
    Stats out;
    std::set<std::string> counted;  // an application named twice (by id and by uid) is counted once
    auto add = [&](const store::Application& app) -> Status {
      if (!counted.insert(app.id).second) return {};
      auto usage = tx.app_usage(app.id, range.since, *range.until);
      if (!usage) return usage.take_error();
      out.app_stats.push_back(json::object{{"appId", app.id},
                                           {"appUid", app.uid ? json::value(*app.uid) : json::value(nullptr)},
                                           {"messages", usage->messages},
                                           {"messageDestinations", usage->message_destinations}});
      return {};
    };
    if (app_ids) {
      for (const auto& id : *app_ids) {
        auto app = tx.get_application(id);
        if (!app) {
          if (app.error().code != Errc::kNotFound) return app.take_error();
          if (std::find(out.unresolved.begin(), out.unresolved.end(), json::value(id)) ==
              out.unresolved.end())
            out.unresolved.emplace_back(id);
          continue;
        }
        if (auto st = add(*app); !st) return st.take_error();
      }
      if (out.app_stats.empty())
        return Error::validation("body.appIds", "none of the applications named exists");
      return out;
    }
    store::PageQuery page{250, std::nullopt, store::Order::kAscending};
    for (;;) {
      auto apps = tx.list_applications(page);
      if (!apps) return apps.take_error();
      for (const auto& app : apps->items)
        if (auto st = add(app); !st) return st.take_error();
      if (apps->done || !apps->iterator) break;
      page.iterator = apps->iterator;
    }
    return out;
  };
  // The counting reads run on a reader, off the writer; only the task's row is written.
  auto stats = co_await store::read<Stats>(*ctx->store, std::move(fn));
  if (!stats) co_return error_response(stats.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  json::object data{{"since", format_iso8601(range->since)},
                    {"until", format_iso8601(*range->until)},
                    {"appStats", std::move(stats->app_stats)}};
  auto task = finished_task("application.stats", data, now);
  json::object extra{{"unresolvedAppIds", std::move(stats->unresolved)}};
  co_return co_await answer_with_task(ctx, req, std::move(task), std::move(extra));
}

// PUT /api/v1/stats/usage/event-types: every event type the stored messages carry, with how many messages,
// in how many applications, and when the latest was sent. The task's data: {eventTypes: [{eventType,
// messages, applications, lastMessageAt}]}. Reads every stored message (on a reader).
asio::awaitable<Response> event_type_stats(const ApiContext* ctx, const Request& req) {
  std::function<Result<std::vector<store::EventTypeUsage>>(store::Tx&)> fn = [](store::Tx& tx) {
    return tx.event_type_usage();
  };
  auto usage = co_await store::read<std::vector<store::EventTypeUsage>>(*ctx->store, std::move(fn));
  if (!usage) co_return error_response(usage.error(), req.version(), req.keep_alive());
  json::array types;
  for (const auto& u : *usage)
    types.push_back(json::object{{"eventType", u.event_type},
                                 {"messages", u.messages},
                                 {"applications", u.applications},
                                 {"lastMessageAt", format_iso8601(u.last_message_at)}});
  auto task = finished_task("event-type.aggregate", json::object{{"eventTypes", std::move(types)}},
                            ctx->clock->now());
  json::object extra;
  co_return co_await answer_with_task(ctx, req, std::move(task), std::move(extra));
}

}  // namespace

store::BackgroundTask finished_task(std::string_view task, const json::object& data, TimePoint now) {
  return store::BackgroundTask{
      new_id("qtask", now), std::string(task), "finished", json::serialize(data), now, now};
}

json::object task_summary_json(const store::BackgroundTask& t) {
  return {{"id", t.id}, {"status", t.status}, {"task", t.task}, {"updatedAt", format_iso8601(t.updated_at)}};
}

asio::awaitable<Response> answer_with_task(const ApiContext* ctx, const Request& req,
                                           store::BackgroundTask task, json::object extra) {
  WriteFn fn = [task = std::move(task), extra = std::move(extra)](store::Tx& tx) -> Result<Reply> {
    if (auto st = tx.insert_background_task(task); !st) return st.take_error();
    auto out = task_summary_json(task);
    for (const auto& [k, v] : extra) out[k] = v;
    return Reply{http::status::accepted, json::serialize(out)};
  };
  co_return co_await write_reply(ctx, req, std::move(fn));
}

void add_background_task_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::get, "/api/v1/background-task",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return list(ctx, req); }));
  router.add(V::get, "/api/v1/background-task/{task_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("task_id"));
             }));
  router.add(V::post, "/api/v1/stats/usage/app",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return app_stats(ctx, req); }));
  router.add(
      V::put, "/api/v1/stats/usage/event-types",
      authed(ctx, [ctx](const Request& req, const PathParams&) { return event_type_stats(ctx, req); }));
}

}  // namespace hookwire::api::v1
