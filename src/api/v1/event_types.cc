// /api/v1/event-type: the catalogue of event types (global, keyed by name).
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "core/names.h"

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

// The event type one webhook of an OpenAPI document describes: its key is the name; the POST operation's
// description (or summary) the description; its JSON request body's schema (a top-level "$ref" into
// components.schemas resolved) is schemas["1"], with the media type's example(s) as its "examples" (what
// send-example and `hookwire send --example` send). Errors name the webhook.
Result<EventType> from_openapi(std::string_view name, const json::value& item, const json::object& spec) {
  const std::string where = "body.spec.webhooks." + std::string(name);
  if (name.empty() || name.size() > 256 || !is_token(name))
    return Error::validation(where, "an event type name must match ^[a-zA-Z0-9\\-_.]+$ (at most 256)");
  const json::object* op = nullptr;
  if (const auto* path_item = item.if_object()) {
    if (const auto* post = path_item->if_contains("post")) op = post->if_object();
    for (const auto& kv : *path_item)
      if (!op && kv.value().is_object()) op = &kv.value().as_object();
  }
  if (!op) return Error::validation(where, "must hold an operation (post)");
  EventType et;
  et.name = std::string(name);
  for (const char* key : {"description", "summary"})
    if (const auto* text = op->if_contains(key); text && text->is_string() && et.description.empty())
      et.description =
          std::string(text->as_string().subview(0, std::min<size_t>(text->as_string().size(), 8192)));
  if (const auto* d = op->if_contains("deprecated"); d && d->is_bool()) et.deprecated = d->as_bool();
  const json::value* media = nullptr;
  if (const auto* body = op->if_contains("requestBody"); body && body->is_object())
    if (const auto* content = body->as_object().if_contains("content"); content && content->is_object())
      media = content->as_object().if_contains("application/json");
  if (media && media->is_object()) {
    json::value schema = media->as_object().contains("schema") ? media->at("schema") : json::object();
    if (const auto* ref = schema.is_object() ? schema.as_object().if_contains("$ref") : nullptr;
        ref && ref->is_string() && ref->as_string().starts_with("#/components/schemas/")) {
      const std::string_view target = std::string_view(ref->as_string()).substr(21);
      const json::value* resolved = nullptr;
      if (const auto* components = spec.if_contains("components"); components && components->is_object())
        if (const auto* schemas = components->as_object().if_contains("schemas");
            schemas && schemas->is_object())
          resolved = schemas->as_object().if_contains(target);
      if (!resolved) return Error::validation(where, "its schema's $ref names no components.schemas entry");
      schema = *resolved;
    }
    if (schema.is_object()) {
      json::array examples;
      if (const auto* e = media->as_object().if_contains("example")) examples.push_back(*e);
      if (const auto* many = media->as_object().if_contains("examples"); many && many->is_object())
        for (const auto& kv : many->as_object())
          if (const auto* v = kv.value().is_object() ? kv.value().as_object().if_contains("value") : nullptr)
            examples.push_back(*v);
      if (!examples.empty() && !schema.as_object().contains("examples"))
        schema.as_object()["examples"] = std::move(examples);
      et.schemas = json::serialize(json::object{{"1", std::move(schema)}});
    }
  }
  return et;
}

// POST /api/v1/event-type/import/openapi {spec | specRaw (JSON text), dryRun?, replaceAll?}: the document's
// webhooks (or x-webhooks) become event types, created or updated (an archived one unarchived); with
// replaceAll, the others are archived. dryRun: what would change, and nothing changes.
asio::awaitable<Response> import_openapi(const ApiContext* ctx, const Request& req) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  const bool dry_run = r.opt_bool("dryRun").value_or(false);
  const bool replace_all = r.opt_bool("replaceAll").value_or(false);
  const json::value* spec_value = obj->if_contains("spec");
  const auto raw = r.opt_string("specRaw", FieldReader::Rule::kAny, 16 << 20);
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  if ((spec_value && !spec_value->is_null()) == raw.has_value())
    co_return error_response(
        Error::bad_request("give the document as spec (an object) or specRaw (text), one of them"),
        req.version(), req.keep_alive());
  json::value parsed;
  if (raw) {
    boost::system::error_code ec;
    parsed = json::parse(*raw, ec);
    if (ec || !parsed.is_object())
      co_return error_response(
          Error::validation("body.specRaw",
                            "must be a JSON document (hookwire does not read YAML: send it parsed, as spec)"),
          req.version(), req.keep_alive());
    spec_value = &parsed;
  }
  if (!spec_value->is_object())
    co_return error_response(Error::validation("body.spec", "must be an object"), req.version(),
                             req.keep_alive());
  const json::object& spec = spec_value->as_object();
  const json::value* hooks = spec.if_contains("webhooks");
  if (!hooks) hooks = spec.if_contains("x-webhooks");
  if (!hooks || !hooks->is_object())
    co_return error_response(
        Error::validation("body.spec.webhooks", "the document has no webhooks (or x-webhooks)"),
        req.version(), req.keep_alive());
  std::vector<EventType> types;
  for (const auto& kv : hooks->as_object()) {
    auto et = from_openapi(kv.key(), kv.value(), spec);
    if (!et) co_return error_response(et.error(), req.version(), req.keep_alive());
    types.push_back(std::move(*et));
  }
  json::array modified;
  for (const auto& et : types) modified.emplace_back(et.name);
  if (dry_run) {
    json::array to_modify;
    for (const auto& et : types)
      to_modify.push_back(json::object{{"name", et.name},
                                       {"description", et.description},
                                       {"schemas", et.schemas ? json::parse(*et.schemas) : json::value()},
                                       {"deprecated", et.deprecated}});
    co_return make_response(
        req, Reply{http::status::ok,
                   json::serialize(json::object{
                       {"data", json::object{{"modified", modified}, {"to_modify", to_modify}}}})});
  }
  const TimePoint now = ctx->clock->now();
  WriteFn fn = [types, replace_all, now, modified](store::Tx& tx) -> Result<Reply> {
    for (EventType et : types) {
      auto held = tx.get_event_type(et.name);
      if (held) {
        held->description = et.description;
        held->schemas = et.schemas;
        held->deprecated = et.deprecated;
        held->archived = false;
        held->updated_at = now;
        if (auto st = tx.update_event_type(*held); !st) return st.take_error();
        continue;
      }
      if (held.error().code != Errc::kNotFound) return held.take_error();
      et.created_at = et.updated_at = now;
      if (auto st = tx.insert_event_type(et); !st) return st.take_error();
    }
    if (replace_all) {
      std::vector<EventType> others;
      store::PageQuery q;
      q.limit = 250;
      for (;;) {
        auto page = tx.list_event_types(q, /*include_archived=*/false);
        if (!page) return page.take_error();
        for (auto& et : page->items)
          if (std::none_of(types.begin(), types.end(), [&](const EventType& t) { return t.name == et.name; }))
            others.push_back(std::move(et));
        if (page->done || !page->iterator) break;
        q.iterator = page->iterator;
      }
      for (auto& et : others) {
        et.archived = true;
        et.updated_at = now;
        if (auto st = tx.update_event_type(et); !st) return st.take_error();
      }
    }
    return Reply{http::status::ok,
                 json::serialize(json::object{{"data", json::object{{"modified", modified}}}})};
  };
  co_return co_await write_reply(ctx, req, std::move(fn));
}

}  // namespace

void add_event_type_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  const std::string one = "/api/v1/event-type/{event_type_name}";
  router.add(V::post, "/api/v1/event-type",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return create(ctx, req); }));
  // The catalog is shown by every application's portal (Svix lets app-portal tokens read it).
  router.add(V::get, "/api/v1/event-type",
             portal_reader(ctx, [ctx](const Request& req, const PathParams&) { return list(ctx, req); }));
  router.add(V::post, "/api/v1/event-type/import/openapi",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return import_openapi(ctx, req); }));
  router.add(V::get, one, portal_reader(ctx, [ctx](const Request& req, const PathParams& p) {
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
