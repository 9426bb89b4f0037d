// SqliteTx: the Tx operations over one SQLite connection. The store owns one per connection and hands it to
// read and write functions while a transaction (or, for writes, a savepoint) is open; SqliteTx itself never
// begins or ends transactions.
//
// Within one transaction it keeps the applications and enabled-endpoint lists it has read (message creation
// and inbound requests look both up for every message, and a writer batch holds many): any write to
// applications or endpoints through this Tx clears them, and the store calls forget_cached() when it rolls
// a function back to its savepoint. A new SqliteTx is made for every transaction, so nothing outlives one.
//
// Thread-safety: none; used only by the thread that owns the connection.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/sqlite/recent_keys.h"
#include "store/sqlite/sqlite_queue.h"
#include "store/store.h"
#include "store/unavailable_tx.h"

namespace hookwire::store {

// The writer's order of new messages. Rowids (feed positions) and ids are both given here, in insert order,
// and both only increase: rowids even past deleted rows (recent_keys.h), ids even past the newest id in the
// file at open. So from `legacy_through` on (schema 14), a message's id orders it in its application's
// feed, and the primary key (app_id, id) is the feed's index. A number or an id burnt by a failed insert is
// simply skipped. Writer thread only.
struct MessageSequence {
  int64_t next_rowid = 1;
  std::string last_id;  // the highest message id given, or held by a row at open ("" for none)

  // The next id: one minted at `created_at`, or the one after the last if that is not above it (a clock
  // behind the newest id of the file).
  std::string next_id(TimePoint created_at);
};

class SqliteTx final : public Tx {
 public:
  // `keys`: the writer's RecentKeys (nullptr on readers, which then scan the newest messages instead).
  // `sequence`: the writer's MessageSequence; nullptr (a connection that is not the store's writer, in
  // tests): SQLite chooses rowids and ids are minted without a floor.
  explicit SqliteTx(Connection& conn, const RecentKeys* keys = nullptr, MessageSequence* sequence = nullptr)
      : conn_(conn), keys_(keys), sequence_(sequence) {}

  // The connection underneath, for tests that need to provoke backend failures.
  Connection& connection() { return conn_; }
  // Drops what was read in this transaction (the store rolled changes back).
  void forget_cached() {
    applications_.clear();
    enabled_endpoints_.clear();
  }

  // The store calls begin_function() before each write function, and function_rolled_back() when it rolls
  // that function back to its savepoint: the keys it added are forgotten with its rows.
  void begin_function() {
    pending_mark_ = pending_keys_.size();
    feed_apps_mark_ = feed_apps_.size();
    feed_max_mark_ = feed_max_;
  }
  void function_rolled_back() {
    forget_cached();
    pending_keys_.resize(pending_mark_);
    feed_apps_.resize(feed_apps_mark_);
    feed_max_ = feed_max_mark_;
  }
  // What this transaction inserted into the feed, for the store's head once it commits: the highest message
  // position (0: none) and the applications of its messages (each once after feed_apps_dedup()).
  int64_t feed_max() const { return feed_max_; }
  std::vector<std::string>& feed_apps() { return feed_apps_; }
  void feed_apps_dedup();
  // Keys of messages inserted in this transaction, for RecentKeys once it commits.
  struct PendingKey {
    std::string entry_key;
    int64_t msg_rowid;
  };
  std::vector<PendingKey>& pending_keys() { return pending_keys_; }
  // Writes one fold step into message_keys (see recent_keys.h).
  Status fold_keys(const RecentKeys::FoldStep& step);

  // ---- The delivery queue's statements (sqlite_queue.h; in sqlite_deliveries.cc)
  // With memory leases the writer's Tx checks each settlement's fence here (none: the fence is in the row,
  // claim_id).
  void set_memory_leases(const MemoryLeases* leases) { memory_leases_ = leases; }
  struct RowRef {
    int64_t row;
    std::string id;
  };
  // What scan_due found: deliveries to lease (each Claim's lease unset: the caller grants it; `rows` holds
  // their rowids), and overdue rows read past their endpoint's share, to be moved behind.
  struct DueScan {
    std::vector<Claim> due;
    std::vector<int64_t> rows;
    std::vector<RowRef> passed_over;
  };
  // Reads (writes nothing) the due deliveries oldest first, at most `per_endpoint` per endpoint, skipping
  // the `held` rowids (sorted), within a window of 4 * limit + per_endpoint rows: its cost is bounded
  // whatever the backlog.
  Result<DueScan> scan_due(TimePoint now, int limit, int per_endpoint, const std::vector<int64_t>& held);
  // Row leases: scan_due, then in this transaction the passed-over rows made due at `now` and the due ones
  // leased (status 3, next_attempt_at = lease_until, claim_id from `next_claim_id` up).
  Result<std::vector<Claim>> lease_due(const ClaimRequest& r, std::atomic<int64_t>& next_claim_id);
  // Row leases still held (status 3, same claim_id) get next_attempt_at = until.
  Result<std::vector<bool>> renew_row_leases(const std::vector<LeaseToken>& leases, TimePoint until);
  // Makes the rows due at `now` (behind the queue); updated_at is kept.
  Status move_behind(const std::vector<RowRef>& rows, TimePoint now);
  // Queue metrics; `held` (sorted): rows leased in memory, counted as sending.
  Result<DeliveryQueueStats> queue_stats(TimePoint now, const std::vector<int64_t>& held);
  // Every lease left in a row becomes pending again, due when it would have expired (at open, with memory
  // leases: rows leased by a process that is gone). Returns how many.
  Result<int> release_row_leases();

  Result<Application> get_application(std::string_view id_or_uid) override;
  Result<Page<Application>> list_applications(const PageQuery& q) override;
  Status insert_application(const Application& app) override;
  Status update_application(const Application& app) override;
  Status delete_application(std::string_view id) override;

  Result<EventType> get_event_type(std::string_view name) override;
  Result<Page<EventType>> list_event_types(const PageQuery& q, bool include_archived) override;
  Status insert_event_type(const EventType& et) override;
  Status update_event_type(const EventType& et) override;
  Status delete_event_type(std::string_view name) override;

  Result<Endpoint> get_endpoint(std::string_view app_id, std::string_view id_or_uid) override;
  Result<Page<Endpoint>> list_endpoints(std::string_view app_id, const PageQuery& q) override;
  Result<std::vector<Endpoint>> list_enabled_endpoints(std::string_view app_id) override;
  Status insert_endpoint(const Endpoint& ep) override;
  Status update_endpoint(const Endpoint& ep) override;
  Status delete_endpoint(std::string_view app_id, std::string_view id) override;

  Status insert_message(Message& msg) override;
  Result<Message> get_message(std::string_view app_id, std::string_view id_or_event_id) override;
  Result<Page<Message>> list_messages(std::string_view app_id, const MessageQuery& q) override;
  Result<Message> get_message_by_idempotency_key(std::string_view app_id, std::string_view key) override;
  Status clear_message_idempotency_key(std::string_view app_id, std::string_view msg_id) override;
  Status expunge_message_payload(std::string_view app_id, std::string_view msg_id) override;
  Result<ExpungeBatch> expunge_payloads_after(std::string_view app_id, std::string_view after_id,
                                              int limit) override;

  Status insert_attempt(const Attempt& a) override;
  Result<Attempt> get_attempt(std::string_view app_id, std::string_view msg_id,
                              std::string_view attempt_id) override;
  Status expunge_attempt_response(std::string_view app_id, std::string_view msg_id,
                                  std::string_view attempt_id) override;
  Status insert_delivery(const Delivery& d) override;
  Result<std::vector<Settled>> settle_deliveries(std::span<const Settlement> batch) override;
  Result<EndpointHealthRecord> get_endpoint_health(std::string_view endpoint_id) override;
  Status put_endpoint_health(std::string_view endpoint_id, const EndpointHealthRecord& h) override;
  Status set_endpoint_disabled(std::string_view endpoint_id, std::optional<std::string> reason,
                               std::optional<TimePoint> at) override;
  Result<std::vector<AttemptSummary>> recent_endpoint_attempts(std::string_view app_id,
                                                               std::string_view endpoint_id, TimePoint since,
                                                               int limit) override;
  Result<int> requeue_failed_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                        TimePoint since, TimePoint until, TimePoint now) override;
  Result<std::vector<Delivery>> list_deliveries_by_message(std::string_view app_id,
                                                           std::string_view msg_id) override;
  Result<Page<Attempt>> list_attempts_by_message(std::string_view app_id, std::string_view msg_id,
                                                 const AttemptQuery& q) override;
  Result<Page<Attempt>> list_attempts_by_endpoint(std::string_view app_id, std::string_view endpoint_id,
                                                  const AttemptQuery& q) override;
  Result<Page<MessageDelivery>> list_endpoint_messages(std::string_view app_id, std::string_view endpoint_id,
                                                       const DeliveryQuery& q) override;
  Result<Page<EndpointDelivery>> list_message_endpoints(std::string_view app_id, std::string_view msg_id,
                                                        const PageQuery& q) override;
  Result<DeliveryCounts> count_endpoint_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                                   std::optional<TimePoint> since,
                                                   std::optional<TimePoint> until) override;
  Result<Page<MessageDelivery>> list_failed_deliveries(std::string_view app_id,
                                                       const DeliveryQuery& q) override;

  Result<bool> try_lock_job(std::string_view) override { return true; }  // one writer, one transaction
  Result<std::string> setting_or_put(std::string_view name, std::string_view value) override;
  Result<IdempotencyRecord> get_idempotency(std::string_view key) override;
  Status put_idempotency(const IdempotencyRecord& rec) override;
  Status purge_idempotency(TimePoint created_before) override;

  Result<Source> get_source(std::string_view id_or_uid) override;
  Result<Page<Source>> list_sources(const PageQuery& q) override;
  Status insert_source(const Source& s) override;
  Status update_source(const Source& s) override;
  Status delete_source(std::string_view id) override;
  Status insert_source_request(const SourceRequest& r, int keep) override;
  Result<SourceRequest> get_source_request(std::string_view source_id, std::string_view id) override;
  Result<Page<SourceRequest>> list_source_requests(std::string_view source_id,
                                                   const SourceRequestQuery& q) override;
  Result<int> prune_source_requests(int limit) override;

  // The feed, retention and tokens (sqlite_feed.cc)
  Result<FeedPage> read_feed(const FeedQuery& q) override;
  Result<int64_t> feed_start() override;
  Result<int64_t> feed_position_at(std::string_view app_id, TimePoint t) override;
  Result<FeedConsumer> get_feed_consumer(std::string_view app_id, std::string_view endpoint_id,
                                         std::string_view consumer_id) override;
  Status put_feed_consumer(const FeedConsumer& c) override;
  Result<int> prune_messages(TimePoint cutoff, int limit) override;
  Result<int> expire_payloads(TimePoint now, int limit) override;
  Status insert_token(const ApiToken& t) override;
  Result<ApiToken> get_token(std::string_view id) override;
  Result<ApiToken> get_token_by_hash(std::string_view hash) override;
  Result<std::vector<ApiToken>> list_tokens() override;
  Result<ApiToken> redeem_token(std::string_view hash, int kind, TimePoint now) override;
  Status update_token_expiry(std::string_view id, std::optional<TimePoint> expires_at) override;
  Status delete_tokens_expired_before(TimePoint t) override;

  Status insert_background_task(const BackgroundTask& t) override;
  Result<BackgroundTask> get_background_task(std::string_view id) override;
  Result<Page<BackgroundTask>> list_background_tasks(const BackgroundTaskQuery& q) override;
  Result<int> prune_background_tasks(TimePoint cutoff, int limit) override;
  Result<AppUsage> app_usage(std::string_view app_id, TimePoint since, TimePoint until) override;
  Result<std::vector<EventTypeUsage>> event_type_usage() override;

 private:
  using Bind = std::variant<std::string_view, int64_t>;
  // A list query: `select` is "SELECT <cols> FROM <table> WHERE <filter>" with `binds` for its parameters;
  // paging appends the cursor bound, the order and the limit on `key`.
  struct ListQuery {
    std::string select;
    std::vector<Bind> binds;
    const char* key;
  };
  template <class T, class ReadRow, class KeyOf>
  Result<Page<T>> list(ListQuery lq, const PageQuery& q, ReadRow read_row, KeyOf key_of);

  // Runs a write statement already bound; maps constraint violations to kConflict via `conflict`.
  template <class Conflict>
  Status finish_write(Stmt& s, std::string_view what, Conflict conflict);
  Status finish_write(Stmt& s, std::string_view what);

  // The message rowids that may hold `key`, to check against their rows in this order (see recent_keys.h):
  // the newest hint in memory, or else the index's entries of the key's hash, newest first.
  Result<std::vector<int64_t>> key_hints(std::string_view app_id, std::string_view key);

  // Notes a message inserted at `position` (the hot path: a compare, rarely a copy of the app id).
  void note_feed_insert(std::string_view app_id, int64_t position) {
    if (position > feed_max_) feed_max_ = position;
    if (!feed_apps_.empty() && feed_apps_.back() == app_id) return;
    // A few applications per batch is the common case: look among them; past that, sort them out at the end.
    if (feed_apps_.size() <= kFeedAppsScan) {
      for (const auto& a : feed_apps_)
        if (a == app_id) return;
    }
    feed_apps_.emplace_back(app_id);
  }
  static constexpr size_t kFeedAppsScan = 16;
  // How the feed is indexed (schema 14): positions up to `legacy_through` are in no id order and read
  // through a partial index; above it, ids follow positions and are all above `legacy_max_id`.
  struct FeedLayout {
    int64_t legacy_through = 0;
    std::string legacy_max_id;
  };
  Result<FeedLayout> feed_layout();
  // Before messages are deleted: feed_state.high_water covers every position given so far, so that a
  // reopened store never gives one again (see feed_state in schema.cc).
  Status raise_high_water();
  // Deletes one message (by rowid) with its attempts, deliveries and idempotency-key index entry.
  Status delete_message_row(int64_t rowid, std::string_view app_id, std::string_view msg_id,
                            const std::optional<std::string>& idempotency_key);

  Connection& conn_;
  const MemoryLeases* memory_leases_ = nullptr;
  const RecentKeys* keys_;
  MessageSequence* sequence_ = nullptr;
  std::vector<PendingKey> pending_keys_;
  size_t pending_mark_ = 0;
  std::vector<std::string> feed_apps_;
  size_t feed_apps_mark_ = 0;
  int64_t feed_max_ = 0, feed_max_mark_ = 0;
  std::unordered_map<std::string, Application> applications_;  // by the id or uid they were asked for
  std::unordered_map<std::string, std::vector<Endpoint>> enabled_endpoints_;  // by application id
};

}  // namespace hookwire::store
