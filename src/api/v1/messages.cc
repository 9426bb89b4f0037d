// /api/v1/app/{app_id}/msg: publishing messages and reading them back.
#include "api/v1/applications.h"
#include "api/v1/background_tasks.h"
#include "api/v1/body_readers.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "api/v1/serialize.h"
#include "core/ids.h"
#include "delivery/fan_out.h"
#include "delivery/publish.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
using store::Message;

namespace {

struct MessageFields {
  Message msg;  // id and app_id filled in the transaction
  std::optional<ApplicationFields> application;
  // payloadRetentionPeriod / payloadRetentionHours: the payload is deleted this long after creation.
  std::optional<std::chrono::hours> payload_retention;
};

Result<MessageFields> read_message(std::string_view body) {
  // The parsed object lives only here (the payload is kept as raw text): one arena, no allocation per node.
  unsigned char arena[8192];
  json::monotonic_resource mr(arena, sizeof arena);
  auto obj = parse_object(body, &mr);
  if (!obj) return obj.take_error();
  FieldReader r(*obj);
  MessageFields f;
  f.msg.event_type = r.req_string("eventType", FieldReader::Rule::kToken, 256);
  f.msg.event_id = r.opt_string("eventId", FieldReader::Rule::kToken, 256);
  f.msg.channels = r.opt_string_array("channels", FieldReader::Rule::kToken, 5);
  // Svix's bounds; the two are mutually exclusive. Without either the payload is kept as long as the message.
  const auto days = r.opt_int("payloadRetentionPeriod", 1, 90);
  const auto hours = r.opt_int("payloadRetentionHours", 1, 90 * 24);
  if (days && hours)
    r.fail("payloadRetentionHours", "must not be given with payloadRetentionPeriod (one or the other)");
  if (days) f.payload_retention = std::chrono::hours{*days * 24};
  if (hours) f.payload_retention = std::chrono::hours{*hours};
  auto payload = obj->find("payload");
  if (payload == obj->end() || payload->value().is_null()) {
    r.fail("payload", "field required");
  } else if (!payload->value().is_object()) {
    r.fail("payload", "must be a JSON object");
  }
  if (auto app = obj->find("application"); app != obj->end() && !app->value().is_null()) {
    if (!app->value().is_object()) {
      r.fail("application", "must be an object");
    } else if (!r.error()) {
      auto fields = read_application(app->value().as_object(), false, "body.application");
      if (!fields) return fields.take_error();
      f.application = std::move(*fields);
    }
  }
  if (r.error()) return *r.error();
  // Keep the payload exactly as the caller wrote it (number formats, key order), not re-serialized.
  // raw_member finds the member the parser kept (keys compared decoded, the last duplicate wins); that what
  // it found is the object validated above is checked, never assumed: nothing is acknowledged but what was
  // validated.
  const auto raw = raw_member(body, "payload");
  if (!raw || raw->size() < 2 || raw->front() != '{' || raw->back() != '}')
    return Error::bad_request("body.payload: the payload object could not be read as sent");
  f.msg.payload = std::string(*raw);
  if (f.payload_retention) f.msg.payload_expires_at = f.msg.created_at + *f.payload_retention;
  return f;
}

// Message creation honours `idempotency-key` as write_reply() does, but keeps the record in the message row
// (Message::idempotency_key, unique per application) rather than in the idempotency table: publishing is the
// hot path, and a replay's answer is the stored message itself.
asio::awaitable<Response> create(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto with_content = bool_param(*query, "with_content", true);
  if (!with_content) co_return error_response(with_content.error(), req.version(), req.keep_alive());
  auto key = idempotency_key(req);
  if (!key) co_return error_response(key.error(), req.version(), req.keep_alive());
  auto fields = read_message(req.body());
  if (!fields) co_return error_response(fields.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  // The store gives the message its id in the write; the answer carries a stand-in of the same length until
  // then, replaced in place (message_json puts the id first).
  fields->msg.id = new_id(id_prefix::kMessage, now);
  fields->msg.created_at = now;
  if (fields->payload_retention) fields->msg.payload_expires_at = now + *fields->payload_retention;
  if (*key) {
    fields->msg.idempotency_key = std::move((*key)->key);
    fields->msg.request_hash = std::move((*key)->request_hash);
  }
  // The answer does not depend on the transaction (but for the id): build it here, not in the writer
  // everyone waits for.
  std::string body = message_json(fields->msg, *with_content);
  const size_t id_at = body.find(fields->msg.id);  // first: before any text from the request
  // The function's value: the replayed answer of a used key (nullopt when it published the message), and
  // the deliveries it created (for the wake-up once durable).
  struct Created {
    std::optional<std::string> replay;
    delivery::Published published;
  };
  std::function<Result<Created>(store::Tx&)> fn =
      [f = std::move(*fields), app_id, now, ttl = ctx->idempotency_ttl,
       with_content = *with_content](store::Tx& tx) mutable -> Result<Created> {
    auto app = tx.get_application(app_id);
    if (!app) {
      // MessageIn.application: create the application on first use, with the path's id as its uid.
      if (app.error().code != Errc::kNotFound || !f.application) return app.take_error();
      if (is_id(app_id, id_prefix::kApplication) || !is_token(app_id))
        return Error::not_found("application not found");
      f.application->uid = app_id;
      app = new_application(*f.application, now);
      if (auto st = tx.insert_application(*app); !st) return st.take_error();
    }
    f.msg.app_id = app->id;
    auto published = delivery::publish(tx, f.msg, ttl, now);
    if (!published) {
      if (published.error().code != Errc::kConflict) return published.take_error();
      return Error::conflict("a message with eventId \"" + f.msg.event_id.value_or("") + "\" already exists");
    }
    if (const auto& held = published->held) {  // the key's message, within the TTL: replay it, if this is
                                               // the same request
      if (held->request_hash != f.msg.request_hash)
        return Error::validation("header.idempotency-key",
                                 "this idempotency key was already used with a different request");
      return Created{message_json(*held, with_content), {}};
    }
    return Created{std::nullopt, std::move(*published)};
  };
  auto result = co_await store::write<Created>(*ctx->store, std::move(fn));
  if (!result) co_return error_response(result.error(), req.version(), req.keep_alive());
  if (result->replay)
    co_return replayed_response(req, Reply{http::status::accepted, std::move(*result->replay)});
  body.replace(id_at, result->published.id.size(), result->published.id);  // ids all have one length
  if (ctx->metrics)
    ctx->metrics->counter("messages_created_total", "Messages created through the API.", {{"via", "api"}})
        .inc();
  delivery::published(result->published, ctx->on_deliveries_created);
  co_return make_response(req, Reply{http::status::accepted, std::move(body)});
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kDescending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  auto with_content = bool_param(*query, "with_content", true);
  if (!with_content) co_return error_response(with_content.error(), req.version(), req.keep_alive());
  store::MessageQuery mq;
  mq.page = *page;
  for (const char* bound : {"before", "after"}) {
    auto t = time_param(*query, bound);
    if (!t) co_return error_response(t.error(), req.version(), req.keep_alive());
    if (*t) (std::string_view(bound) == "before" ? mq.before : mq.after) = **t;
  }
  mq.event_types = query->list("event_types");
  for (const auto& et : mq.event_types)
    if (!is_token(et))
      co_return error_response(Error::validation("query.event_types", "items must match ^[a-zA-Z0-9\\-_.]+$"),
                               req.version(), req.keep_alive());
  mq.channel = query->get("channel");
  // hookwire's extension: messages with a delivery in this status (a bounded scan: store::MessageQuery).
  auto status = status_param(*query);
  if (!status) co_return error_response(status.error(), req.version(), req.keep_alive());
  mq.status = *status;
  ReadFn fn = [mq, app_id, content = *with_content,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto msgs = tx.list_messages(app->id, mq);
    if (!msgs) return msgs.take_error();
    return Reply{http::status::ok, message_list_json(*msgs, content)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string app_id,
                              std::string msg_id) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto with_content = bool_param(*query, "with_content", true);
  if (!with_content) co_return error_response(with_content.error(), req.version(), req.keep_alive());
  ReadFn fn = [app_id, msg_id, content = *with_content,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto msg = tx.get_message(app->id, msg_id);
    if (!msg) return msg.take_error();
    return Reply{http::status::ok, message_json(*msg, content)};
  };
  auto response = co_await read_reply(ctx, req, std::move(fn));
  co_return response;
}

// DELETE /app/{app}/msg/{msg}/content (Svix's expunge): the payload is deleted. The message stays (read back,
// its payload is {"expired":true}) but is never sent again: its pending deliveries fail when they come due
// and a resend is refused (409).
asio::awaitable<Response> expunge(const ApiContext* ctx, const Request& req, std::string app_id,
                                  std::string msg_id) {
  WriteFn fn = [app_id, msg_id](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    auto msg = tx.get_message(app->id, msg_id);
    if (!msg) return msg.take_error();
    if (auto st = tx.expunge_message_payload(app->id, msg->id); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  co_return response;
}

// Svix's precheck: would a message of this event type (and channels) reach any enabled endpoint of the
// application? {"active": bool}. Sinks count: they read it.
asio::awaitable<Response> precheck(const ApiContext* ctx, const Request& req, std::string app_id) {
  auto obj = parse_object(req.body());
  if (!obj) co_return error_response(obj.error(), req.version(), req.keep_alive());
  FieldReader r(*obj);
  store::Message probe;
  probe.event_type = r.req_string("eventType", FieldReader::Rule::kToken, 256);
  probe.channels = r.opt_string_array("channels", FieldReader::Rule::kToken, 10);
  if (r.error()) co_return error_response(*r.error(), req.version(), req.keep_alive());
  ReadFn fn = [probe = std::move(probe), app_id,
               caller = caller_of(ctx, req)](store::Tx& tx) -> Result<Reply> {
    auto app = tx.get_application(app_id);
    if (!app) return app.take_error();
    if (auto st = caller.may_access(app->id); !st) return st.take_error();
    auto endpoints = tx.list_enabled_endpoints(app->id);
    if (!endpoints) return endpoints.take_error();
    const bool active = std::any_of(endpoints->begin(), endpoints->end(), [&](const store::Endpoint& ep) {
      return delivery::endpoint_matches(ep, probe);
    });
    return Reply{http::status::ok, json::serialize(json::object{{"active", active}})};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

// Svix's expunge-all-contents: every payload of the application emptied, a batch per write so that other
// writes go between batches; answered once done, with its background task (status "finished").
asio::awaitable<Response> expunge_all(const ApiContext* ctx, const Request& req, std::string app_id) {
  constexpr int kBatch = 1000;
  std::string after;
  for (;;) {
    std::function<Result<store::Tx::ExpungeBatch>(store::Tx&)> fn =
        [app_id, after, caller = caller_of(ctx, req)](store::Tx& tx) -> Result<store::Tx::ExpungeBatch> {
      auto app = tx.get_application(app_id);
      if (!app) return app.take_error();
      if (auto st = caller.may_access(app->id); !st) return st.take_error();
      return tx.expunge_payloads_after(app->id, after, kBatch);
    };
    auto batch = co_await store::write<store::Tx::ExpungeBatch>(*ctx->store, std::move(fn));
    if (!batch) co_return error_response(batch.error(), req.version(), req.keep_alive());
    if (!batch->last_id) break;
    after = std::move(*batch->last_id);
  }
  auto task = finished_task("application.purge_content", json::object{{"appId", app_id}}, ctx->clock->now());
  json::object extra;
  co_return co_await answer_with_task(ctx, req, std::move(task), std::move(extra));
}

}  // namespace

Result<store::Message> parse_message_in(std::string_view body) {
  auto fields = read_message(body);
  if (!fields) return fields.take_error();
  return std::move(fields->msg);
}

void add_message_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::post, "/api/v1/app/{app_id}/msg", authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return create(ctx, req, p.get("app_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/msg",
             app_reader(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("app_id"));
             }));
  router.add(V::get, "/api/v1/app/{app_id}/msg/{msg_id}",
             app_reader(
                 ctx,
                 [ctx](const Request& req, const PathParams& p) {
                   return get(ctx, req, p.get("app_id"), p.get("msg_id"));
                 },
                 /*poller_may_read=*/true));
  router.add(V::post, "/api/v1/app/{app_id}/msg/expunge-all-contents",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return expunge_all(ctx, req, p.get("app_id"));
             }));
  router.add(V::post, "/api/v1/app/{app_id}/msg/precheck/active",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return precheck(ctx, req, p.get("app_id"));
             }));
  router.add(V::delete_, "/api/v1/app/{app_id}/msg/{msg_id}/content",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return expunge(ctx, req, p.get("app_id"), p.get("msg_id"));
             }));
}

}  // namespace hookwire::api::v1
