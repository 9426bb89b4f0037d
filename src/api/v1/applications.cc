// /api/v1/app: applications (Svix ApplicationIn / ApplicationOut / ApplicationPatch).
#include "api/v1/applications.h"

#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "core/ids.h"
#include "inbound/sources.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::Application;

// Reads ApplicationIn (name required) or, with `patch`, ApplicationPatch (everything optional, null clears).
Result<ApplicationFields> read_application(const json::object& obj, bool patch, std::string prefix) {
  FieldReader r(obj, std::move(prefix));
  ApplicationFields f;
  f.name = patch ? r.opt_string("name", FieldReader::Rule::kNonEmpty, 256)
                 : std::optional(r.req_string("name", FieldReader::Rule::kNonEmpty, 256));
  f.uid = r.opt_string("uid", FieldReader::Rule::kToken, 256);
  f.throttle_rate = r.opt_int("throttleRate", patch ? 0 : 1, 1'000'000'000);
  f.metadata = r.opt_object_text("metadata", true);
  f.clear_uid = patch && r.is_null("uid");
  f.clear_throttle = patch && r.is_null("throttleRate");
  if (f.uid && f.uid->starts_with("app_")) r.fail("uid", "must not start with the id prefix \"app_\"");
  if (r.error()) return *r.error();
  return f;
}

Application new_application(const ApplicationFields& f, TimePoint now) {
  Application app;
  app.id = new_id(id_prefix::kApplication, now);
  app.uid = f.uid;
  app.name = *f.name;
  app.throttle_rate = f.throttle_rate;
  app.metadata = f.metadata.value_or("{}");
  app.created_at = app.updated_at = now;
  return app;
}

namespace {

Reply app_reply(const Application& app, http::status status = http::status::ok) {
  return {status, json::serialize(to_json(app))};
}

asio::awaitable<Response> create(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto get_if_exists = bool_param(*query, "get_if_exists", false);
  if (!get_if_exists) co_return error_response(get_if_exists.error(), req.version(), req.keep_alive());
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_application(*obj, false);
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), now, reuse = *get_if_exists](store::Tx& tx) -> Result<Reply> {
    if (reuse && f.uid) {
      if (auto existing = tx.get_application(*f.uid)) return app_reply(*existing);
    }
    Application app = new_application(f, now);
    if (auto st = tx.insert_application(app); !st) return st.take_error();
    return app_reply(app, http::status::created);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kAscending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page](store::Tx& tx) -> Result<Reply> {
    auto apps = tx.list_applications(q);
    if (!apps) return apps.take_error();
    return Reply{http::status::ok, list_json(*apps)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string app_id) {
  ReadFn fn = [app_id, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    return app_reply(*app);
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// PUT: replace an application; creates it (201) when `app_id` is an unused uid, as Svix does.
asio::awaitable<Response> update(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_application(*obj, false);
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), app_id, now](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) {
      if (app.error().code != Errc::kNotFound || is_id(app_id, id_prefix::kApplication))
        return app.take_error();
      if (f.uid && *f.uid != app_id)
        return Error::validation("body.uid", "must equal the uid in the path when creating through PUT");
      auto created_fields = f;
      created_fields.uid = app_id;
      Application created = new_application(created_fields, now);
      if (auto st = tx.insert_application(created); !st) return st.take_error();
      return app_reply(created, http::status::created);
    }
    app->name = *f.name;
    app->uid = f.uid;
    app->throttle_rate = f.throttle_rate;
    auto metadata = inbound::keep_source_mark(tx, app->id, f.metadata.value_or("{}"));
    if (!metadata) return metadata.take_error();
    app->metadata = std::move(*metadata);
    app->updated_at = now;
    if (auto st = tx.update_application(*app); !st) return st.take_error();
    return app_reply(*app);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> patch(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_application(*obj, true);
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), app_id, now](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (f.name) app->name = *f.name;
    if (f.uid) app->uid = f.uid;
    if (f.clear_uid) app->uid.reset();
    if (f.throttle_rate) app->throttle_rate = f.throttle_rate;
    if (f.clear_throttle) app->throttle_rate.reset();
    if (f.metadata) {
      auto metadata = inbound::keep_source_mark(tx, app->id, *f.metadata);
      if (!metadata) return metadata.take_error();
      app->metadata = std::move(*metadata);
    }
    app->updated_at = now;
    if (auto st = tx.update_application(*app); !st) return st.take_error();
    return app_reply(*app);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> remove(const ApiContext* ctx, const Request& req, std::string app_id) {
  WriteFn fn = [app_id](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    // A source's application goes with its source: deleting it alone would leave /in/{source} answering 404
    // with a source still configured.
    auto owner = inbound::source_of_application(tx, app->id);
    if (!owner) return owner.take_error();
    if (*owner) {
      const std::string name = (*owner)->uid.value_or((*owner)->id);
      return Error::conflict("application " + app->id + " belongs to inbound source " + name +
                             ": delete the source (DELETE /api/v1/source/" + name +
                             "), which deletes its application");
    }
    if (auto st = tx.delete_application(app->id); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_application_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::post, "/api/v1/app",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return create(ctx, req); }));
  router.add(V::get, "/api/v1/app",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return list(ctx, req); }));
  router.add(V::get, "/api/v1/app/{app_id}", app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("app_id"));
             }));
  router.add(V::put, "/api/v1/app/{app_id}", authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return update(ctx, req, p.get("app_id"));
             }));
  router.add(V::patch, "/api/v1/app/{app_id}", authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return patch(ctx, req, p.get("app_id"));
             }));
  router.add(V::delete_, "/api/v1/app/{app_id}", authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return remove(ctx, req, p.get("app_id"));
             }));
}

}  // namespace hookwire::api::v1
