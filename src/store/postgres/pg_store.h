// PostgresStore: the Store on PostgreSQL (15+), for several hookwire nodes sharing one database. One writer
// thread that group-commits on its own connection, `readers` reader threads with a connection each, and a
// feed watcher with one more (LISTEN/NOTIFY and a poll of the feed's head).
//
// Writes: submit_write() queues (fn, done). The writer takes everything queued (up to max_batch), runs
// BEGIN, every fn, then ONE COMMIT, with synchronous_commit on (or the server's stronger setting), so COMMIT
// returns once the batch is durable; every done runs after COMMIT. A batch whose fns are all Ack::kCommitted
// (the dispatcher's leases and records) commits with synchronous_commit off for that transaction: it does
// not wait for the disk, and a crash of the server (not of hookwire) may lose its last moments, which only
// means deliveries sent again. A failing fn must undo
// only its own changes, but PostgreSQL aborts the whole transaction at a failed statement, so:
//  - PgTx keeps expected failures from being failed statements (inserts say ON CONFLICT DO NOTHING), and a
//    fn that fails without having changed a row is simply reported, the batch going on;
//  - a fn that fails after changing rows, or during which a statement failed, makes the batch roll back and
//    run again without it (its error is its result: the batch is as if it had run alone and been undone);
//  - if that happens again in the same batch, the third run puts each fn in a SAVEPOINT (ROLLBACK TO on
//    failure). Savepoints are kept off the common path: each writing subtransaction takes a subtransaction
//    id, and past 64 in one transaction every other session's snapshots pay for it;
//  - message and delivery inserts wait and go in together, one multi-row statement per table, sent with the
//    sequence row and COMMIT in one round trip (pipeline mode; pg_tx.h). A taken idempotency key or eventId
//    fails that plain INSERT: the batch runs again with checked inserts (ON CONFLICT DO NOTHING RETURNING)
//    to find which rows did not go in, and again with those fns' inserts unbatched, so that each meets the
//    conflict and answers it itself (after two such runs, every fn runs unbatched);
//  - a deadlock or serialization failure (another node's batch) runs the whole batch again, three times at
//    most, after a short jittered pause; a statement over its timeout, or a server refusing work, fails the
//    whole batch with kUnavailable (the others would wait as long).
// A COMMIT that fails fails the batch's fns (kUnavailable when the connection was lost at COMMIT: its outcome
// is unknown).
//
// Reads: each ReadFn runs inside BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY ... COMMIT on a reader's
// connection: one consistent snapshot.
//
// Outages: connections carry connect and statement timeouts and TCP keepalives (connection.h), so nothing
// waits long on a dead server. A connection found lost is dropped; while the database cannot be reached,
// writes fail at once with kUnavailable, reads run against a Tx that answers kUnavailable, and a new
// connection is tried at most every kReconnectEvery per thread, so the store comes back by itself once the
// server does. A batch that finds its connection closed before anything ran (a server restarted since) is
// run again at once on a new connection. problem() says "database unreachable" meanwhile (and asks, at most
// once a second, for a probe write that ends it once the server answers). Each episode is logged once
// (outage_log.h).
//
// The feed: positions and ids are given under the row lock of feed_sequence (pg_tx.h), so they follow commit
// order across nodes. feed_head() is raised after each COMMIT that inserted messages, before that batch's
// dones run, telling the listener the applications of those messages (and of other nodes' messages between
// the previous head and the batch's first position). Other nodes' commits reach this node through the feed
// watcher: NOTIFY hookwire_feed (sent after COMMIT by the node that wrote, on the watcher's connection, never
// inside the write transaction; only while another node is alive), and a read of the head every
// feed_poll_interval as the backstop for lost notifications and `listen` = false. Heads and listener calls go
// in increasing order (one mutex).
//
// Lifecycle: stop() refuses new work (writes get kUnavailable at once; reads run against a Tx that answers
// kUnavailable), finishes everything already queued, joins the threads and closes the connections.
// Idempotent; the destructor calls it. Do not call stop() from a done callback (it joins that thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "store/postgres/connection.h"
#include "store/postgres/outage_log.h"
#include "store/postgres/pg_queue.h"
#include "store/postgres/pg_tx.h"
#include "store/store.h"

namespace hookwire::store::postgres {

class PostgresStore final : public Store {
 public:
  static Result<std::unique_ptr<PostgresStore>> open(const PostgresOptions& options);
  ~PostgresStore() override;

  void submit_read(ReadFn fn, std::function<void()> done) override;
  void submit_write(WriteFn fn, WriteDone done, Ack ack = Ack::kDurable) override;
  void stop() override;
  std::optional<std::string> problem() override;
  int64_t feed_head() const override { return feed_head_.load(std::memory_order_acquire); }
  void set_feed_listener(std::function<void(const FeedAdvance&)> listener) override;
  DeliveryQueue& delivery_queue() override { return queue_; }
  // Raises the topic's version in hookwire_changes and NOTIFYs hookwire_changes with it, both by the watcher
  // on its own connection (coalesced: each topic once per turn). Other nodes' watchers hear the NOTIFY at
  // once, or see the version at their next poll (without LISTEN, or when the notification was lost), and
  // call the listener; with "*" after (re)connecting to LISTEN and at the first poll, since what was cached
  // before may be stale.
  void publish_change(std::string_view topic) override;
  // The NOTIFY alone (no version raised), by the watcher likewise.
  void announce(std::string_view topic) override;
  void set_change_listener(std::function<void(std::string_view topic)> listener) override;
  // From hookwire_nodes: each store's watcher marks its node seen at every poll and counts the nodes seen
  // within kNodeLiveFor (or three polls, if longer); stop() removes this node's row.
  int live_nodes() const override { return live_nodes_.load(std::memory_order_relaxed); }
  bool shared() const override { return true; }

  // How long a thread waits after a failed connection attempt before it tries again.
  static constexpr auto kReconnectEvery = std::chrono::milliseconds(250);

 private:
  struct WriteOp {
    WriteFn fn;
    WriteDone done;
    Ack ack = Ack::kDurable;
  };
  struct ReadOp {
    ReadFn fn;
    std::function<void()> done;
  };
  // A connection a thread keeps, made again (at most every kReconnectEvery) once lost.
  struct Slot {
    std::unique_ptr<PgConnection> conn;
    std::chrono::steady_clock::time_point next_try{};
  };

  explicit PostgresStore(const PostgresOptions& options);
  ConnectOptions connect_options() const;
  // Connects `slot` if it has no live connection and may try now; `force` ignores the wait. Failures of the
  // writer and readers open an outage episode (problem()); the feed watcher's are only logged (rate-limited):
  // it must not report an outage that requests do not see.
  enum class Role { kWriter, kReader, kWatcher };
  bool ready(Slot& slot, Role role, bool force = false);
  void lost(Slot& slot, Role role, std::string_view what, std::string_view detail);
  // Makes a new connection for `role` (the writer's commits wait for the disk: synchronous_commit is raised
  // to on if the server has it off).
  Result<PgConnection> connect(Role role) const;

  void writer_loop();
  void run_batch();
  // kRerun: a fn was excluded, run the rest again; kCheck: a plain batched insert met a taken key, run it all
  // again with checked inserts; kUnbatch: some fns' batched rows did not go in, run it all again with those
  // fns unbatched; kRetry: run it all again (a deadlock); kReconnected: the connection was closed before
  // anything ran, and is new.
  enum class Pass { kDone, kRerun, kCheck, kUnbatch, kRetry, kReconnected };
  // Runs batch_ (but the fns already excluded) in one transaction; fills results_.
  Pass run_pass(bool savepoints, bool may_reconnect, bool may_retry);
  Pass unbatch(const PgTx& tx);  // kCheck, or marks tx.unbatch()'s fns
  void reader_loop(Slot* slot);
  void run_read(Slot& slot, ReadOp& op);
  void watcher_loop();
  // Raises the head to `head` (if higher) and tells the listener `apps` plus the applications of the
  // messages between the current head and `others_through` (read on `conn`, if there is one).
  void advance_feed(int64_t head, std::vector<std::string> apps, int64_t others_through, PgConnection* conn);
  void wake_watcher();
  void tell_change(std::string_view topic);  // to the change listener, if any (watcher thread)
  void send_change(std::string_view topic, bool versioned);  // publish_change (versioned) or announce

  const PostgresOptions options_;
  PgQueue queue_{*this};
  OutageLog outage_;
  std::atomic<int64_t> last_probe_ms_{0};  // steady clock: problem()'s last probe write

  std::mutex feed_mu_;  // orders head advances and listener calls
  std::atomic<int64_t> feed_head_{0};
  std::function<void(const FeedAdvance&)> feed_listener_;  // set before the first write

  Slot writer_slot_;  // writer thread only (and open())
  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::vector<WriteOp> write_queue_;  // guarded by write_mu_
  bool writes_closed_ = false;        // guarded by write_mu_
  // Writer thread only: the batch in flight, its per-fn results and the fns a failed pass excluded.
  std::vector<WriteOp> batch_;
  std::vector<Status> results_;
  std::vector<bool> excluded_;
  std::vector<bool> unbatched_;   // fns whose inserts run one by one (their batched rows did not go in)
  bool checked_inserts_ = false;  // the batch's inserts are checked (PgTx::Inserts), after a taken key
  // Writer thread only: what the committing pass inserted into the feed.
  std::minstd_rand retry_random_{std::random_device{}()};  // writer thread only: the jitter of a retry
  int64_t batch_head_ = 0;
  int64_t batch_others_through_ = 0;
  std::vector<std::string> batch_apps_;

  std::vector<Slot> reader_slots_;
  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::deque<ReadOp> read_queue_;  // guarded by read_mu_
  bool reads_closed_ = false;      // guarded by read_mu_

  int wake_fd_ = -1;  // eventfd: wakes the watcher (a NOTIFY to send, or stop)
  std::atomic<bool> watcher_closed_{false};
  std::atomic<bool> notify_wanted_{false};
  const std::string node_id_;  // this store's row in hookwire_nodes
  std::atomic<int> live_nodes_{1};
  std::mutex changes_mu_;
  // Guarded by changes_mu_: topics to NOTIFY, each once, and whether to raise its version (publish_change)
  // or not (announce).
  std::vector<std::pair<std::string, bool>> changes_to_send_;
  std::mutex listener_mu_;  // the watcher runs from open(): a listener set after it must not race its calls
  std::function<void(std::string_view)> change_listener_;  // guarded by listener_mu_

  std::mutex stop_mu_;  // serializes stop()
  bool stopped_ = false;
  std::thread writer_;
  std::vector<std::thread> readers_;
  std::thread watcher_;

  metrics::Histogram* batch_size_ = nullptr;
  metrics::Histogram* commit_seconds_ = nullptr;
  metrics::Counter* writes_total_ = nullptr;
};

}  // namespace hookwire::store::postgres
