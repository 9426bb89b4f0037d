#include "api/v1/feed_reads.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/v1/serialize.h"
#include "feed/cursor.h"

namespace hookwire::api::v1 {

Error invalid_iterator(int64_t start, std::string_view why) {
  return Error{Errc::kBadRequest,
               fmt::format("{}; the log now starts at iterator {}", why, feed::encode_cursor(start)),
               std::string(kInvalidIterator)};
}

Response feed_fail(const Request& req, const Error& e) {
  if (e.code == Errc::kBadRequest && e.field == kInvalidIterator)
    return error_response(http::status::bad_request, kInvalidIterator, e.detail, req.version(),
                          req.keep_alive());
  return error_response(e, req.version(), req.keep_alive());
}

Result<Sink> resolve_sink(store::Tx& tx, const std::string& app_id, const std::string& sink_id) {
  auto app = tx.get_application(app_id);
  if (!app) return app.take_error();
  auto ep = tx.get_endpoint(app->id, sink_id);
  if (!ep) {
    if (ep.error().code == Errc::kNotFound) return Error::not_found("endpoint not found");
    return ep.take_error();
  }
  return Sink{app->id, ep->id, std::move(ep->event_types), std::move(ep->channels)};
}

Result<int64_t> iterator_position(const std::string& text, int64_t start, int64_t head) {
  auto pos = feed::decode_cursor(text);
  if (!pos) return invalid_iterator(start, "the iterator is not one hookwire handed out");
  if (*pos < start)
    return invalid_iterator(start, "the iterator points into the part of the log that was pruned");
  if (*pos > head) return invalid_iterator(start, "the iterator points past the end of the log");
  return *pos;
}

Result<store::FeedPage> read_after(store::Tx& tx, const Sink& sink, const FeedFilter& filter, int64_t from,
                                   int64_t head) {
  store::FeedQuery fq;
  fq.app_id = sink.app_id;
  fq.after = from;
  fq.until = head;
  fq.limit = filter.limit;
  fq.scan_limit = kFeedScanLimit;
  fq.event_types = sink.event_types;
  fq.channels = sink.channels;
  fq.event_type = filter.event_type;
  fq.channel = filter.channel;
  auto page = tx.read_feed(fq);
  if (!page) return page.take_error();
  page->scanned_to = std::max(page->scanned_to, from);
  return page;
}

Result<std::optional<store::FeedConsumer>> find_consumer(store::Tx& tx, const std::string& app_id,
                                                         const std::string& endpoint_id,
                                                         const std::string& id) {
  auto c = tx.get_feed_consumer(app_id, endpoint_id, id);
  if (c) return std::optional<store::FeedConsumer>(std::move(*c));
  if (c.error().code == Errc::kNotFound) return std::optional<store::FeedConsumer>();
  return c.take_error();
}

void append_feed_message(std::string& out, const store::Message& m, bool with_offset) {
  std::string text = message_json(m);
  text.pop_back();  // '}'
  out += text;
  out += ",\"headers\":";
  out += m.headers ? std::string_view(*m.headers) : std::string_view("null");
  if (with_offset) out += fmt::format(",\"offset\":{}", m.position);
  out += '}';
}

}  // namespace hookwire::api::v1
