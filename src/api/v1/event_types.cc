// /api/v1/event-type: the catalogue of event types (global, keyed by name).
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::EventType;

namespace {

struct EventTypeFields {
  std::optional<std::string> name, description, feature_flag, schemas;
  std::optional<bool> archived, deprecated;
  bool clear_feature_flag = false, clear_schemas = false;
};

enum class Shape { kIn, kUpdate, kPatch };

Result<EventTypeFields> read_event_type(const json::object& obj, Shape shape) {
  FieldReader r(obj);
  EventTypeFields f;
  if (shape == Shape::kIn) f.name = r.req_string("name", FieldReader::Rule::kToken, 256);
  f.description = shape == Shape::kPatch
                      ? r.opt_string("description", FieldReader::Rule::kAny, 8192)
                      : std::optional(r.req_string("description", FieldReader::Rule::kAny, 8192));
  f.archived = r.opt_bool("archived");
  f.deprecated = r.opt_bool("deprecated");
  f.feature_flag = r.opt_string("featureFlag", FieldReader::Rule::kToken, 256);
  f.schemas = r.opt_object_text("schemas");
  f.clear_feature_flag = r.is_null("featureFlag");
  f.clear_schemas = r.is_null("schemas");
  if (r.error()) return *r.error();
  return f;
}

void apply(EventType& et, const EventTypeFields& f, Shape shape) {
  if (f.description) et.description = *f.description;
  if (shape != Shape::kPatch) {
    // PUT replaces: absent optional fields return to their defaults.
    et.archived = f.archived.value_or(false);
    et.deprecated = f.deprecated.value_or(false);
    et.feature_flag = f.feature_flag;
    et.schemas = f.schemas;
    return;
  }
  if (f.archived) et.archived = *f.archived;
  if (f.deprecated) et.deprecated = *f.deprecated;
  if (f.feature_flag) et.feature_flag = f.feature_flag;
  if (f.clear_feature_flag) et.feature_flag.reset();
  if (f.schemas) et.schemas = f.schemas;
  if (f.clear_schemas) et.schemas.reset();
}

Reply event_type_reply(const EventType& et, http::status status = http::status::ok) {
  return {status, json::serialize(to_json(et))};
}

asio::awaitable<Response> create(const ApiContext* ctx, const Request& req) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_event_type(*obj, Shape::kIn);
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  EventType et;
  et.name = *fields->name;
  apply(et, *fields, Shape::kIn);
  et.created_at = et.updated_at = ctx->clock->now();
  WriteFn fn = [et](store::Tx& tx) -> Result<Reply> {
    if (auto st = tx.insert_event_type(et); !st) return st.take_error();
    return event_type_reply(et, http::status::created);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kAscending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  auto archived = bool_param(*query, "include_archived", false);
  if (!archived) co_return error_response(archived.error(), req.version(), req.keep_alive());
  auto with_content = bool_param(*query, "with_content", false);
  if (!with_content) co_return error_response(with_content.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page, archived = *archived, content = *with_content](store::Tx& tx) -> Result<Reply> {
    auto types = tx.list_event_types(q, archived);
    if (!types) return types.take_error();
    if (!content)
      for (auto& et : types->items) et.schemas.reset();
    return Reply{http::status::ok, list_json(*types)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string name) {
  ReadFn fn = [name](store::Tx& tx) -> Result<Reply> {
    auto et = tx.get_event_type(name);
    if (!et) return et.take_error();
    return event_type_reply(*et);
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// PUT creates the event type (201) when it does not exist yet, as Svix does.
asio::awaitable<Response> update(const ApiContext* ctx, const Request& req, std::string name, Shape shape) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  auto fields = read_event_type(*obj, shape);
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [f = std::move(*fields), name, shape, now](store::Tx& tx) -> Result<Reply> {
    auto et = tx.get_event_type(name);
    if (!et) {
      if (et.error().code != Errc::kNotFound || shape == Shape::kPatch) return et.take_error();
      if (!is_token(name)) return Error::validation("path.event_type_name", "must match ^[a-zA-Z0-9\\-_.]+$");
      EventType created;
      created.name = name;
      apply(created, f, shape);
      created.created_at = created.updated_at = now;
      if (auto st = tx.insert_event_type(created); !st) return st.take_error();
      return event_type_reply(created, http::status::created);
    }
    apply(*et, f, shape);
    et->updated_at = now;
    if (auto st = tx.update_event_type(*et); !st) return st.take_error();
    return event_type_reply(*et);
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

// DELETE archives (Svix semantics); `?expunge=true` deletes for good.
asio::awaitable<Response> remove(const ApiContext* ctx, const Request& req, std::string name) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto expunge = bool_param(*query, "expunge", false);
  if (!expunge) co_return error_response(expunge.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [name, now, expunge = *expunge](store::Tx& tx) -> Result<Reply> {
    auto et = tx.get_event_type(name);
    if (!et) return et.take_error();
    if (expunge) {
      if (auto st = tx.delete_event_type(name); !st) return st.take_error();
    } else {
      et->archived = true;
      et->updated_at = now;
      if (auto st = tx.update_event_type(*et); !st) return st.take_error();
    }
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

}  // namespace

void add_event_type_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  const std::string one = "/api/v1/event-type/{event_type_name}";
  router.add(V::post, "/api/v1/event-type",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return create(ctx, req); }));
  router.add(V::get, "/api/v1/event-type",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return list(ctx, req); }));
  router.add(V::get, one, authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("event_type_name"));
             }));
  router.add(V::put, one, authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return update(ctx, req, p.get("event_type_name"), Shape::kUpdate);
             }));
  router.add(V::patch, one, authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return update(ctx, req, p.get("event_type_name"), Shape::kPatch);
             }));
  router.add(V::delete_, one, authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return remove(ctx, req, p.get("event_type_name"));
             }));
}

}  // namespace hookwire::api::v1
