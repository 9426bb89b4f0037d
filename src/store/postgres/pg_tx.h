// PgTx: the Tx operations over one PostgreSQL connection (pg_tx.cc: applications and event types;
// pg_endpoints.cc, pg_messages.cc (messages, attempts, idempotency), pg_deliveries.cc, pg_sources.cc
// (sources, background tasks, usage), pg_feed.cc (feed, retention, tokens); shared parts in pg_tx_parts.h).
// The store makes one per transaction and hands it to the functions it runs; PgTx never begins or ends
// transactions.
//
// PostgreSQL aborts a transaction at its first failed statement, so an expected failure must not be one:
// inserts that may conflict say ON CONFLICT DO NOTHING and report kConflict (naming what was taken) when
// nothing was inserted; an update that would take a taken uid is checked first. Any statement that still
// fails leaves failed() true: the store then rolls back what it must (pg_store.h). changes() counts the
// rows written, so the store knows whether a function that failed changed anything.
//
// Message positions and ids (the feed): the first insert_message of a transaction locks the one row of
// `feed_sequence` (SELECT ... FOR UPDATE) and reads the head and the last id; positions and ids are then
// given in memory, one after the other, and commit() writes the row back with COMMIT. The
// row lock, held until COMMIT, makes every other writer (on any node) wait for this transaction before it
// gives positions: positions increase in commit order, and ids with them. Nothing is burnt: a function
// rolled back (or an insert that conflicted) gives its numbers back, so the head written back is exactly
// the newest committed message.
//
// Batched inserts: in the writer's plain passes, insert_message and insert_delivery do not run one by one.
// Their rows wait, column by column (BinaryArray), and go in through one multi-row statement per table
// (`INSERT ... SELECT * FROM unnest(...) ON CONFLICT DO NOTHING RETURNING id`) just before the next other
// statement runs, or at finish(): a batch of N published messages costs one message INSERT and one delivery
// INSERT, not 2N statements each waiting for its answer. A waiting row is taken to have gone in (its position
// and id are given, its change is counted) until the INSERT says otherwise: a row that did not go in (its
// idempotency key or eventId was taken), or an INSERT that failed, names the functions that wrote those rows
// in unbatch(), and the store runs the batch again with them unbatched, so that they meet the conflict (or
// the failure) themselves and answer it as a single statement would have. Nothing is committed meanwhile.
//
// Within one transaction it keeps the applications and enabled-endpoint lists it has read (as SqliteTx
// does); a write to either clears them, and so does function_rolled_back().
//
// Thread-safety: none; used by the thread that owns the connection, during one transaction.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/postgres/binary_array.h"
#include "store/postgres/connection.h"
#include "store/store.h"

namespace hookwire::store::postgres {

// A statement prepared on each connection the first time it runs there: `name` must be unique.
struct Statement {
  const char* name;
  std::string_view sql;
};

class Query;

class PgTx final : public Tx {
 public:
  // kWrite: the writer's transaction (reads that feed a write lock what they read where another node's
  // writer could change it between the read and the write: get_endpoint_health).
  enum class Mode { kRead, kWrite };
  explicit PgTx(PgConnection& conn, Mode mode = Mode::kRead);

  PgConnection& connection() { return conn_; }

  // ---- For the store
  // Before each write function: `index` is how unbatch() names it; with `batch_inserts` its message and
  // delivery inserts wait for the multi-row statements (see the header comment). function_rolled_back() when
  // the store undid that function (ROLLBACK TO its savepoint; never with batch_inserts): what it cached,
  // noted for the feed or took from the sequence is given back.
  void begin_function(size_t index = 0, bool batch_inserts = false);
  void function_rolled_back();
  // How waiting rows go in. kPlain: a plain multi-row INSERT, which commit() sends together with COMMIT; a
  // taken key fails it (unique violation, SQLSTATE 23505) and with it the transaction: the store runs the
  // batch again kChecked. kChecked: `ON CONFLICT DO NOTHING RETURNING id`, which says which rows did not go
  // in.
  enum class Inserts { kPlain, kChecked };
  void set_inserts(Inserts how) { inserts_ = how; }
  Inserts inserts() const { return inserts_; }
  // The functions to run again unbatched: some of their waiting rows did not go in (kChecked), or the
  // statement that was to insert them failed. The transaction must not be committed when this is not empty.
  const std::vector<size_t>& unbatch() const { return unbatch_; }
  // Ends the transaction: inserts the waiting rows, writes the sequence row back if messages were inserted,
  // and COMMITs, in one round trip (pipeline mode; kChecked rows go in first, on their own). An error says
  // the transaction did not commit, or (the connection lost) that nobody knows; check unbatch() first.
  Status commit();
  // A statement failed since the transaction began (or since the function's savepoint was rolled back to):
  // PostgreSQL ignores everything up to the rollback. failure() is the first such error.
  bool failed() const { return failure_.has_value(); }
  const Error& failure() const { return *failure_; }
  const std::string& failure_sqlstate() const { return failure_sqlstate_; }  // "" when the server sent none
  int64_t changes() const { return changes_; }
  // What this transaction inserted into the feed: the newest position (0: none) and the applications of its
  // messages (each once after feed_apps_dedup()).
  int64_t feed_max() const { return feed_max_; }
  // The head the sequence row had when this transaction locked it (0: never locked): positions up to it
  // that this node has not seen were given by other nodes.
  int64_t sequence_start() const { return sequence_.locked ? sequence_.start : 0; }
  std::vector<std::string>& feed_apps() { return feed_apps_; }
  void feed_apps_dedup();

  // ---- The delivery queue's statements (pg_queue.h; in pg_deliveries.cc). Leases are in the rows: status 3,
  // next_attempt_at = the lease's end, claim_id = the fence (from the sequence delivery_claims).
  // One statement: the oldest 4 * limit + share due rows locked FOR UPDATE SKIP LOCKED, at most `share` per
  // endpoint leased, overdue rows read past an endpoint's share moved behind (due at now).
  Result<std::vector<Claim>> lease_due(const ClaimRequest& r);
  Result<std::vector<bool>> renew_leases(const std::vector<LeaseToken>& leases, TimePoint until);
  Result<DeliveryQueueStats> queue_stats(TimePoint now);

  // ---- Tx
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
  Result<Page<Attempt>> list_attempts_by_message(std::string_view app_id, std::string_view msg_id,
                                                 const AttemptQuery& q) override;
  Result<Page<Attempt>> list_attempts_by_endpoint(std::string_view app_id, std::string_view endpoint_id,
                                                  const AttemptQuery& q) override;

  Status insert_delivery(const Delivery& d) override;
  // By id, checked against the lease's claim_id, which it clears.
  Result<std::vector<Settled>> settle_deliveries(std::span<const Settlement> batch) override;
  // In a write, the row is locked (FOR UPDATE) until COMMIT: the health record is read, changed and written
  // back in one batch, and another node's batch must not do the same in between (a lost update).
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
  Result<Page<MessageDelivery>> list_endpoint_messages(std::string_view app_id, std::string_view endpoint_id,
                                                       const DeliveryQuery& q) override;
  Result<Page<EndpointDelivery>> list_message_endpoints(std::string_view app_id, std::string_view msg_id,
                                                        const PageQuery& q) override;
  Result<DeliveryCounts> count_endpoint_deliveries(std::string_view app_id, std::string_view endpoint_id,
                                                   std::optional<TimePoint> since,
                                                   std::optional<TimePoint> until) override;
  Result<Page<MessageDelivery>> list_failed_deliveries(std::string_view app_id,
                                                       const DeliveryQuery& q) override;

  // pg_try_advisory_xact_lock on a key hashed from the job's name.
  Result<bool> try_lock_job(std::string_view job) override;
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
  // Runs a statement (prepared on first use, or parsed once), after the waiting inserts; a failure is
  // remembered (failed()).
  Result<PgResult> run(const Statement& st, const Params& params);
  Result<PgResult> run(const Query& q);
  // Runs a prepared statement at once (the waiting inserts' own).
  Result<PgResult> exec(const Statement& st, const Params& params);
  // The same for a statement that writes: adds the rows it changed to changes(), and returns how many.
  Result<int64_t> change(const Statement& st, const Params& params);
  Result<int64_t> change(const Query& q);
  Result<PgResult> note(Result<PgResult> r);

  // Cursor paging (PageQuery) over `q` ("SELECT ... WHERE ..."), ordered by `key`.
  template <class T, class ReadRow, class KeyOf>
  Result<Page<T>> list(Query q, std::string_view key, const PageQuery& page, ReadRow read_row, KeyOf key_of);

  // The feed sequence of this transaction (see the header comment).
  struct Sequence {
    bool locked = false;
    int64_t start = 0;     // the head read from the row
    int64_t head = 0;      // the newest position given (or read from the row)
    std::string last_id;   // the newest message id given (or read from the row)
    bool changed = false;  // something was given: commit() writes the row back
  };
  // Rows of one table waiting for their multi-row INSERT: a column each, and each row's id and function.
  struct WaitingRows {
    WaitingRows(std::initializer_list<BinaryArray::Element> types);
    std::vector<BinaryArray> columns;
    std::vector<std::string> ids;
    std::vector<size_t> functions;
  };
  // Inserts the waiting rows of both tables (messages first), if any.
  Status flush_inserts();
  // The statement that inserts `rows` (plain or checked), with the rows as its parameters; the rows are
  // waiting no more (their ids and functions are moved into `ids` and `functions`).
  const Statement& take(WaitingRows& rows, bool messages, Params& params, std::vector<std::string>& ids,
                        std::vector<size_t>& functions);
  Status flush(WaitingRows& rows, bool messages);
  // The position and id of the next message, taken by insert_message only if its row goes in.
  std::pair<int64_t, std::string> next_message_slot(const Message& msg) const;
  // A message's row went in (or is waiting) with this position and id.
  void message_given(Message& msg, int64_t position, std::string id);

  // Locks and reads the row if this transaction has not yet.
  Status lock_sequence();
  // What a rolled-back insert gives back.
  void note_feed_insert(std::string_view app_id, int64_t position);
  // Which unique key a message insert that inserted nothing ran into; nullopt: none any more (retry).
  Result<std::optional<Error>> message_conflict(const Message& msg, const std::string& id);
  // Deletes one message with its attempts and deliveries; false when the message was gone already.
  Result<bool> delete_message(std::string_view app_id, std::string_view msg_id);
  // Whether a uid is held by another row than `id` ("uid" column, scoped to the app when `app_id`).
  Result<bool> uid_taken(std::string_view table, std::optional<std::string_view> app_id, std::string_view uid,
                         std::string_view id);

  PgConnection& conn_;
  const Mode mode_;
  std::optional<Error> failure_;
  std::string failure_sqlstate_;
  int64_t changes_ = 0;
  Sequence sequence_;
  Sequence sequence_mark_;
  std::vector<std::string> feed_apps_;
  size_t feed_apps_mark_ = 0;
  int64_t feed_max_ = 0, feed_max_mark_ = 0;
  size_t function_ = 0;
  bool batch_inserts_ = false;
  Inserts inserts_ = Inserts::kChecked;
  WaitingRows waiting_messages_;
  WaitingRows waiting_deliveries_;
  std::vector<size_t> unbatch_;
  std::unordered_map<std::string, Application> applications_;  // by the id or uid they were asked for
  std::unordered_map<std::string, std::vector<Endpoint>> enabled_endpoints_;  // by application id
  static constexpr size_t kFeedAppsScan = 16;
};

}  // namespace hookwire::store::postgres
