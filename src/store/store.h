// Store: hookwire's durable state behind one interface, so SQLite (embedded default) and PostgreSQL
// (scale-out) are interchangeable and pass one contract test suite.
//
// Work reaches the store as functions over a `Tx`, run on the store's own threads (never on an I/O thread):
//  - submit_read(): runs against a consistent snapshot on a reader thread.
//  - submit_write(): queued for the single writer, which runs many queued functions in ONE transaction and
//    ONE commit (group commit). If a function returns an error, only its own changes are undone and the rest
//    of the batch commits. `done` is called only after the batch is durable (per the durability setting),
//    so an API may acknowledge as soon as `done` reports success.
// The functions must be short and must not block on anything but the Tx: they hold up everyone's batch.
// A write function may be run more than once (a backend may roll a batch back and run it again): only its
// last run counts, so it must not act outside the Tx except to record its own result. `done` callbacks run on
// a store thread; they must only hand results over (e.g. post to an executor).
//
// Thread-safety: Store methods may be called from any thread. A Tx is used only by the thread it is given to,
// only during the call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.h"
#include "core/result.h"
#include "store/delivery_queue.h"
#include "store/model.h"

namespace hookwire::store {

// The operations of one transaction. Every lookup by `id_or_uid` accepts either the object id or its uid.
// Errors: kNotFound for unknown objects, kConflict for uniqueness violations (detail says which),
// kInternal for backend failures.
class Tx {
 public:
  virtual ~Tx() = default;

  // Applications
  virtual Result<Application> get_application(std::string_view id_or_uid) = 0;
  virtual Result<Page<Application>> list_applications(const PageQuery& q) = 0;
  virtual Status insert_application(const Application& app) = 0;  // kConflict: uid taken
  virtual Status update_application(const Application& app) = 0;  // by app.id; kConflict: uid taken
  virtual Status delete_application(std::string_view id) = 0;     // with its endpoints, messages, attempts

  // Event types (global, keyed by name)
  virtual Result<EventType> get_event_type(std::string_view name) = 0;
  virtual Result<Page<EventType>> list_event_types(const PageQuery& q, bool include_archived) = 0;
  virtual Status insert_event_type(const EventType& et) = 0;  // kConflict: name taken
  virtual Status update_event_type(const EventType& et) = 0;  // by name
  virtual Status delete_event_type(std::string_view name) = 0;

  // Endpoints (scoped to an application id — callers resolve uids of the app first)
  virtual Result<Endpoint> get_endpoint(std::string_view app_id, std::string_view id_or_uid) = 0;
  virtual Result<Page<Endpoint>> list_endpoints(std::string_view app_id, const PageQuery& q) = 0;
  // Every endpoint of the application that is not disabled (fan-out runs this for each new message).
  virtual Result<std::vector<Endpoint>> list_enabled_endpoints(std::string_view app_id) = 0;
  virtual Status insert_endpoint(const Endpoint& ep) = 0;  // kConflict: uid taken within the app
  virtual Status update_endpoint(const Endpoint& ep) = 0;  // by ep.id (whole record, secrets and headers too)
  virtual Status delete_endpoint(std::string_view app_id, std::string_view id) = 0;

  // Messages
  // Inserts `msg` and gives it its id (msg.id is set on success; whatever it held is ignored): the store
  // mints message ids, so that they can follow the order it inserts them in. kConflict: event_id already
  // used in the app.
  virtual Status insert_message(Message& msg) = 0;
  // By message id, or by eventId when `id_or_event_id` is not a msg_ id.
  virtual Result<Message> get_message(std::string_view app_id, std::string_view id_or_event_id) = 0;
  virtual Result<Page<Message>> list_messages(std::string_view app_id, const MessageQuery& q) = 0;
  // The message created with this idempotency key, its idempotency_key and request_hash set; kNotFound if
  // none.
  virtual Result<Message> get_message_by_idempotency_key(std::string_view app_id, std::string_view key) = 0;
  // Frees an expired key for reuse: the message keeps everything else.
  virtual Status clear_message_idempotency_key(std::string_view app_id, std::string_view msg_id) = 0;
  // Deletes the message's payload (Svix's expunge): it becomes empty, which no created message has (payloads
  // are JSON objects). A message without its payload is never sent again. kNotFound if there is no message.
  virtual Status expunge_message_payload(std::string_view app_id, std::string_view msg_id) = 0;
  // Svix's expunge-all-contents, a batch at a time: empties the payloads of the application's next `limit`
  // messages in id order after `after_id` ("" for the first). `last_id`: the last message looked at, to
  // continue after; nullopt when there were none (done).
  struct ExpungeBatch {
    int expunged = 0;
    std::optional<std::string> last_id;
  };
  virtual Result<ExpungeBatch> expunge_payloads_after(std::string_view app_id, std::string_view after_id,
                                                      int limit) = 0;

  // Attempts
  virtual Status insert_attempt(const Attempt& a) = 0;
  // One attempt of a message (ids as stored: the caller resolves an eventId). kNotFound if none.
  virtual Result<Attempt> get_attempt(std::string_view app_id, std::string_view msg_id,
                                      std::string_view attempt_id) = 0;
  // Deletes the attempt's logged response body and request headers (both become empty). kNotFound if there
  // is no such attempt.
  virtual Status expunge_attempt_response(std::string_view app_id, std::string_view msg_id,
                                          std::string_view attempt_id) = 0;
  // Filtered as AttemptQuery says; q.endpoint_id narrows the by-message listing (ignored by-endpoint).
  virtual Result<Page<Attempt>> list_attempts_by_message(std::string_view app_id, std::string_view msg_id,
                                                         const AttemptQuery& q) = 0;
  virtual Result<Page<Attempt>> list_attempts_by_endpoint(std::string_view app_id,
                                                          std::string_view endpoint_id,
                                                          const AttemptQuery& q) = 0;

  // Deliveries
  virtual Status insert_delivery(const Delivery& d) = 0;
  // Writes each leased delivery's next state (delivery_queue.h), by its lease: one result per element, in
  // order. A lease that another claim has taken over since is refused (kFenced), a delivery deleted
  // meanwhile is kGone; neither changes anything.
  virtual Result<std::vector<Settled>> settle_deliveries(std::span<const Settlement> batch) = 0;
  // Recovery: makes the endpoint's failed deliveries created in [since, until) pending and due at `now`, with
  // a fresh retry schedule (attempts = 0) whose next attempt is logged as manual. Only the latest delivery of
  // a message counts (one superseded by a resend is not sent again). Returns how many.
  virtual Result<int> requeue_failed_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                                TimePoint since, TimePoint until, TimePoint now) = 0;
  // Delivery status as the API lists it. A message may have several deliveries to one endpoint (a resend adds
  // one); only the latest (highest id) of each (message, endpoint) pair counts in these four.
  // The endpoint's messages with that delivery, paged by message id, filtered as DeliveryQuery says.
  virtual Result<Page<MessageDelivery>> list_endpoint_messages(std::string_view app_id,
                                                               std::string_view endpoint_id,
                                                               const DeliveryQuery& q) = 0;
  // The endpoints (still existing) a message is delivered to, with that delivery, paged by endpoint id.
  virtual Result<Page<EndpointDelivery>> list_message_endpoints(std::string_view app_id,
                                                                std::string_view msg_id,
                                                                const PageQuery& q) = 0;
  // Those deliveries to the endpoint created in [since, until) (open ends when absent), by reported status.
  virtual Result<DeliveryCounts> count_endpoint_deliveries(std::string_view app_id,
                                                           std::string_view endpoint_id,
                                                           std::optional<TimePoint> since,
                                                           std::optional<TimePoint> until) = 0;
  // Dead letters: the application's failed ones (kFailed), with their messages, paged by delivery id;
  // q.status is ignored, the other filters apply to the message.
  virtual Result<Page<MessageDelivery>> list_failed_deliveries(std::string_view app_id,
                                                               const DeliveryQuery& q) = 0;
  // Endpoint health (auto-disable bookkeeping); an endpoint never recorded has the default (healthy) record.
  virtual Result<EndpointHealthRecord> get_endpoint_health(std::string_view endpoint_id) = 0;
  // Writes the streak (first_failure_at, last_success_at, consecutive_failures); the disabled reason and
  // time are kept as they are.
  virtual Status put_endpoint_health(std::string_view endpoint_id, const EndpointHealthRecord& h) = 0;
  // Records why and when the endpoint was disabled (nullopt both: it was enabled again).
  virtual Status set_endpoint_disabled(std::string_view endpoint_id, std::optional<std::string> reason,
                                       std::optional<TimePoint> at) = 0;
  // The endpoint's attempts created at or after `since`, newest first, at most `limit` of them (an index
  // range on (app_id, endpoint_id, id): attempt ids begin with their creation time).
  virtual Result<std::vector<AttemptSummary>> recent_endpoint_attempts(std::string_view app_id,
                                                                       std::string_view endpoint_id,
                                                                       TimePoint since, int limit) = 0;
  virtual Result<std::vector<Delivery>> list_deliveries_by_message(std::string_view app_id,
                                                                   std::string_view msg_id) = 0;

  // Inbound sources (see model.h Source)
  virtual Result<Source> get_source(std::string_view id_or_uid) = 0;
  virtual Result<Page<Source>> list_sources(const PageQuery& q) = 0;
  virtual Status insert_source(const Source& s) = 0;      // kConflict: uid taken
  virtual Status update_source(const Source& s) = 0;      // by s.id, every column; kConflict: uid taken
  virtual Status delete_source(std::string_view id) = 0;  // not its application (nor its messages)

  // The requests a source was sent, as inbound/request_log.h keeps them (see model.h SourceRequest);
  // delete_source deletes the source's too.
  // Inserts `r` and deletes the source's records beyond the newest `keep` (by id), so a source never holds
  // more than `keep`. kConflict: the id is taken.
  virtual Status insert_source_request(const SourceRequest& r, int keep) = 0;
  // One record of the source (by source id, not uid); kNotFound if none.
  virtual Result<SourceRequest> get_source_request(std::string_view source_id, std::string_view id) = 0;
  virtual Result<Page<SourceRequest>> list_source_requests(std::string_view source_id,
                                                           const SourceRequestQuery& q) = 0;
  // Deletes up to `limit` records whose source no longer exists (one written while another node deleted
  // the source); returns how many.
  virtual Result<int> prune_source_requests(int limit) = 0;

  // The feed (pull). A message's position is given by the store when it inserts it, and positions increase
  // in COMMIT order: a reader that has seen position p never later finds a new message at or below p, even
  // with many concurrent writers, and positions are never reused (not even after the newest messages are
  // deleted and the store is reopened). Readers bound their reads by Store::feed_head(), taken before the
  // read is submitted: every message up to it is durable and visible to a snapshot started after.
  virtual Result<FeedPage> read_feed(const FeedQuery& q) = 0;
  // Where the retained log starts: positions at or below this were pruned (retention) and can no longer be
  // read; a cursor below it is stale. 0 when nothing was ever pruned.
  virtual Result<int64_t> feed_start() = 0;
  // The position to continue after so that the next read starts with the application's first message
  // created after `t` (Svix's consumer seek and `after`): the position before it, or the application's
  // newest position when none is younger.
  virtual Result<int64_t> feed_position_at(std::string_view app_id, TimePoint t) = 0;
  virtual Result<FeedConsumer> get_feed_consumer(std::string_view app_id, std::string_view endpoint_id,
                                                 std::string_view consumer_id) = 0;  // kNotFound if none
  virtual Status put_feed_consumer(const FeedConsumer& c) = 0;                       // inserts or replaces

  // Retention: deletes up to `limit` of the oldest messages created before `cutoff` with their attempts and
  // deliveries, skipping (keeping) a message that still has a pending or sending delivery; raises
  // feed_start() past both (a kept message is then read by id only, and deleted by a later call once its
  // deliveries finish). Returns how many messages it deleted; 0 when a call only passed over kept ones, so
  // "nothing more now" is not certain until the next round.
  virtual Result<int> prune_messages(TimePoint cutoff, int limit) = 0;
  // Deletes the payloads (as expunge_message_payload) of up to `limit` messages whose payload_expires_at
  // is at or before `now`. Returns how many.
  virtual Result<int> expire_payloads(TimePoint now, int limit) = 0;

  // Scoped tokens (see model.h ApiToken)
  virtual Status insert_token(const ApiToken& t) = 0;  // kConflict: id or hash taken
  virtual Result<ApiToken> get_token(std::string_view id) = 0;
  // The token whose text hashes to `hash`, whatever its kind and expiry (kNotFound: none). What a node asks
  // the store when it is shown a token another node made and has not told it about yet.
  virtual Result<ApiToken> get_token_by_hash(std::string_view hash) = 0;
  // Every token (the app loads them into memory at start: there are few).
  virtual Result<std::vector<ApiToken>> list_tokens() = 0;
  virtual Status update_token_expiry(std::string_view id, std::optional<TimePoint> expires_at) = 0;
  virtual Status delete_tokens_expired_before(TimePoint t) = 0;
  // A one-time credential used: the token of `kind` whose hash is `hash`, live at `now`, is returned as it
  // was and marked used: its expiry becomes kTokenUsed (the Unix epoch, past for every node's clock, so a
  // node whose clock is behind cannot find it live again). kNotFound when there is none (unknown, another
  // kind, expired or redeemed already). The write decides: of two redeeming the same token, on one node or
  // on several sharing the database, exactly one gets it.
  virtual Result<ApiToken> redeem_token(std::string_view hash, int kind, TimePoint now) = 0;

  // Background tasks (see model.h BackgroundTask)
  virtual Status insert_background_task(const BackgroundTask& t) = 0;  // kConflict: id taken
  virtual Result<BackgroundTask> get_background_task(std::string_view id) = 0;
  virtual Result<Page<BackgroundTask>> list_background_tasks(const BackgroundTaskQuery& q) = 0;
  // Deletes up to `limit` tasks created before `cutoff`; returns how many.
  virtual Result<int> prune_background_tasks(TimePoint cutoff, int limit) = 0;

  // Usage statistics (reads that scan: for the statistics tasks, on a reader)
  // The application's messages created in [since, until) and the deliveries queued for them.
  virtual Result<AppUsage> app_usage(std::string_view app_id, TimePoint since, TimePoint until) = 0;
  // Every event type the stored messages carry: how many messages, in how many applications, and when the
  // latest was created; by name.
  virtual Result<std::vector<EventTypeUsage>> event_type_usage() = 0;

  // Background jobs that one node at a time must run (retention, clean-ups): takes `job`'s lock until this
  // transaction ends, or answers false at once when another transaction (on any node) holds it. A store one
  // process owns always answers true (its writer runs one transaction at a time).
  virtual Result<bool> try_lock_job(std::string_view job) = 0;
  // A setting every node sharing the store must agree on (the scoped tokens' key): the value stored under
  // `name`, which is `value` if there was none (the first writer wins; later calls get its value back).
  virtual Result<std::string> setting_or_put(std::string_view name, std::string_view value) = 0;

  // Idempotency records
  virtual Result<IdempotencyRecord> get_idempotency(std::string_view key) = 0;  // kNotFound if absent
  virtual Status put_idempotency(const IdempotencyRecord& rec) = 0;             // replaces
  virtual Status purge_idempotency(TimePoint created_before) = 0;
};

enum class Durability {
  kFull,    // every batch is fsynced before its requests are acknowledged (default)
  kNormal,  // committed batches survive a crash of hookwire, not necessarily a power loss
};

// When a write's `done` runs.
enum class Ack {
  kDurable,  // after the batch is durable per the store's Durability (the default; what APIs acknowledge on)
  kCommitted,  // at commit, before the flush: survives a crash of hookwire, not a power loss. For
               // bookkeeping that is safe to lose that way (the dispatcher's leases and attempt records: a
               // lost one means a delivery is sent again, never that one is lost).
};

class Store {
 public:
  using ReadFn = std::function<void(Tx&)>;
  using WriteFn = std::function<Status(Tx&)>;
  using WriteDone = std::function<void(Status)>;

  virtual ~Store() = default;

  // After stop(), fn still runs (at once) against a Tx whose every method answers kUnavailable, then done.
  virtual void submit_read(ReadFn fn, std::function<void()> done) = 0;
  // done(ok) after the batch holding fn committed durably (or just committed, with Ack::kCommitted);
  // done(fn's error) if fn failed (its changes undone); done(kInternal/kUnavailable) if the batch could not
  // commit or the store is stopping.
  virtual void submit_write(WriteFn fn, WriteDone done, Ack ack = Ack::kDurable) = 0;

  // Refuses new work (kUnavailable), finishes everything queued, flushes, and joins the store's threads.
  // Idempotent; called before destruction.
  virtual void stop() = 0;

  // What the store knows is wrong with its storage, without touching it: nullopt while its writes succeed,
  // else a short reason for a health check ("storage full", "storage error"). Cheap and thread-safe. While
  // there is a problem, a call may start one small probe write in the background (at most one a second),
  // whose success clears it: a store nobody writes to still notices that it recovered.
  virtual std::optional<std::string> problem() { return std::nullopt; }

  // The feed's head: the position of the newest message that is durable (and so readable); 0 when none.
  // Thread-safe, cheap (an atomic).
  virtual int64_t feed_head() const = 0;
  // Told after messages become durable: the new head and the applications whose messages it covers (each
  // once). Called on a store thread, in head order; it must only hand over (e.g. wake waiters). Set it
  // before any write is submitted; one listener.
  struct FeedAdvance {
    int64_t head = 0;
    std::vector<std::string> app_ids;
    // Messages other nodes committed are among those (a store several nodes share): their deliveries were
    // announced to nobody here.
    bool from_others = false;
  };
  virtual void set_feed_listener(std::function<void(const FeedAdvance&)> listener) = 0;

  // Objects that nodes cache in memory across requests changed (`topic` names which, e.g. "sources",
  // "tokens"; letters, digits and '_'). A store several nodes share tells every other node's change listener,
  // best effort and soon after (called after the change committed); a store one process owns has no one to
  // tell (that process updates its own caches). A shared store keeps a version per topic, so that a node
  // that missed the news (or hears none: no LISTEN) still learns of it by polling: use few, fixed topics.
  virtual void publish_change(std::string_view topic) { (void)topic; }
  // Passing news for the other nodes' change listeners (the same letters), kept nowhere: heard by the nodes
  // listening now, or never. For what is announced again while it lasts (the dispatchers' rate shares).
  virtual void announce(std::string_view topic) { (void)topic; }
  // Called on a store thread with each topic another node published or announced, and with "*" when changes
  // may have been missed (the channel was lost and is back): then everything cached may be stale. It must
  // only hand over. Set before any write; one listener.
  virtual void set_change_listener(std::function<void(std::string_view topic)> listener) { (void)listener; }

  // How many nodes share this store now, this one included, as last seen (a store one process owns: 1).
  // Cheap and thread-safe.
  virtual int live_nodes() const { return 1; }
  // Other processes may write to this store (several nodes share it): what one caches may change without it
  // being told at once (publish_change is best effort and comes after the change's answer).
  virtual bool shared() const { return false; }

  // The store's delivery queue (delivery_queue.h); lives as long as the store.
  virtual DeliveryQueue& delivery_queue() = 0;
};

struct SqliteOptions {
  std::string path;  // database file; created with its schema if absent
  Durability durability = Durability::kFull;
  int readers = 2;          // reader threads (each with its own connection)
  size_t max_batch = 2048;  // most write functions in one transaction
  // Where the delivery queue keeps its leases: in memory (the default: this process owns the file, and a
  // claim is a read), or in the rows, as a database shared by several nodes does (tests of the dispatcher's
  // multi-node behaviour run on it).
  bool row_leases = false;
  metrics::Registry* metrics = nullptr;  // optional: store_batch_size, store_commit_seconds
};

// Opens (creating and migrating as needed) the SQLite store. Errors name the file and the cause.
Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options);

struct PostgresOptions {
  std::string url;          // libpq URI or key=value string: postgres://user@host:5432/db
  int readers = 2;          // reader threads (each with its own connection)
  size_t max_batch = 2048;  // most write functions in one transaction
  metrics::Registry* metrics =
      nullptr;  // optional: store_batch_size, store_commit_seconds, store_writes_total
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds statement_timeout{30'000};
  // Other nodes' messages: learnt from NOTIFY hookwire_feed (LISTEN on a connection of its own) when
  // `listen`, and by reading the feed's head every `feed_poll_interval` in any case. `listen` = false for a
  // pooler in transaction mode (PgBouncer), where LISTEN does not work.
  bool listen = true;
  std::chrono::milliseconds feed_poll_interval{1000};
};

// Opens the PostgreSQL store: connects, migrates the schema (nodes starting together apply each step once)
// and starts its threads. Errors (kUnavailable when the server cannot be reached) name the server and the
// cause, never a password. Several nodes may open stores on one database.
Result<std::unique_ptr<Store>> open_postgres_store(const PostgresOptions& options);

}  // namespace hookwire::store
