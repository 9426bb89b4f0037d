// The records hookwire keeps. Plain values: no behaviour, no backend types. JSON-valued fields (metadata,
// payload, schemas) are kept as their serialized text so the store never parses them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace hookwire::store {

struct Application {
  std::string id;  // app_...
  std::optional<std::string> uid;
  std::string name;
  std::optional<int64_t> throttle_rate;
  std::string metadata = "{}";  // JSON object text
  TimePoint created_at;
  TimePoint updated_at;
};

struct EventType {
  std::string name;  // the key
  std::string description;
  bool archived = false;
  bool deprecated = false;
  std::optional<std::string> feature_flag;
  std::optional<std::string> schemas;  // JSON object text
  TimePoint created_at;
  TimePoint updated_at;
};

struct EndpointSecret {
  std::string key;                      // "whsec_<base64>"
  std::optional<TimePoint> expires_at;  // set on the old key by a rotation (grace period); nullopt = current
};

struct Endpoint {
  std::string id;  // ep_...
  std::string app_id;
  std::optional<std::string> uid;
  std::string url;
  std::string description;
  bool disabled = false;
  std::optional<int64_t> rate_limit;                    // deliveries per second; nullopt = unlimited
  std::optional<std::vector<std::string>> event_types;  // nullopt = every event type
  std::optional<std::vector<std::string>> channels;     // nullopt = every channel
  std::string metadata = "{}";                          // JSON object text
  std::vector<EndpointSecret> secrets;                  // current key first; never empty
  std::map<std::string, std::string> headers;           // custom headers sent with each delivery
  // Pull-only: a sink read through the feed (poller routes, streams) that gets no push deliveries: fan-out
  // creates no delivery rows for it, so it costs nothing per message.
  bool pull_only = false;
  // Thin webhooks: pushed deliveries carry only {id, type, timestamp, url} (where to fetch the message), not
  // the payload.
  bool thin = false;
  // The header family its deliveries are signed with: "webhook" (webhook-id, -timestamp, -signature) or
  // "svix" (svix-*); nullopt: the server's --signature-headers.
  std::optional<std::string> signature_headers;
  TimePoint created_at;
  TimePoint updated_at;
};

struct Message {
  std::string id;  // msg_..., given by the store (Tx::insert_message); ids increase with creation time
  std::string app_id;
  std::optional<std::string> event_id;  // unique per application when present
  std::string event_type;
  std::string payload;  // JSON text exactly as received; empty once expunged (never sent again)
  std::optional<std::vector<std::string>> channels;
  TimePoint created_at;
  // Set when the message was created with an `idempotency-key` header: the key (unique per application while
  // set) and the hash of the request that first used it. Message creation keeps its idempotency record in
  // the message row (one index entry) instead of a separate record. Read back only by
  // get_message_by_idempotency_key.
  std::optional<std::string> idempotency_key;
  std::string request_hash;
  // When the payload is to be deleted ahead of the log's retention (Svix's payloadRetentionPeriod/Hours);
  // nullopt: kept as long as the message.
  std::optional<TimePoint> payload_expires_at;
  // Headers kept with the message (JSON object text of strings; nullopt: none): the provider's own
  // headers of an inbound request, which `hookwire listen` can pass through (Svix's message `headers`).
  std::optional<std::string> headers;
  // The message's place in its feed: the order messages were committed in, set by the store when it inserts
  // the message (0 on a Message not read from the store). See Tx::read_feed.
  int64_t position = 0;
};

// One delivery attempt (written by the delivery engine; listed by the attempt endpoints).
struct Attempt {
  std::string id;  // atmpt_...
  std::string app_id;
  std::string msg_id;
  std::string endpoint_id;
  std::string url;
  int status = 0;  // Svix MessageStatus: 0 success, 1 pending, 2 fail, 3 sending
  int response_status_code = 0;
  std::string response;
  int64_t response_duration_ms = 0;
  int trigger_type = 0;  // 0 scheduled, 1 manual
  TimePoint created_at;
  // The request's header fields as sent, `name: value` lines joined by '\n' in the order sent: the endpoint's
  // custom headers, an inbound event's provider headers, x-hookwire-event-type, the signature headers, and
  // what the HTTP client adds (User-Agent and Content-Type when not given; not Host or Content-Length), the
  // values of sensitive headers (core/names.h is_sensitive_header) replaced by `[redacted]`. Empty when no
  // request was made (an unusable secret; a URL or header the client refused before connecting), when the
  // attempt predates it (schema 22) or its content was expunged. Names are RFC 9110 tokens and values hold no
  // CR, LF or other control character, so the first ':' of a line ends its name.
  std::string request_headers;
};

// One message owed to one endpoint: created by fan-out in the same transaction as the message, then driven by
// the dispatcher until it succeeds or is given up. `next_attempt_at` is when it is due; while an attempt runs
// it holds the lease deadline instead (status kSending), so a crashed node's work becomes due again.
struct Delivery {
  enum Status { kSuccess = 0, kPending = 1, kFailed = 2, kSending = 3 };  // Svix MessageStatus values
  std::string id;                                                         // dlv_...
  std::string app_id;
  std::string msg_id;
  std::string endpoint_id;
  int status = kPending;
  int attempts = 0;     // attempts made so far
  bool manual = false;  // queued by a person (resend): its next attempt is logged as manual (trigger_type 1)
  TimePoint next_attempt_at;
  TimePoint created_at;
  TimePoint updated_at;
};

// A delivery's status as Svix reports it: pending until the first attempt is recorded, then "sending" while
// retries remain (whether waiting or leased), success or fail once finished.
inline int reported_status(const Delivery& d) {
  if (d.status == Delivery::kPending || d.status == Delivery::kSending)
    return d.attempts > 0 ? Delivery::kSending : Delivery::kPending;
  return d.status;
}

// A message with its latest delivery to one endpoint (endpoint/message listings, dead letters).
struct MessageDelivery {
  Message message;
  Delivery delivery;
};

// An endpoint with the latest delivery of one message to it.
struct EndpointDelivery {
  Endpoint endpoint;
  Delivery delivery;
};

// Counts of an endpoint's deliveries (the latest per message) by reported status.
struct DeliveryCounts {
  int64_t success = 0;
  int64_t pending = 0;
  int64_t sending = 0;
  int64_t fail = 0;
};

// Whether an endpoint keeps failing (for auto-disable): the dispatcher's EndpointHealth works on these
// values.
struct EndpointHealthRecord {
  std::optional<TimePoint> first_failure_at;  // start of the current failing streak
  std::optional<TimePoint> last_success_at;
  int64_t consecutive_failures = 0;
  // Why and when the endpoint was last disabled (the dispatcher's auto-disable, or the API); nullopt while
  // it was never disabled or since it was enabled again. Written by Tx::set_endpoint_disabled only:
  // put_endpoint_health leaves both as they are.
  std::optional<std::string> disabled_reason;
  std::optional<TimePoint> disabled_at;
};

// One attempt to an endpoint as its health view shows it (Tx::recent_endpoint_attempts): no URL, and the
// response cut to its first 200 characters.
struct AttemptSummary {
  std::string id;
  std::string msg_id;
  int status = 0;  // 0 success, 2 fail
  int response_status_code = 0;
  std::string response;  // the first 200 characters
  TimePoint created_at;
};

// The delivery queue at a moment, for metrics: live deliveries by state, and how late the oldest due one is.
// `due` is counted up to this many: past it the figure says "at least this many" (the count walks the due
// index, so it is bounded to keep a scrape's cost independent of the backlog).
inline constexpr int64_t kDueCountLimit = 1000;

struct DeliveryQueueStats {
  int64_t pending = 0;  // waiting for their next attempt (due or not)
  int64_t sending = 0;  // leased by a dispatcher
  // Pending or leased, with next_attempt_at (or an expired lease) at or before now; at most kDueCountLimit.
  int64_t due = 0;
  std::optional<TimePoint> oldest_due;  // the earliest next_attempt_at among the due ones
};

// A stored answer to a POST carrying an `idempotency-key` header.
struct IdempotencyRecord {
  std::string key;           // scope + key, as the API layer builds it
  std::string request_hash;  // identifies the request the key was first used with
  int status = 0;
  std::string body;
  TimePoint created_at;
};

// An inbound source: hookwire's receiving end for one provider (`POST /in/{source}`). Its settings are the
// inbound module's JSON (`config`); the store keeps the text and never parses it. `app_id` is the
// application the source owns: accepted requests become messages there, and its endpoints are the
// source's destinations.
struct Source {
  std::string id;  // src_...
  std::optional<std::string> uid;
  std::string app_id;
  std::string config = "{}";  // JSON object text, owned by the inbound module
  int64_t revision = 1;       // +1 on every update: caches compare it to know they are current
  TimePoint created_at;
  TimePoint updated_at;
};

// One request an inbound source was sent, kept for the console's "rejected requests and why" and the request
// inspector (inbound/request_log.h decides what is kept: every refusal, and every request of a source whose
// verifier is `none`). Bookkeeping: written without waiting for the flush, at most a bounded number per
// source (Tx::insert_source_request), deleted with the source.
struct SourceRequest {
  std::string id;         // sreq_..., given when the request was received (ids sort by time)
  std::string source_id;  // src_...
  TimePoint received_at;
  int status = 0;                     // the HTTP status answered
  std::string outcome;                // "accepted", "duplicate" or "rejected"
  std::optional<std::string> code;    // the machine code of a refusal ("authentication_failed", ...)
  std::optional<std::string> reason;  // the human text answered with it
  std::string client_address;
  std::string method;
  std::string path;            // the request target as received (path and query), valid UTF-8
  std::string headers = "{}";  // JSON object text: lowercase name -> value (secrets redacted)
  std::string body;            // the first bytes of the body: UTF-8 text, or base64 when body_base64
  bool body_truncated = false;
  bool body_base64 = false;
  std::optional<std::string> message_id;  // the message the request created (or the one it duplicated)
};

// ---- The feed (pull): messages in commit order, read through sinks
// -------------------------------------------------------------------------------------------------

// A consumer's server-held place in a sink's feed (Svix's poller consumers; the polling-endpoint's leases).
struct FeedConsumer {
  std::string app_id;
  std::string endpoint_id;  // the sink
  std::string consumer_id;  // chosen by the client
  int64_t position = 0;     // everything at or before this position is done (committed)
  // Polling-endpoint leases: positions (position, leased_through] were handed out and come back once
  // lease_until has passed without a commit.
  int64_t leased_through = 0;
  std::optional<TimePoint> lease_until;
  TimePoint updated_at;
};

// A credential narrower than the admin token. Only a hash of the token's text is stored.
// The expiry of a redeemed one-time token (Tx::redeem_token): the Unix epoch.
inline constexpr TimePoint kTokenUsed{};

struct ApiToken {
  // kAppPortalLink: the one-time link of an app-portal access (redeemed once, by Tx::redeem_token, for a
  // kPortalSession); kPortalSession / kConsoleSession: a browser session (its text is the cookie's value).
  enum Kind { kPoller = 0, kAppPortal = 1, kAppPortalLink = 2, kPortalSession = 3, kConsoleSession = 4 };
  std::string id;  // tok_...
  int kind = kPoller;
  std::string app_id;                      // empty for kConsoleSession (every application)
  std::optional<std::string> endpoint_id;  // kPoller: the one sink it reads
  std::string hash;                        // hex SHA-256 of the token text
  std::vector<std::string> capabilities;   // app-portal kinds: Svix's AppPortalCapability names
  TimePoint created_at;
  std::optional<TimePoint> expires_at;    // nullopt: until revoked
  std::optional<std::string> session_id;  // app-portal kinds: Svix's sessionId (what expire-all may name)
};

// Svix's background tasks (QueueBackgroundTask): what recover, the replays, expunge-all-contents and the
// usage statistics did, kept to be read back by id. hookwire runs each to its end before answering, so a task
// is stored once, finished (or failed), with its result.
struct BackgroundTask {
  std::string id;      // qtask_...
  std::string task;    // Svix's BackgroundTaskType: "endpoint.recover", "application.stats", ...
  std::string status;  // "running", "finished" or "failed"
  std::string data;    // its result: a JSON object's text
  TimePoint created_at;
  TimePoint updated_at;
};

// One application's traffic in a time window (the usage statistics).
struct AppUsage {
  int64_t messages = 0;
  int64_t message_destinations = 0;  // deliveries queued: one per message and endpoint it was sent to
};

// One event type as the messages stored use it (the event-type statistics).
struct EventTypeUsage {
  std::string event_type;
  int64_t messages = 0;
  int64_t applications = 0;
  TimePoint last_message_at;
};

// ---- Queries
// -------------------------------------------------------------------------------------------------

enum class Order { kAscending, kDescending };

// Cursor paging. `iterator` is the id of the last item of the previous page (exclusive bound in the list's
// order); a leading '-' asks for the page *before* that id instead (what prevIterator hands out).
struct PageQuery {
  int limit = 50;  // 1..250, checked by the API layer
  std::optional<std::string> iterator;
  Order order = Order::kAscending;
};

struct MessageQuery {
  PageQuery page;                        // order defaults to newest first for messages (the API sets it)
  std::optional<TimePoint> before;       // created_at < before
  std::optional<TimePoint> after;        // created_at > after
  std::vector<std::string> event_types;  // empty = any
  std::optional<std::string> channel;
  // hookwire's extension: only messages with at least one delivery whose reported_status() is this (the
  // latest delivery of each (message, endpoint) pair, as the delivery listings count). Served by a bounded
  // scan: a page looks at no more than the application's next `status_scan_limit` messages (in the list's
  // order; the other filters apply to those); when it stops there with fewer than a page of matches, the page
  // is not `done` and its iterator (prev_iterator going backward) continues after the last message looked at.
  std::optional<int> status;
  int status_scan_limit = 5000;
};

struct BackgroundTaskQuery {
  PageQuery page;                     // by id (creation order)
  std::optional<std::string> status;  // only tasks with this status
  std::optional<std::string> task;    // only tasks of this type
};

// A source's kept requests (Tx::list_source_requests), paged by id.
struct SourceRequestQuery {
  PageQuery page;
  std::optional<std::string> outcome;  // only these ("accepted", "duplicate", "rejected")
};

// Listings of deliveries (the latest delivery per message and endpoint) with their messages.
struct DeliveryQuery {
  PageQuery page;
  std::optional<int> status;             // reported_status() equals this
  std::optional<TimePoint> before;       // message created_at < before
  std::optional<TimePoint> after;        // message created_at > after
  std::vector<std::string> event_types;  // empty = any
  std::optional<std::string> channel;
};

// Attempt listings. Converts from a bare PageQuery (no filters).
struct AttemptQuery {
  AttemptQuery() = default;
  AttemptQuery(PageQuery p) : page(std::move(p)) {}  // NOLINT: implicit on purpose
  PageQuery page;
  std::optional<int> status;               // attempt status (0 success, 2 fail)
  std::optional<int> status_code_class;    // 0: no response; 100..500: that class of HTTP status
  std::optional<TimePoint> before;         // attempt created_at < before
  std::optional<TimePoint> after;          // attempt created_at > after
  std::vector<std::string> event_types;    // the message's event type is one of these; empty = any
  std::optional<std::string> channel;      // the message carries this channel
  std::optional<std::string> endpoint_id;  // only attempts to this endpoint (an id, not a uid)
};

// One read of a sink's feed: the application's messages with position in (after, until], oldest first,
// that pass the filters. A read looks at a bounded number of rows (scan_limit), so a sink whose filter
// matches little still answers quickly: FeedPage::scanned_to says how far it looked.
struct FeedQuery {
  std::string app_id;
  int64_t after = 0;  // exclusive
  int64_t until = 0;  // inclusive: the store's feed_head() taken before the read was submitted
  int limit = 50;
  int scan_limit = 10000;  // most rows examined (matching or not)
  // The sink's own filters (nullopt: any), then the request's (event_type, channel, created after).
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::vector<std::string>> channels;  // a message matches when it has one of them
  std::optional<std::string> event_type;
  std::optional<std::string> channel;
  std::optional<TimePoint> created_after;
};

struct FeedPage {
  std::vector<Message> items;  // each with its position
  // The position a next read continues after: the last item's, or further when rows after it were
  // examined and did not match. Never past `until`.
  int64_t scanned_to = 0;
  bool done = true;  // scanned_to == until: nothing more is readable now
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> iterator;       // pass back to get the next page; nullopt when empty
  std::optional<std::string> prev_iterator;  // pass back to get the previous page
  bool done = true;                          // no more items after this page
};

}  // namespace hookwire::store
