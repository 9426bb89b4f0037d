// GET /api/v1/source/{source_id}/request and /api/v1/source/{source_id}/request/{request_id}: the requests an
// inbound source was sent, as the gateway's request log keeps them (inbound/request_log.h): the console's
// "rejected requests and why" and the request inspector. Admin only, like the other /api/v1/source routes.
//
// The list is Svix's: {data, iterator, prevIterator, done}, newest first, paged by `iterator` (limit 1..250,
// default 50), filtered by `outcome`. `after=<request id>` asks for the records newer than that one instead,
// oldest first (continue with after=<the answer's iterator>, which is the newest id seen, or `after` itself
// when nothing is newer); `wait=0..30` holds a request whose page is empty until a record arrives (this
// node's records wake it at once; another node's are read when the wait ends).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>

#include "api/v1/routes.h"
#include "core/ids.h"
#include "inbound/gateway.h"
#include "store/async.h"

namespace hookwire::api::v1 {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr int64_t kMaxWaitSeconds = 30;

json::value opt(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

// SourceRequestOut.
json::object request_out(const store::SourceRequest& r) {
  json::object o;
  o["id"] = r.id;
  o["sourceId"] = r.source_id;
  o["receivedAt"] = format_iso8601(r.received_at);
  o["status"] = r.status;
  o["outcome"] = r.outcome;
  o["code"] = opt(r.code);
  o["reason"] = opt(r.reason);
  o["clientAddress"] = r.client_address;
  o["method"] = r.method;
  o["path"] = r.path;
  boost::system::error_code ec;
  auto headers = json::parse(r.headers, ec);
  o["headers"] = !ec && headers.is_object() ? std::move(headers) : json::value(json::object());
  o["body"] = r.body;
  o["bodyTruncated"] = r.body_truncated;
  o["bodyEncoding"] = r.body_base64 ? "base64" : "utf8";
  o["messageId"] = opt(r.message_id);
  return o;
}

struct ListParams {
  store::SourceRequestQuery query;
  std::optional<std::string> after;
  std::chrono::seconds wait{0};
};

Result<ListParams> list_params(const Request& req) {
  auto q = Query::parse(req.target());
  if (!q) return q.take_error();
  ListParams p;
  auto page = page_query(*q, store::Order::kDescending);
  if (!page) return page.take_error();
  p.query.page = std::move(*page);
  if (auto outcome = q->get("outcome")) {
    if (*outcome != "accepted" && *outcome != "duplicate" && *outcome != "rejected")
      return Error::validation("query.outcome", "must be \"accepted\", \"duplicate\" or \"rejected\"");
    p.query.outcome = std::move(*outcome);
  }
  if (auto after = q->get("after"); after && !after->empty()) {
    if (!is_id(*after, id_prefix::kSourceRequest))
      return Error::validation("query.after", "must be the id of a source request (sreq_...)");
    if (p.query.page.iterator) return Error::validation("query.after", "cannot be combined with iterator");
    p.query.page.iterator = *after;
    p.query.page.order = store::Order::kAscending;
    p.after = std::move(*after);
  }
  if (auto wait = q->get("wait")) {
    int64_t n = -1;
    auto [ptr, ec] = std::from_chars(wait->data(), wait->data() + wait->size(), n);
    if (ec != std::errc{} || ptr != wait->data() + wait->size() || n < 0 || n > kMaxWaitSeconds)
      return Error::validation("query.wait",
                               fmt::format("must be an integer between 0 and {}", kMaxWaitSeconds));
    p.wait = std::chrono::seconds(n);
  }
  return p;
}

struct Listed {
  std::string source_id;
  store::Page<store::SourceRequest> page;
};

using Deadline = std::chrono::steady_clock::time_point;
std::chrono::milliseconds left(Deadline deadline) {
  // Rounded up: a request is never answered before its `wait` is over.
  return std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
}

asio::awaitable<Response> list(const ApiContext* ctx, const Request& req, std::string source_key) {
  auto params = list_params(req);
  if (!params) co_return error_response(params.error(), req.version(), req.keep_alive());
  const ListParams p = std::move(*params);
  const Deadline deadline = std::chrono::steady_clock::now() + p.wait;
  inbound::RequestLog* log = ctx->inbound ? &ctx->inbound->request_log() : nullptr;
  bool last = p.wait.count() == 0 || !log;
  for (;;) {
    const int64_t seen = log ? log->sequence() : 0;
    std::function<Result<Listed>(store::Tx&)> fn = [source_key,
                                                    q = p.query](store::Tx& tx) -> Result<Listed> {
      auto src = tx.get_source(source_key);
      if (!src) return src.take_error();
      auto page = tx.list_source_requests(src->id, q);
      if (!page) return page.take_error();
      return Listed{src->id, std::move(*page)};
    };
    auto listed = co_await store::read<Listed>(*ctx->store, std::move(fn));
    if (!listed) co_return error_response(listed.error(), req.version(), req.keep_alive());
    const auto remaining = left(deadline);
    if (!listed->page.items.empty() || last || remaining <= std::chrono::milliseconds::zero()) {
      json::array data;
      for (const auto& r : listed->page.items) data.push_back(request_out(r));
      json::object o{{"data", std::move(data)}, {"done", listed->page.done}};
      auto iterator = listed->page.iterator ? listed->page.iterator : p.after;
      o["iterator"] = opt(iterator);
      o["prevIterator"] = opt(listed->page.prev_iterator);
      co_return make_response(req, Reply{http::status::ok, json::serialize(o)});
    }
    std::string source_id = listed->source_id;
    auto wake = co_await log->wait(std::move(source_id), seen, remaining);
    // Timed out or stopping: one more read (another node's records) and answer; woken: read, and wait again
    // for the time left if what arrived is filtered out.
    if (wake != feed::FeedHub::Wake::kAdvanced) last = true;
  }
}

asio::awaitable<Response> get(const ApiContext* ctx, const Request& req, std::string source_key,
                              std::string request_id) {
  ReadFn fn = [source_key, request_id](store::Tx& tx) -> Result<Reply> {
    auto src = tx.get_source(source_key);
    if (!src) return src.take_error();
    auto r = tx.get_source_request(src->id, request_id);
    if (!r) return r.take_error();
    return Reply{http::status::ok, json::serialize(request_out(*r))};
  };
  co_return co_await read_reply(ctx, req, std::move(fn));
}

}  // namespace

void add_source_request_routes(Router& router, const ApiContext* ctx) {
  using V = http::verb;
  router.add(V::get, "/api/v1/source/{source_id}/request",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return list(ctx, req, p.get("source_id"));
             }));
  router.add(V::get, "/api/v1/source/{source_id}/request/{request_id}",
             authed(ctx, [ctx](const Request& req, const PathParams& p) {
               return get(ctx, req, p.get("source_id"), p.get("request_id"));
             }));
}

}  // namespace hookwire::api::v1
