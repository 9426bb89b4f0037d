// Svix's background tasks (QueueBackgroundTask): GET /api/v1/background-task[/{task_id}], and the usage
// statistics that hand their results back through one (POST /api/v1/stats/usage/app, PUT
// /api/v1/stats/usage/event-types). hookwire runs a task to its end before answering: the task is stored
// finished, with its result in `data`, and the answer is Svix's task shape {id, status, task, updatedAt}
// (plus what the route adds). Recover, the replays and expunge-all-contents record theirs the same way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <string_view>

#include "api/http_types.h"
#include "api/router.h"
#include "core/clock.h"
#include "store/model.h"

namespace hookwire::api::v1 {

struct ApiContext;

// A finished task of type `task` (Svix's BackgroundTaskType) with `data` as its result, made at `now`: the
// caller inserts it (Tx::insert_background_task) in the write that did the work, or the one right after.
store::BackgroundTask finished_task(std::string_view task, const boost::json::object& data, TimePoint now);
// {id, status, task, updatedAt}: what a route that ran a task answers (202), before its own fields.
boost::json::object task_summary_json(const store::BackgroundTask& t);

// Stores `task` (its own write, under the request's idempotency key) and answers 202 with its summary and
// `extra`: for a route whose work took several writes (the replays, expunge-all-contents).
boost::asio::awaitable<Response> answer_with_task(const ApiContext* ctx, const Request& req,
                                                  store::BackgroundTask task, boost::json::object extra);

void add_background_task_routes(Router& router, const ApiContext* ctx);

}  // namespace hookwire::api::v1
