// What every route that reads an application's log through a sink shares (issue #19, docs/pull.md
// "Routes"): the poller and polling-endpoint routes (poller.cc) and the SSE stream (stream.cc). One home, so
// the routes cannot drift apart in how they find the sink, check an iterator, read, or show a message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1/support.h"
#include "store/store.h"

namespace hookwire::api::v1 {

// Rows one read examines at most (matching or not).
inline constexpr int kFeedScanLimit = 10'000;

// Marks an Error (kBadRequest) that is answered with Svix's code `invalid_iterator`.
inline constexpr std::string_view kInvalidIterator = "invalid_iterator";

// 400 invalid_iterator: `why`, and the iterator the log now starts at (`start`).
Error invalid_iterator(int64_t start, std::string_view why);

// The error response for a feed route: invalid_iterator errors carry that code, the rest as usual.
Response feed_fail(const Request& req, const Error& e);

// A sink: the endpoint a reader reads through (ids resolved), with its event-type and channel filters.
struct Sink {
  std::string app_id;
  std::string endpoint_id;
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::vector<std::string>> channels;
};

// The application and endpoint named by id or uid; 404 "endpoint not found" when the endpoint is not there.
Result<Sink> resolve_sink(store::Tx& tx, const std::string& app_id, const std::string& sink_id);

// The checked position an explicit iterator continues after: one hookwire handed out, not pruned
// (>= start), not past head; else invalid_iterator.
Result<int64_t> iterator_position(const std::string& text, int64_t start, int64_t head);

// What a read takes beyond the sink's own filters.
struct FeedFilter {
  int limit = 50;
  std::optional<std::string> event_type;
  std::optional<std::string> channel;
};

// Reads the sink's feed after `from`, up to `head` (at most kFeedScanLimit rows looked at). The page's
// scanned_to is never below `from`: an empty read continues where it started.
Result<store::FeedPage> read_after(store::Tx& tx, const Sink& sink, const FeedFilter& filter, int64_t from,
                                   int64_t head);

// The consumer's record; nullopt when there is none yet.
Result<std::optional<store::FeedConsumer>> find_consumer(store::Tx& tx, const std::string& app_id,
                                                         const std::string& endpoint_id,
                                                         const std::string& id);

// Appends PollingEndpointMessageOut (MessageOut with the message's `headers`), and with `offset` (the
// position) PollerV2MessageOut.
void append_feed_message(std::string& out, const store::Message& m, bool with_offset);

}  // namespace hookwire::api::v1
