// SqliteStore: the embedded Store. One file in WAL mode; one writer thread that group-commits, and
// `readers` reader threads, each with its own connection.
//
// Writes: submit_write() queues (fn, done). The writer takes everything queued (up to max_batch), runs
// BEGIN IMMEDIATE, each fn inside SAVEPOINT/RELEASE (ROLLBACK TO on error, so a failing fn undoes only its
// own changes), then ONE COMMIT (one fsync at Durability::kFull), then calls every done in submission order.
// While a batch commits, the next one queues up: the busier the store, the larger the batches, which is how
// one disk flush acknowledges thousands of writes. A failed COMMIT fails every fn of the batch with
// kInternal. Reads: each ReadFn runs between BEGIN and COMMIT on a read-only connection: a consistent
// snapshot of the last committed state, never blocked by the writer.
//
// Lifecycle: stop() refuses new work (writes get kUnavailable at once; reads run against a Tx that answers
// kUnavailable), finishes everything already queued, joins the threads and closes the connections.
// Idempotent; the destructor calls it. Do not call stop() from a done callback (it joins that thread).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/sqlite/sqlite_tx.h"
#include "store/store.h"

namespace hookwire::store {

class SqliteStore final : public Store {
 public:
  // Creates the file (and its parent directory), migrates the schema and starts the threads.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);
  ~SqliteStore() override;

  void submit_read(ReadFn fn, std::function<void()> done) override;
  void submit_write(WriteFn fn, WriteDone done) override;
  void stop() override;

 private:
  struct WriteOp {
    WriteFn fn;
    WriteDone done;
  };
  struct ReadOp {
    ReadFn fn;
    std::function<void()> done;
  };

  explicit SqliteStore(const SqliteOptions& options) : options_(options) {}
  void writer_loop();
  void run_batch();
  void reader_loop(Connection* conn);
  void checkpointer_loop();
  // sqlite3_wal_hook: runs on the writer thread after each commit with the WAL's size in pages.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int pages);

  const SqliteOptions options_;
  std::unique_ptr<Connection> writer_conn_;
  std::vector<std::unique_ptr<Connection>> reader_conns_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::vector<WriteOp> write_queue_;  // guarded by write_mu_
  bool writes_closed_ = false;        // guarded by write_mu_
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

  std::mutex stop_mu_;  // serializes stop()
  bool stopped_ = false;
  std::thread writer_;
  std::thread checkpointer_;
  std::vector<std::thread> readers_;

  metrics::Histogram* batch_size_ = nullptr;
  metrics::Histogram* commit_seconds_ = nullptr;
  metrics::Counter* writes_total_ = nullptr;
};

}  // namespace hookwire::store
