// SqliteStore: the embedded Store. One file in WAL mode; one writer thread that group-commits, and
// `readers` reader threads, each with its own connection.
//
// Writes: submit_write() queues (fn, done). The writer takes everything queued (up to max_batch), runs
// BEGIN IMMEDIATE, every fn, then ONE COMMIT. A failed COMMIT fails every fn of the batch with kInternal. A
// failing fn must undo only its own changes: the first pass runs without savepoints (they are costly: SQLite
// journals every page a savepoint touches) and relies on statement atomicity, which covers a fn that fails at
// its first change; if a fn fails after changing rows, the batch is rolled back and run again with each fn
// inside SAVEPOINT/RELEASE (ROLLBACK TO on error).
//
// Pipelined group commit (Durability::kFull): the writer connection runs with synchronous=NORMAL, so COMMIT
// appends the batch to the WAL without waiting for the disk (WAL mode stays corruption-safe: a torn tail is
// discarded at recovery by the frame checksums). The committed batch then goes to the syncer thread, which
// fdatasync()s the WAL file and only then calls the batch's dones. While the syncer waits for the disk, the
// writer already runs and commits the next batch, and one fdatasync covers every batch committed before it.
// So an acknowledged write is always on disk, and the disk flush no longer stalls the writer. (Reads may see
// a committed batch a moment before it is flushed; its writers are not acknowledged until it is.) With
// Durability::kNormal there is no syncer: dones run right after COMMIT. dones run in submission order.
// Reads: each ReadFn runs between BEGIN and COMMIT on a read-only connection: a consistent
// snapshot of the last committed state, never blocked by the writer.
//
// Idempotency keys (recent_keys.h): the writer keeps the newest in memory and folds them into their index
// a step per batch, so the store locks the database file (flock) against any other store while it is open.
//
// The feed head (feed_head(), set_feed_listener()): the writer notes, per batch, the highest message position
// it inserted and the applications of those messages (sqlite_feed.cc). At Durability::kFull the syncer,
// once the fdatasync that covers the batch has returned, raises the head and tells the listener, before it
// runs the batch's dones (so a client acknowledged for a message finds it under the head); at kNormal the
// writer does so right after COMMIT. A batch that did not commit (or whose flush failed) reports nothing.
// At open the head is the highest position ever given (the newest message, or the high-water mark of
// deleted ones): nothing new can appear at or below it.
//
// Lifecycle: stop() refuses new work (writes get kUnavailable at once; reads run against a Tx that answers
// kUnavailable), finishes everything already queued, joins the threads and closes the connections.
// Idempotent; the destructor calls it. Do not call stop() from a done callback (it joins that thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/sqlite/fault_log.h"
#include "store/sqlite/recent_keys.h"
#include "store/sqlite/sqlite_queue.h"
#include "store/sqlite/sqlite_tx.h"
#include "store/store.h"

namespace hookwire::store {

class SqliteStore final : public Store {
 public:
  // Creates the file (and its parent directory), migrates the schema and starts the threads.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);
  ~SqliteStore() override;

  void submit_read(ReadFn fn, std::function<void()> done) override;
  void submit_write(WriteFn fn, WriteDone done, Ack ack = Ack::kDurable) override;
  void stop() override;
  std::optional<std::string> problem() override;
  int64_t feed_head() const override;
  void set_feed_listener(std::function<void(const FeedAdvance&)> listener) override;
  DeliveryQueue& delivery_queue() override { return *queue_; }

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

  explicit SqliteStore(const SqliteOptions& options) : options_(options), faults_(options.path) {}
  void writer_loop();
  void run_batch();
  enum class Pass { kDone, kRerunWithSavepoints };
  // Runs batch_ in one transaction; fills results_. Without savepoints it stops early (transaction still
  // open) when a function fails after changing rows.
  Pass run_pass(bool savepoints);
  void reader_loop(Connection* conn);
  void checkpointer_loop();
  void syncer_loop();
  // Flushes the WAL file to disk (opening it, and syncing its directory once, on first use).
  Status sync_wal();
  // sqlite3_wal_hook: runs on the writer thread after each commit with the WAL's size in pages.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int pages);

  // Reads the keys above the fold's mark back into recent_keys_ and sets message_sequence_ (at open).
  Status load_recent_keys();
  // Raises the head to advance.head (if higher) and tells the listener (sqlite_feed.cc). Writer thread at
  // kNormal, syncer thread at kFull.
  void advance_feed(FeedAdvance& advance);

  const SqliteOptions options_;
  std::unique_ptr<SqliteQueue> queue_;     // made at open, before the threads
  FaultLog faults_;                        // storage failures: logged once per episode; problem()
  std::atomic<int64_t> last_probe_ms_{0};  // steady clock: problem()'s last probe write
  int lock_fd_ = -1;  // flock()ed for the store's lifetime: RecentKeys needs the only writer of the file
  RecentKeys recent_keys_;            // writer thread only (and open(), before the threads start)
  MessageSequence message_sequence_;  // writer thread only (and open())
  std::atomic<int64_t> feed_head_{0};
  std::function<void(const FeedAdvance&)> feed_listener_;  // set before the first write
  FeedAdvance batch_feed_;  // writer thread only: what the last committed batch inserted (head 0: nothing)
  std::unique_ptr<Connection> writer_conn_;
  std::vector<std::unique_ptr<Connection>> reader_conns_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::vector<WriteOp> write_queue_;  // guarded by write_mu_
  bool writes_closed_ = false;        // guarded by write_mu_
  // Counts submitted writes (changed under write_mu_): a spinning writer watches it without the mutex.
  std::atomic<uint64_t> writes_submitted_{0};
  bool spin_before_waiting_ = false;  // writer thread only: its last wait was short (kWriterSpin)
  // Writer-thread only: the batch in flight and its per-fn results (kept to reuse their capacity).
  std::vector<WriteOp> batch_;
  std::vector<Status> results_;

  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::deque<ReadOp> read_queue_;  // guarded by read_mu_
  bool reads_closed_ = false;      // guarded by read_mu_

  std::unique_ptr<Connection> checkpoint_conn_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mu_
  bool checkpoint_closed_ = false;  // guarded by checkpoint_mu_
  int wal_pages_ = 0;               // writer thread only: WAL size after the last commit

  // Batches committed but not yet flushed (Durability::kFull): (done, result) pairs in submission order.
  struct Committed {
    WriteDone done;
    Status result;
  };
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Committed> sync_queue_;  // guarded by sync_mu_
  FeedAdvance sync_feed_;              // guarded by sync_mu_: what the queued batches inserted, merged
  bool sync_feed_merged_ = false;      // guarded by sync_mu_: sync_feed_ holds more than one batch's apps
  bool sync_closed_ = false;           // guarded by sync_mu_
  int wal_fd_ = -1;                    // syncer thread only
  Status sync_failure_;                // syncer thread only: the first failed flush, sticky
  metrics::Histogram* fsync_seconds_ = nullptr;

  std::mutex stop_mu_;  // serializes stop()
  bool stopped_ = false;
  std::thread writer_;
  std::thread checkpointer_;
  std::thread syncer_;
  std::vector<std::thread> readers_;

  metrics::Histogram* batch_size_ = nullptr;
  metrics::Histogram* commit_seconds_ = nullptr;
  metrics::Counter* writes_total_ = nullptr;
};

}  // namespace hookwire::store
