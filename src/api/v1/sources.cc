// /api/v1/source: inbound sources (a hookwire extension; see openapi.json) and POST /in/{source}, where
// providers send their webhooks. The gateway logic lives in inbound/; these are the HTTP shells around it.
#include "inbound/sources.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>

#include "api/openapi/openapi.h"
#include "api/v1/json_body.h"
#include "api/v1/routes.h"
#include "inbound/gateway.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

Result<inbound::SourceSpec> read_spec(const ApiContext* ctx, std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return obj.take_error();
  auto spec = inbound::parse_source_spec(*obj, ctx->inbound->options().max_body_limit);
  if (!spec) return spec;
  if (auto st = inbound::check_destinations(*spec, url_guard(ctx)); !st) return st.take_error();
  return spec;
}

// Runs fn in the writer; on success the gateway forgets its cached sources and learns `written` (the source
// the function created or replaced), so the next request sees the change.
using SourceWriteFn = std::function<Result<store::Source>(store::Tx&)>;
asio::awaitable<Response> write_source(const ApiContext* ctx, const Request& req, SourceWriteFn change,
                                       http::status ok_status) {
  auto written = std::make_shared<std::optional<store::Source>>();
  WriteFn fn = [change = std::move(change), written, ok_status](store::Tx& tx) -> Result<Reply> {
    auto src = change(tx);
    if (!src) return src.take_error();
    auto out = inbound::source_out(tx, *src);
    if (!out) return out.take_error();
    *written = *src;
    return Reply{ok_status, json::serialize(*out)};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  if (response.result() == ok_status) {
    ctx->inbound->invalidate();
    ctx->store->publish_change("sources");
    if (*written) ctx->inbound->note_source(**written);
  }
  co_return response;
}

asio::awaitable<Response> create(const ApiContext* ctx, const Request& req) {
  auto spec = read_spec(ctx, req.body());
  if (!spec) co_return error_response(spec.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  SourceWriteFn change = [spec = std::move(*spec), now](store::Tx& tx) {
    return inbound::create_source(tx, spec, now);
  };
  co_return co_await write_source(ctx, req, std::move(change), http::status::created);
}

// A source declared in the config file is changed there: the file replaces it at every start.
Status refuse_declared(const store::Source& src) {
  auto spec = inbound::spec_from_config(src.config);
  if (!spec) return spec.take_error();
  if (!spec->declared_in_config) return {};
  return Error::conflict(
      "source " + src.uid.value_or(src.id) +
      " is declared in the config file: change it there (the file replaces it at every start)");
}

asio::awaitable<Response> replace(const ApiContext* ctx, const Request& req, std::string source_id) {
  auto spec = read_spec(ctx, req.body());
  if (!spec) co_return error_response(spec.error(), req.version(), req.keep_alive());
  const TimePoint now = ctx->clock->now();
  SourceWriteFn change = [spec = std::move(*spec), now, source_id](store::Tx& tx) -> Result<store::Source> {
    auto existing = tx.get_source(source_id);
    if (!existing) return existing.take_error();
    if (auto st = refuse_declared(*existing); !st) return st.take_error();
    return inbound::replace_source(tx, std::move(*existing), spec, now);
  };
  co_return co_await write_source(ctx, req, std::move(change), http::status::ok);
}

asio::awaitable<Response> remove(const ApiContext* ctx, const Request& req, std::string source_id) {
  WriteFn fn = [source_id](store::Tx& tx) -> Result<Reply> {
    auto existing = tx.get_source(source_id);
    if (!existing) return existing.take_error();
    if (auto st = refuse_declared(*existing); !st) return st.take_error();
    if (auto st = inbound::delete_source(tx, source_id); !st) return st.take_error();
    return Reply{http::status::no_content, {}};
  };
  auto response = co_await write_reply(ctx, req, std::move(fn));
  if (response.result() == http::status::no_content) {
    ctx->inbound->invalidate();
    ctx->store->publish_change("sources");
  }
  co_return response;
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string source_id) {
  ReadFn fn = [source_id](store::Tx& tx) -> Result<Reply> {
    auto src = tx.get_source(source_id);
    if (!src) return src.take_error();
    auto out = inbound::source_out(tx, *src);
    if (!out) return out.take_error();
    return Reply{http::status::ok, json::serialize(*out)};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req) {
  auto query = Query::parse(req.target());
  if (!query) co_return error_response(query.error(), req.version(), req.keep_alive());
  auto page = page_query(*query, store::Order::kAscending);
  if (!page) co_return error_response(page.error(), req.version(), req.keep_alive());
  ReadFn fn = [q = *page](store::Tx& tx) -> Result<Reply> {
    auto sources = tx.list_sources(q);
    if (!sources) return sources.take_error();
    json::array data;
    for (const auto& src : sources->items) {
      auto out = inbound::source_out(tx, src);
      if (!out) return out.take_error();
      data.push_back(std::move(*out));
    }
    json::object o{{"data", std::move(data)}, {"done", sources->done}};
    o["iterator"] = sources->iterator ? json::value(*sources->iterator) : json::value(nullptr);
    o["prevIterator"] = sources->prev_iterator ? json::value(*sources->prev_iterator) : json::value(nullptr);
    return Reply{http::status::ok, json::serialize(o)};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

std::optional<std::string_view> find_header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  return it->value();
}

// The request line and headers of `req` for the request log (read only when a record is kept).
inbound::RequestHead request_head(const Request& req) {
  inbound::RequestHead head;
  head.method = req.method_string();
  head.target = req.target();
  head.each_header = [&req](const inbound::HeaderVisitor& visit) {
    for (const auto& field : req) visit(field.name_string(), field.value());
  };
  return head;
}

// Every field line of `name`, joined with ", " in order (RFC 9110 5.3), or nullopt if there is none. One
// line is returned as it is (no copy).
std::optional<std::string_view> joined_header(const Request& req, std::string_view name,
                                              std::string& storage) {
  auto [first, last] = req.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) == last) return first->value();
  for (auto it = first; it != last; ++it) {
    if (!storage.empty()) storage += ", ";
    storage.append(it->value().data(), it->value().size());
  }
  return storage;
}

asio::awaitable<Response> receive(const ApiContext* ctx, const Request& req, std::string source,
                                  boost::asio::ip::address peer, std::shared_ptr<const void> note) {
  // A proxy may add its own X-Forwarded-For line after the client's (HAProxy's `option forwardfor`): the
  // gateway must see every line, or it would believe the client's.
  std::string forwarded_storage;
  const auto forwarded_for = joined_header(req, "x-forwarded-for", forwarded_storage);
  inbound::Incoming in;
  in.source = source;
  in.peer = peer;
  in.headers = [&req, forwarded_for](std::string_view name) {
    return name == "x-forwarded-for" ? forwarded_for : find_header(req, name);
  };
  in.body = req.body();
  in.head = request_head(req);
  in.source_entry = std::static_pointer_cast<const inbound::CachedSource>(note);
  auto outcome = co_await ctx->inbound->receive(std::move(in));
  co_return json_response(static_cast<http::status>(outcome.status), std::move(outcome.body), req.version(),
                          req.keep_alive());
}

// The declared Content-Length (check_head() has made sure there is at most one, and that it is a number).
std::optional<uint64_t> content_length(const Request& head) {
  auto it = head.find(http::field::content_length);
  if (it == head.end()) return std::nullopt;
  uint64_t n = 0;
  const auto v = it->value();
  if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc{}) return std::nullopt;
  return n;
}

Admission inbound_admission(const ApiContext* ctx) {
  Admission a;
  a.check_route = [ctx](const Request& head, Admission::Route& route) -> std::optional<Response> {
    const auto& source = route.params.get("source");
    auto found = ctx->inbound->lookup(source);
    if (found.kind == inbound::Gateway::Lookup::Kind::kNotCached) {
      route.wait = true;  // the second time (after warm()), the handler will load it
      return std::nullopt;
    }
    if (auto refused =
            ctx->inbound->admit(found, source, content_length(head), route.params.peer(), request_head(head)))
      return json_response(static_cast<http::status>(refused->status), std::move(refused->body),
                           head.version(), head.keep_alive());
    if (found.kind == inbound::Gateway::Lookup::Kind::kKnown) {
      route.body_limit = std::min(route.body_limit, found.body_limit);
      route.params.set_note(std::move(found.entry));
    }
    return std::nullopt;
  };
  a.wait = [ctx](const Request&, const PathParams& params) {
    return ctx->inbound->warm(params.get("source"));
  };
  return a;
}

}  // namespace

void add_source_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::post, "/api/v1/source",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return create(ctx, req); }));
  router.add(V::get, "/api/v1/source",
             authed(ctx, [ctx](const Request& req, const PathParams&) { return list(ctx, req); }));
  router.add(V::get, "/api/v1/source/{source_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("source_id"));
             }));
  router.add(V::put, "/api/v1/source/{source_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return replace(ctx, req, p.get("source_id"));
             }));
  router.add(V::delete_, "/api/v1/source/{source_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return remove(ctx, req, p.get("source_id"));
             }));
  // The document of hookwire's additions to Svix's API; public, like Svix's.
  router.add(V::get, "/api/v1/openapi.json", [](const Request& req, const PathParams&) {
    auto res = [](unsigned version, bool keep_alive) -> asio::awaitable<Response> {
      Response r{http::status::ok, version};
      r.keep_alive(keep_alive);
      r.set(http::field::content_type, "application/json");
      r.body() = std::string(openapi_json());
      r.prepare_payload();
      co_return r;
    };
    return res(req.version(), req.keep_alive());
  });
  add_source_request_routes(router, ctx);
  add_inbound_routes(router, ctx);
}

void add_inbound_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  // No bearer token: providers authenticate with their signature, checked against the source (so the body
  // counts against the server's budget of unauthenticated bytes). On the head, before the body is read: 404
  // for an unknown source, 413 for a declared length over its bodyLimit (a chunked body is cut there).
  router.add(
      V::post, "/in/{source}",
      [ctx](const Request& req, const PathParams& p) {
        return receive(ctx, req, p.get("source"), p.peer(), p.note());
      },
      inbound_admission(ctx));
}

}  // namespace hookwire::api::v1
