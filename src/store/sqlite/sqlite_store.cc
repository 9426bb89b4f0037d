#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iterator>
#include <utility>

#include "store/sqlite/schema.h"
#include "store/unavailable_tx.h"

namespace hookwire::store {
namespace {

// The batch statements, prepared once per connection like every other.
constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";
constexpr std::string_view kSavepoint = "SAVEPOINT w";
constexpr std::string_view kRelease = "RELEASE w";
constexpr std::string_view kRollbackTo = "ROLLBACK TO w";

// WAL sizes in pages (of 4 KiB by default): the checkpointer starts at kCheckpointPages; past kMaxWalPages
// the writer checkpoints between batches itself. After a checkpoint that caught up, the WAL restarts from its
// beginning and is truncated to journal_size_limit, so the file stays bounded.
constexpr int kCheckpointPages = 4096;
constexpr int kMaxWalPages = 65536;
// How long the writer, out of work under load, yields the CPU (sched_yield) watching for the next write
// before it sleeps on its condition variable. On a virtual machine whose idle vCPUs halt (no guest halt
// polling, as on the benchmark machines), waking a thread on an idle vCPU takes ~36 us: a futex ping-pong
// between threads on two vCPUs measured 72 us a round trip, against 1.7 us on one (bench/wakeup). At ~45,000
// writes/s the next one comes sooner than that, so a sleeping writer made every batch wait for a wake-up.
// Yielding keeps its vCPU awake while handing it to any runnable thread. Adaptive: the writer spins only when
// its previous wait ended within this time, so a trickle of writes costs no spinning. bench/inbound: +3-5 %
// (its README).
constexpr auto kWriterSpin = std::chrono::microseconds(100);

constexpr const char* kWalPragmas = "PRAGMA journal_size_limit = 67108864";

void name_thread(const char* name) { pthread_setname_np(pthread_self(), name); }  // Linux: <= 15 chars

std::vector<double> batch_size_buckets() {
  std::vector<double> b;
  for (double v = 1; v <= 4096; v *= 2) b.push_back(v);
  return b;
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options) {
  auto s = SqliteStore::open(options);
  if (!s.ok()) return s.take_error();
  return std::unique_ptr<Store>(std::move(*s));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options) {
  if (options.path.empty()) return Error::internal("sqlite store: no database path given");
  const std::filesystem::path path(options.path);
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return Error::internal(fmt::format("cannot create directory {} for database: {}",
                                         path.parent_path().string(), ec.message()));
    }
  }
  // Before anything opens (and so creates or configures) the file.
  if (auto st = check_database_file(options.path); !st.ok()) return st.take_error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  // Recent idempotency keys live in this store's memory (recent_keys.h), so no other store may write the
  // file meanwhile, in this process or another. flock locks are separate from SQLite's fcntl locks.
  store->lock_fd_ = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (store->lock_fd_ < 0) {
    return Error::internal(fmt::format("cannot open database {}: {}", options.path, std::strerror(errno)));
  }
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error::unavailable(fmt::format("database {} is open in another hookwire store", options.path));
  }
  Connection::Options conn_options;
  // Commits do not wait for the disk; at Durability::kFull the syncer flushes the WAL before acknowledging.
  conn_options.full_sync = false;
  // A full batch (max_batch 1 KB events: ~2.5 MB of pages) must fit, or pages spill into the WAL before
  // COMMIT and are written again at COMMIT. Not much more: at every COMMIT SQLite walks the page cache's
  // whole hash table (pcache1's truncate in CommitPhaseTwo), which with 64 MB took ~10 % of the writer's
  // time; 8 MB served the inbound benchmark 3-5 % faster than 64 MB (bench/inbound/README.md).
  conn_options.cache_kib = 8 * 1024;
  auto writer = Connection::open(options.path, conn_options);
  if (!writer.ok()) return writer.take_error();
  store->writer_conn_ = std::move(*writer);
  if (auto st = migrate(*store->writer_conn_, options.path); !st.ok()) return st.take_error();
  // From here on, failures are the operator's to read in the log, and the API's to answer plainly.
  store->writer_conn_->set_fault_log(&store->faults_);
  conn_options.faults = &store->faults_;

  if (auto st = store->writer_conn_->exec(kWalPragmas); !st.ok()) {
    return Error::internal(fmt::format("cannot configure database {}: {}", options.path, st.error().detail));
  }
  conn_options.cache_kib = 2000;
  auto checkpointer = Connection::open(options.path, conn_options);
  if (!checkpointer.ok()) return checkpointer.take_error();
  store->checkpoint_conn_ = std::move(*checkpointer);
  if (auto st = store->load_recent_keys(); !st.ok()) return st.take_error();
  // Claim ids (row leases) only need to grow across opens: microseconds since the epoch do.
  store->queue_ = std::make_unique<SqliteQueue>(*store, options.row_leases,
                                                std::chrono::duration_cast<std::chrono::microseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
  if (!options.row_leases) {
    // Leases in rows (left by a store opened with row leases) belong to no one now: they end when they would
    // have expired.
    SqliteTx tx(*store->writer_conn_);
    auto released = tx.release_row_leases();
    if (!released.ok()) return released.take_error();
    if (*released > 0) spdlog::info("store: {} deliveries leased in their rows released", *released);
  }
  // Replaces SQLite's automatic checkpoint inside COMMIT with a hand-off to the checkpointer thread.
  sqlite3_wal_hook(store->writer_conn_->handle(), &SqliteStore::on_wal_commit, store.get());

  conn_options.read_only = true;
  for (int i = 0; i < std::max(1, options.readers); ++i) {
    auto reader = Connection::open(options.path, conn_options);
    if (!reader.ok()) return reader.take_error();
    store->reader_conns_.push_back(std::move(*reader));
  }
  if (options.metrics) {
    store->batch_size_ = &options.metrics->histogram(
        "store_batch_size", "Write functions per committed batch.", batch_size_buckets());
    store->commit_seconds_ = &options.metrics->histogram(
        "store_commit_seconds", "Time to COMMIT one write batch (without the disk flush).",
        metrics::latency_buckets());
    store->fsync_seconds_ = &options.metrics->histogram(
        "store_fsync_seconds",
        "Time to flush the WAL to disk (one flush covers every batch committed before it).",
        metrics::latency_buckets());
    store->writes_total_ =
        &options.metrics->counter("store_writes_total", "Write functions run by the store.");
  }
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  store->checkpointer_ = std::thread([s = store.get()] { s->checkpointer_loop(); });
  if (options.durability == Durability::kFull)
    store->syncer_ = std::thread([s = store.get()] { s->syncer_loop(); });
  for (auto& conn : store->reader_conns_) {
    store->readers_.emplace_back([s = store.get(), c = conn.get()] { s->reader_loop(c); });
  }
  return store;
}

SqliteStore::~SqliteStore() { stop(); }

void SqliteStore::stop() {
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lk(write_mu_);
    writes_closed_ = true;
  }
  write_cv_.notify_all();
  {
    std::lock_guard lk(read_mu_);
    reads_closed_ = true;
  }
  read_cv_.notify_all();
  // The threads drain their queues before they exit: the writer first, then the syncer flushes what it
  // committed.
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lk(sync_mu_);
    sync_closed_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (wal_fd_ >= 0) {
    ::close(wal_fd_);
    wal_fd_ = -1;
  }
  {
    std::lock_guard lk(checkpoint_mu_);
    checkpoint_closed_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpoint_conn_.reset();
  for (auto& t : readers_) t.join();
  readers_.clear();
  reader_conns_.clear();
  writer_conn_.reset();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

Status SqliteStore::load_recent_keys() {
  // What the index holds, into the filter in front of it: one pass over message_keys (~0.4 s per million
  // keys), on the checkpointer's connection, whose small page cache does not keep the index in memory.
  {
    auto stmt = checkpoint_conn_->prepare("SELECT hash FROM message_keys");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) recent_keys_.indexed(static_cast<uint64_t>(s.int64(0)));
    if (rc != SQLITE_DONE) return checkpoint_conn_->error("load_recent_keys");
  }
  // The keys no fold has put in the index yet: those of the messages above the mark, oldest first. Message
  // rowids continue above both the mark and every row (recent_keys.h).
  int64_t folded_up_to = 0;
  {
    auto stmt = writer_conn_->prepare(
        "SELECT folded_up_to, max(folded_up_to, COALESCE((SELECT max(rowid) FROM messages), 0), "
        "(SELECT high_water FROM feed_state)) FROM message_keys_state");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    if (s.step() != SQLITE_ROW) return writer_conn_->error("load_recent_keys");
    folded_up_to = s.int64(0);
    message_sequence_.next_rowid = s.int64(1) + 1;
    // Every position up to here is settled (a message, or one deleted): the feed's head.
    feed_head_.store(s.int64(1), std::memory_order_relaxed);
  }
  {
    // New ids go above the newest message's and every id stored before schema 14 (MessageSequence).
    auto stmt = writer_conn_->prepare(
        "SELECT max(legacy_max_id, COALESCE((SELECT id FROM messages ORDER BY rowid DESC LIMIT 1), '')) FROM "
        "feed_state");
    if (!stmt.ok()) return stmt.take_error();
    Stmt s(*stmt);
    if (s.step() != SQLITE_ROW) return writer_conn_->error("load_recent_keys");
    message_sequence_.last_id = s.text(0);
  }
  auto stmt = writer_conn_->prepare(
      "SELECT rowid, app_id, idempotency_key FROM messages WHERE rowid > ? AND idempotency_key IS NOT NULL "
      "ORDER BY rowid");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  s.bind(1, folded_up_to);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    recent_keys_.add(RecentKeys::entry_key(s.text(1), s.text(2)), s.int64(0));
  if (rc != SQLITE_DONE) return writer_conn_->error("load_recent_keys");
  return {};
}

void SqliteStore::submit_write(WriteFn fn, WriteDone done, Ack ack) {
  {
    std::lock_guard lk(write_mu_);
    if (!writes_closed_) {
      write_queue_.push_back({std::move(fn), std::move(done), ack});
      writes_submitted_.fetch_add(1, std::memory_order_relaxed);  // seen by a spinning writer
      // Notify under the lock: the writer cannot miss it, and stop() cannot destroy the cv under us.
      write_cv_.notify_one();
      return;
    }
  }
  done(Error::unavailable("store is stopping"));
}

std::optional<std::string> SqliteStore::problem() {
  auto p = faults_.problem();
  if (!p) return p;
  // A store nobody writes to would never see its storage recover: probe it, at most once a second. The probe
  // rewrites one row in place (a WAL frame); its commit ends the episode (on_wal_commit).
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_probe_ms_.load(std::memory_order_relaxed);
  if (now - last >= 1000 && last_probe_ms_.compare_exchange_strong(last, now)) {
    submit_write(
        [](Tx& tx) -> Status {
          return dynamic_cast<SqliteTx&>(tx).connection().run(
              "UPDATE message_keys_state SET folded_up_to = folded_up_to");
        },
        [](Status) {}, Ack::kCommitted);
  }
  return p;
}

void SqliteStore::submit_read(ReadFn fn, std::function<void()> done) {
  {
    std::lock_guard lk(read_mu_);
    if (!reads_closed_) {
      read_queue_.push_back({std::move(fn), std::move(done)});
      read_cv_.notify_one();
      return;
    }
  }
  UnavailableTx tx;
  fn(tx);
  done();
}

int SqliteStore::on_wal_commit(void* self, sqlite3*, const char*, int pages) {
  auto* store = static_cast<SqliteStore*>(self);
  store->wal_pages_ = pages;
  store->faults_.write_committed();  // pages reached the WAL: storage works (ends a failure episode)
  if (pages >= kCheckpointPages) {
    std::lock_guard lk(store->checkpoint_mu_);
    store->checkpoint_wanted_ = true;
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpointer_loop() {
  name_thread("store-ckpt");  // at most 15 characters, or the name is refused
  for (;;) {
    {
      std::unique_lock lk(checkpoint_mu_);
      checkpoint_cv_.wait(lk, [&] { return checkpoint_wanted_ || checkpoint_closed_; });
      if (checkpoint_closed_) return;  // closing the last connection checkpoints what is left
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what no reader still needs, never blocks the writer or readers.
    (void)sqlite3_wal_checkpoint_v2(checkpoint_conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                    nullptr);
  }
}

void SqliteStore::writer_loop() {
  name_thread("store-writer");
  for (;;) {
    if (wal_pages_ >= kMaxWalPages) {
      // The checkpointer has fallen behind: catch up here, between batches, so the WAL can restart.
      (void)sqlite3_wal_checkpoint_v2(writer_conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                      nullptr);
      wal_pages_ = 0;
    }
    {
      std::unique_lock lk(write_mu_);
      if (write_queue_.empty() && !writes_closed_) {
        // Out of work. Under load, yield for a moment before sleeping (kWriterSpin): see the constant.
        const auto idle_since = std::chrono::steady_clock::now();
        if (spin_before_waiting_) {
          const uint64_t seen = writes_submitted_.load(std::memory_order_relaxed);
          lk.unlock();
          const auto until = idle_since + kWriterSpin;
          while (writes_submitted_.load(std::memory_order_relaxed) == seen &&
                 std::chrono::steady_clock::now() < until) {
            sched_yield();
          }
          lk.lock();
        }
        write_cv_.wait(lk, [&] { return !write_queue_.empty() || writes_closed_; });
        // Spin next time only if this wait was short enough for a spin to have caught its end.
        spin_before_waiting_ = std::chrono::steady_clock::now() - idle_since < kWriterSpin;
      }
      if (write_queue_.empty()) return;  // closed and drained
      if (write_queue_.size() <= options_.max_batch) {
        batch_.swap(write_queue_);  // the queue inherits the old batch's (empty) buffer
      } else {
        const auto n = static_cast<std::ptrdiff_t>(std::max<size_t>(1, options_.max_batch));
        batch_.assign(std::make_move_iterator(write_queue_.begin()),
                      std::make_move_iterator(write_queue_.begin() + n));
        write_queue_.erase(write_queue_.begin(), write_queue_.begin() + n);
      }
    }
    run_batch();
    batch_.clear();
  }
}

SqliteStore::Pass SqliteStore::run_pass(bool savepoints) {
  Connection& conn = *writer_conn_;
  sqlite3* db = conn.handle();
  SqliteTx tx(conn, &recent_keys_, &message_sequence_);
  tx.set_memory_leases(queue_->memory_leases());
  results_.assign(batch_.size(), Status());
  auto fail_all = [&](const Error& e) {
    for (auto& r : results_) r = e;
  };
  auto finish = [&](bool aborted) {
    if (aborted && !sqlite3_get_autocommit(db)) (void)conn.run(kRollback);
    return Pass::kDone;
  };

  if (auto st = conn.run(kBegin); !st.ok()) {
    fail_all(st.error());
    return Pass::kDone;
  }
  for (size_t i = 0; i < batch_.size(); ++i) {
    if (savepoints) {
      if (auto st = conn.run(kSavepoint); !st.ok()) {
        fail_all(st.error());
        return finish(true);
      }
    }
    const int64_t changes_before = sqlite3_total_changes64(db);
    tx.begin_function();
    Status st;
    try {
      st = batch_[i].fn(tx);
    } catch (const std::exception& e) {
      st = Error::internal(fmt::format("write function threw: {}", e.what()));
    } catch (...) {
      st = Error::internal("write function threw");
    }
    // Some failures (I/O errors, SQLITE_FULL) make SQLite roll back the whole transaction by itself; then
    // nothing of the batch can commit.
    if (sqlite3_get_autocommit(db)) {
      fail_all(conn.error("write transaction (SQLite aborted it)"));
      return Pass::kDone;
    }
    if (!savepoints) {
      if (!st.ok() && sqlite3_total_changes64(db) != changes_before) return Pass::kRerunWithSavepoints;
    } else if (st.ok()) {
      if (auto rel = conn.run(kRelease); !rel.ok()) {
        fail_all(rel.error());
        return finish(true);
      }
    } else {
      if (auto rb = conn.run(kRollbackTo); !rb.ok()) {
        fail_all(rb.error());
        return finish(true);
      }
      (void)conn.run(kRelease);
      tx.function_rolled_back();  // it may hold what the function wrote and the rollback undid
    }
    results_[i] = std::move(st);
  }
  // A step of folding recent idempotency keys into their index rides along (recent_keys.h). If it fails,
  // the writes still commit and the step is tried again with the next batch.
  const RecentKeys::FoldStep fold = recent_keys_.next_fold_step();
  bool folded = false;
  if (!fold.empty()) {
    folded = tx.fold_keys(fold).ok();
    if (sqlite3_get_autocommit(db)) {
      fail_all(conn.error("write transaction (SQLite aborted it)"));
      return Pass::kDone;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const Status committed = conn.run(kCommit);
  if (commit_seconds_) {
    commit_seconds_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (!committed.ok()) {
    fail_all(committed.error());
    return finish(true);
  }
  if (folded) recent_keys_.fold_step_committed(fold);
  for (auto& k : tx.pending_keys()) recent_keys_.add(std::move(k.entry_key), k.msg_rowid);
  if (tx.feed_max() > 0) {
    tx.feed_apps_dedup();
    batch_feed_.head = tx.feed_max();
    batch_feed_.app_ids = std::move(tx.feed_apps());
  }
  return Pass::kDone;
}

void SqliteStore::run_batch() {
  // First pass without savepoints: a savepoint makes SQLite copy every page a function touches into a
  // statement journal, which cost more than the inserts themselves. Most failing functions fail at their
  // first write (a uniqueness conflict), which SQLite's statement atomicity already undoes. Only when a
  // function fails after it has changed rows is the batch rolled back and run again, this time with a
  // savepoint around each function (the Store contract allows running a function more than once).
  batch_feed_.head = 0;  // set by the pass that commits, if it inserted messages
  if (run_pass(/*savepoints=*/false) == Pass::kRerunWithSavepoints) {
    (void)writer_conn_->run(kRollback);
    (void)run_pass(/*savepoints=*/true);
  }
  if (batch_size_) batch_size_->observe(static_cast<double>(batch_.size()));
  if (writes_total_) writes_total_->inc(static_cast<double>(batch_.size()));
  if (!syncer_.joinable()) {
    if (batch_feed_.head > 0) advance_feed(batch_feed_);  // before the dones: they may read it
    for (size_t i = 0; i < batch_.size(); ++i) {
      if (batch_[i].done) batch_[i].done(std::move(results_[i]));
    }
    return;
  }
  // Writes acknowledged at commit are done now; the others go to the syncer, their dones run once the WAL is
  // on disk. (A batch that failed to commit has nothing to flush, but going through the syncer keeps every
  // durable done in submission order.)
  bool to_sync = false;
  for (size_t i = 0; i < batch_.size(); ++i) {
    if (batch_[i].ack == Ack::kCommitted && batch_[i].done) {
      batch_[i].done(std::move(results_[i]));
      batch_[i].done = nullptr;
    } else {
      to_sync = true;
    }
  }
  // Messages become readable (the head) only once flushed, even those of writes acknowledged at commit.
  const bool feed = batch_feed_.head > 0;
  if (!to_sync && !feed) return;
  std::lock_guard lk(sync_mu_);
  for (size_t i = 0; i < batch_.size(); ++i)
    if (batch_[i].done) sync_queue_.push_back({std::move(batch_[i].done), std::move(results_[i])});
  if (feed) {  // merged with what waits for the flush already; made distinct by the syncer
    sync_feed_.head = std::max(sync_feed_.head, batch_feed_.head);
    auto& apps = sync_feed_.app_ids;
    if (apps.empty()) {
      apps.swap(batch_feed_.app_ids);
    } else {
      apps.insert(apps.end(), std::make_move_iterator(batch_feed_.app_ids.begin()),
                  std::make_move_iterator(batch_feed_.app_ids.end()));
      sync_feed_merged_ = true;
    }
  }
  sync_cv_.notify_one();
}

void SqliteStore::syncer_loop() {
  name_thread("store-syncer");
  std::vector<Committed> flushing;
  FeedAdvance feed;
  for (;;) {
    {
      std::unique_lock lk(sync_mu_);
      sync_cv_.wait(lk, [&] { return !sync_queue_.empty() || sync_feed_.head > 0 || sync_closed_; });
      if (sync_queue_.empty() && sync_feed_.head == 0) return;  // closed and drained
      flushing.swap(sync_queue_);
      feed.head = std::exchange(sync_feed_.head, 0);
      feed.app_ids.swap(sync_feed_.app_ids);
      sync_feed_.app_ids.clear();
      if (std::exchange(sync_feed_merged_, false)) {  // several batches: an application may be there twice
        std::sort(feed.app_ids.begin(), feed.app_ids.end());
        feed.app_ids.erase(std::unique(feed.app_ids.begin(), feed.app_ids.end()), feed.app_ids.end());
      }
    }
    const auto start = std::chrono::steady_clock::now();
    // A failed fdatasync is final: Linux may drop the unflushed pages and report success next time, so after
    // one failure nothing more is acknowledged.
    if (sync_failure_.ok()) sync_failure_ = sync_wal();
    const Status& synced = sync_failure_;
    if (fsync_seconds_) {
      fsync_seconds_->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    // The flushed messages are readable now: before the dones, whose clients may read them at once.
    if (synced.ok() && feed.head > 0) advance_feed(feed);
    feed.head = 0;
    feed.app_ids.clear();
    for (auto& c : flushing) {
      if (!c.done) continue;
      c.done(synced.ok() || !c.result.ok() ? std::move(c.result) : Status(synced.error()));
    }
    flushing.clear();
  }
}

Status SqliteStore::sync_wal() {
  if (wal_fd_ < 0) {
    const std::string wal = options_.path + "-wal";
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) {
      faults_.flush_failed(fmt::format("cannot open {} to flush it: {}", wal, std::strerror(errno)));
      return Error::unavailable("storage error: the server cannot write its database (see its log)");
    }
    // The WAL file may have just been created: make its directory entry durable too, once.
    const auto dir = std::filesystem::absolute(options_.path).parent_path();
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      (void)::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  // fdatasync on any descriptor of the file flushes all of its written data (and its size).
  if (::fdatasync(wal_fd_) != 0) {
    faults_.flush_failed(fmt::format("cannot flush {}-wal to disk: {}", options_.path, std::strerror(errno)));
    return Error::unavailable("storage error: the server cannot write its database (see its log)");
  }
  return {};
}

void SqliteStore::reader_loop(Connection* conn) {
  name_thread("store-reader");
  for (;;) {
    ReadOp op;
    {
      std::unique_lock lk(read_mu_);
      read_cv_.wait(lk, [&] { return !read_queue_.empty() || reads_closed_; });
      if (read_queue_.empty()) return;  // closed and drained
      op = std::move(read_queue_.front());
      read_queue_.pop_front();
    }
    // BEGIN is deferred: the snapshot is taken at the first read and held until COMMIT, so every read of fn
    // sees the same committed state. A failure to begin surfaces as errors from the Tx calls themselves.
    const bool in_tx = conn->run("BEGIN").ok();
    SqliteTx tx(*conn);  // one per transaction: what it caches belongs to this snapshot only
    try {
      op.fn(tx);
    } catch (...) {
      // A read function has nowhere to report an exception; its done still runs so nobody waits forever.
    }
    if (in_tx) (void)conn->run(kCommit);
    if (op.done) op.done();
  }
}

}  // namespace hookwire::store
