#include "store/postgres/pg_store.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <random>
#include <unordered_map>
#include <utility>

#include "core/ids.h"
#include "store/postgres/schema.h"
#include "store/postgres/store_schema.h"
#include "store/unavailable_tx.h"

namespace hookwire::store {

Result<std::unique_ptr<Store>> open_postgres_store(const PostgresOptions& options) {
  auto s = postgres::PostgresStore::open(options);
  if (!s.ok()) return s.take_error();
  return std::unique_ptr<Store>(std::move(*s));
}

namespace postgres {
namespace {

constexpr std::string_view kFeedChannel = "hookwire_feed";
constexpr std::string_view kChangesChannel = "hookwire_changes";
// A node not seen for this long (its watcher marks it every poll) no longer counts in live_nodes().
constexpr auto kNodeLiveFor = std::chrono::seconds(5);
constexpr const char* kUnreachable = "database unreachable";
// A session left idle inside a transaction this long is ended by the server, with its locks (the feed
// sequence's among them): a writer that vanished mid-batch holds up the others' messages no longer.
constexpr auto kIdleInTransaction = std::chrono::seconds(60);
// How many times a batch is run again after a deadlock or serialization failure before the fn is failed.
constexpr int kMaxRetries = 3;
// The shortest time between two NOTIFYs of one node.
constexpr auto kNotifyEvery = std::chrono::milliseconds(10);

void name_thread(const char* name) { pthread_setname_np(pthread_self(), name); }  // Linux: <= 15 chars

std::vector<double> batch_size_buckets() {
  std::vector<double> b;
  for (double v = 1; v <= 4096; v *= 2) b.push_back(v);
  return b;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PostgresStore::PostgresStore(const PostgresOptions& options)
    : options_(options), outage_(describe_server(options.url)), node_id_(new_id("node")) {}

ConnectOptions PostgresStore::connect_options() const {
  ConnectOptions o;
  o.connect_timeout = options_.connect_timeout;
  o.statement_timeout = options_.statement_timeout;
  o.idle_in_transaction_timeout = kIdleInTransaction;
  return o;
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const PostgresOptions& options) {
  if (options.url.empty()) return Error::internal("postgres store: no database URL given");
  std::unique_ptr<PostgresStore> store(new PostgresStore(options));
  const std::string server = describe_server(options.url);
  auto fail = [&](std::string_view what, const Error& e) {
    return Error{e.code, fmt::format("PostgreSQL at {}: {}: {}", server, what, e.detail), {}};
  };
  auto writer = store->connect(Role::kWriter);
  if (!writer.ok()) return fail("cannot connect", writer.error());
  if (auto st = migrate(*writer, store_schema()); !st.ok())
    return fail("cannot migrate the schema", st.error());
  auto head = writer->exec("SELECT head FROM feed_sequence WHERE id = 0");
  if (!head.ok()) return fail("cannot read the feed's head", head.error());
  store->feed_head_ = head->int64(0, 0);
  store->writer_slot_.conn = std::make_unique<PgConnection>(std::move(*writer));
  store->reader_slots_.resize(static_cast<size_t>(std::max(1, options.readers)));
  for (auto& slot : store->reader_slots_) {
    auto reader = store->connect(Role::kReader);
    if (!reader.ok()) return fail("cannot connect", reader.error());
    slot.conn = std::make_unique<PgConnection>(std::move(*reader));
  }
  store->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (store->wake_fd_ < 0) return Error::internal("postgres store: cannot make an eventfd");
  if (options.metrics) {
    store->batch_size_ = &options.metrics->histogram(
        "store_batch_size", "Write functions per committed batch.", batch_size_buckets());
    store->commit_seconds_ = &options.metrics->histogram(
        "store_commit_seconds", "Time to end one write batch: its waiting inserts and COMMIT.",
        metrics::latency_buckets());
    store->writes_total_ =
        &options.metrics->counter("store_writes_total", "Write functions run by the store.");
  }
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  for (auto& slot : store->reader_slots_)
    store->readers_.emplace_back([s = store.get(), slot = &slot] { s->reader_loop(slot); });
  store->watcher_ = std::thread([s = store.get()] { s->watcher_loop(); });
  return store;
}

PostgresStore::~PostgresStore() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void PostgresStore::stop() {
  std::lock_guard stop_lk(stop_mu_);
  if (stopped_) return;
  {
    std::lock_guard lk(write_mu_);
    writes_closed_ = true;
    write_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lk(read_mu_);
    reads_closed_ = true;
    read_cv_.notify_all();
  }
  for (auto& t : readers_)
    if (t.joinable()) t.join();
  watcher_closed_.store(true, std::memory_order_release);
  wake_watcher();
  if (watcher_.joinable()) watcher_.join();
  writer_slot_.conn.reset();
  for (auto& slot : reader_slots_) slot.conn.reset();
  stopped_ = true;
}

void PostgresStore::set_feed_listener(std::function<void(const FeedAdvance&)> listener) {
  std::lock_guard lk(feed_mu_);
  feed_listener_ = std::move(listener);
}

std::optional<std::string> PostgresStore::problem() {
  auto p = outage_.problem();
  if (!p) return p;
  // A store nobody writes to would never see its database come back: probe it, at most once a second (an
  // empty transaction, on a new connection if need be).
  const int64_t now = steady_ms();
  int64_t last = last_probe_ms_.load(std::memory_order_relaxed);
  if (now - last >= 1000 && last_probe_ms_.compare_exchange_strong(last, now))
    submit_write([](Tx&) -> Status { return {}; }, [](Status) {}, Ack::kCommitted);
  return p;
}

// ---- Connections
// ---------------------------------------------------------------------------------------------

Result<PgConnection> PostgresStore::connect(Role role) const {
  auto conn = PgConnection::connect(options_.url, connect_options());
  if (!conn.ok() || role != Role::kWriter) return conn;
  // Acknowledged writes must be durable: a server (or database) set to synchronous_commit = off would
  // acknowledge commits it may lose. A stronger setting (remote_apply, ...) is kept.
  auto set = conn->exec(
      "SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = "
      "'off'");
  if (!set.ok()) return set.take_error();
  return conn;
}

bool PostgresStore::ready(Slot& slot, Role role, bool force) {
  if (slot.conn && slot.conn->ok()) return true;
  slot.conn.reset();
  const auto now = std::chrono::steady_clock::now();
  if (!force && now < slot.next_try) return false;
  auto conn = connect(role);
  if (!conn.ok()) {
    slot.next_try = now + kReconnectEvery;
    const char* who = role == Role::kWriter ? "writer" : role == Role::kReader ? "reader" : "feed watcher";
    const std::string what = fmt::format("connecting ({})", who);
    if (role == Role::kWatcher) {
      outage_.failed(what, conn.error().detail);
    } else {
      outage_.unreachable(what, conn.error().detail);
    }
    return false;
  }
  slot.conn = std::make_unique<PgConnection>(std::move(*conn));
  return true;
}

void PostgresStore::lost(Slot& slot, Role role, std::string_view what, std::string_view detail) {
  if (role == Role::kWatcher) {
    outage_.failed(what, detail);
  } else {
    outage_.unreachable(what, detail);
  }
  slot.conn.reset();
  slot.next_try = std::chrono::steady_clock::now();  // a new connection may be tried at once
}

// ---- Writes
// --------------------------------------------------------------------------------------------------

void PostgresStore::submit_write(WriteFn fn, WriteDone done, Ack ack) {
  {
    std::lock_guard lk(write_mu_);
    if (!writes_closed_) {
      write_queue_.push_back({std::move(fn), std::move(done), ack});
      write_cv_.notify_one();
      return;
    }
  }
  done(Error::unavailable("store is stopping"));
}

void PostgresStore::writer_loop() {
  name_thread("store-writer");
  for (;;) {
    {
      std::unique_lock lk(write_mu_);
      write_cv_.wait(lk, [&] { return !write_queue_.empty() || writes_closed_; });
      if (write_queue_.empty()) return;  // closed and drained
      if (write_queue_.size() <= options_.max_batch) {
        batch_.swap(write_queue_);
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

void PostgresStore::run_batch() {
  results_.assign(batch_.size(), Status());
  excluded_.assign(batch_.size(), false);
  unbatched_.assign(batch_.size(), false);
  checked_inserts_ = false;
  batch_head_ = 0;
  if (!ready(writer_slot_, Role::kWriter)) {
    for (auto& r : results_) r = Error::unavailable(kUnreachable);
  } else {
    // Plain runs first; a fn that fails after changing rows (or whose statement failed) is excluded and the
    // batch run again; the third run has a savepoint per fn. A connection found closed before anything ran is
    // replaced once.
    bool may_reconnect = true;
    int excluding_runs = 0, retries = 0, unbatching_runs = 0;
    for (;;) {
      const Pass pass = run_pass(/*savepoints=*/excluding_runs >= 2, may_reconnect, retries < kMaxRetries);
      if (pass == Pass::kDone) break;
      if (pass == Pass::kReconnected) {
        may_reconnect = false;
        continue;
      }
      (void)writer_slot_.conn->exec("ROLLBACK");
      if (pass == Pass::kRerun) ++excluding_runs;
      // Each such run unbatches at least one more fn; after two, every fn runs unbatched.
      if (pass == Pass::kUnbatch && ++unbatching_runs >= 2) unbatched_.assign(batch_.size(), true);
      if (pass == Pass::kCheck) checked_inserts_ = true;
      if (pass == Pass::kRetry) {
        // The other party of the deadlock may be running its batch again just as quickly: start a few
        // milliseconds apart (jittered, growing) so that the two do not take the same locks in the same
        // order again.
        ++retries;
        std::uniform_int_distribution<int> jitter(1, 10 << retries);
        std::this_thread::sleep_for(std::chrono::milliseconds(jitter(retry_random_)));
      }
    }
  }
  if (batch_size_) batch_size_->observe(static_cast<double>(batch_.size()));
  if (writes_total_) writes_total_->inc(static_cast<double>(batch_.size()));
  // The batch's messages are readable now: the head first, then the dones (whose clients may read them).
  if (batch_head_ > 0) {
    advance_feed(batch_head_, std::move(batch_apps_), batch_others_through_, writer_slot_.conn.get());
    batch_apps_.clear();
    if (options_.listen) {
      notify_wanted_.store(true, std::memory_order_release);
      wake_watcher();
    }
  }
  for (size_t i = 0; i < batch_.size(); ++i) {
    if (batch_[i].done) batch_[i].done(std::move(results_[i]));
  }
}

PostgresStore::Pass PostgresStore::run_pass(bool savepoints, bool may_reconnect, bool may_retry) {
  PgConnection& conn = *writer_slot_.conn;
  auto fail_all = [&](const Error& e) {
    for (size_t i = 0; i < results_.size(); ++i)
      if (!excluded_[i]) results_[i] = e;
  };
  // The connection is gone: nothing of the batch committed (or, at COMMIT, nobody knows).
  auto connection_lost = [&](std::string_view what, std::string_view detail) {
    lost(writer_slot_, Role::kWriter, what, detail);
    fail_all(Error::unavailable(kUnreachable));
    return Pass::kDone;
  };
  auto abort_batch = [&](const Error& e) {
    if (!conn.ok()) return connection_lost("a write", e.detail);
    (void)conn.exec("ROLLBACK");
    outage_.failed("a write batch", e.detail);
    fail_all(e);
    return Pass::kDone;
  };

  // A batch of bookkeeping only (every fn Ack::kCommitted) does not wait for the disk at COMMIT.
  bool durable = false;
  for (size_t i = 0; i < batch_.size(); ++i)
    if (!excluded_[i] && batch_[i].ack == Ack::kDurable) durable = true;
  if (auto begun =
          durable ? conn.exec("BEGIN") : conn.exec_script("BEGIN; SET LOCAL synchronous_commit = off");
      !begun.ok()) {
    if (!conn.ok() && may_reconnect) {
      // Closed while idle (a server restarted since the last batch): nothing ran, so run it on a new one.
      writer_slot_.conn.reset();
      if (ready(writer_slot_, Role::kWriter, /*force=*/true)) return Pass::kReconnected;
      fail_all(Error::unavailable(kUnreachable));
      return Pass::kDone;
    }
    if (!conn.ok()) return connection_lost("BEGIN", begun.error().detail);
    return abort_batch(begun.error());
  }
  PgTx tx(conn, PgTx::Mode::kWrite);
  tx.set_inserts(checked_inserts_ ? PgTx::Inserts::kChecked : PgTx::Inserts::kPlain);
  bool in_savepoint = false;
  for (size_t i = 0; i < batch_.size(); ++i) {
    if (excluded_[i]) continue;
    if (savepoints) {
      auto sp = conn.exec_script(in_savepoint ? "RELEASE SAVEPOINT w; SAVEPOINT w" : "SAVEPOINT w");
      if (!sp.ok()) return abort_batch(sp.error());
      in_savepoint = true;
    }
    const int64_t changes_before = tx.changes();
    tx.begin_function(i, /*batch_inserts=*/!savepoints && !unbatched_[i]);
    Status st;
    try {
      st = batch_[i].fn(tx);
    } catch (const std::exception& e) {
      st = Error::internal(fmt::format("write function threw: {}", e.what()));
    } catch (...) {
      st = Error::internal("write function threw");
    }
    if (!conn.ok()) return connection_lost("a write", tx.failed() ? tx.failure().detail : "connection lost");
    // A statement failed (through the Tx, or on the connection itself): the transaction takes nothing more.
    const bool aborted = tx.failed() || conn.in_failed_transaction();
    if (aborted && tx.failed()) {
      const std::string& state = tx.failure_sqlstate();
      if ((state == "40P01" || state == "40001") && may_retry) {
        spdlog::info("store: a write batch met {} with another session; running it again",
                     state == "40P01" ? "a deadlock" : "a serialization failure");
        return Pass::kRetry;
      }
      // Over its timeout (a lock another node holds), or refused by the server: the others would fare alike.
      if (tx.failure().code == Errc::kUnavailable) return abort_batch(tx.failure());
    }
    // Batched rows that did not go in (or whose INSERT failed): their fns meet that themselves next run.
    if (!tx.unbatch().empty()) return unbatch(tx);
    const auto failure = [&]() -> Status {
      return tx.failed() ? Status(tx.failure()) : Status(Error::internal("a statement of the write failed"));
    };
    if (savepoints) {
      if (aborted || !st.ok()) {
        if (st.ok()) st = failure();
        if (auto rb = conn.exec("ROLLBACK TO SAVEPOINT w"); !rb.ok()) return abort_batch(rb.error());
        tx.function_rolled_back();
      }
    } else if (aborted || (!st.ok() && tx.changes() != changes_before)) {
      // The transaction cannot go on (a statement failed), or the fn left changes it must not keep: run the
      // batch again without it.
      results_[i] = st.ok() ? failure() : std::move(st);
      excluded_[i] = true;
      return Pass::kRerun;
    }
    results_[i] = std::move(st);
  }
  // The waiting rows, the sequence row and COMMIT, in one round trip.
  const auto start = std::chrono::steady_clock::now();
  Status committed = tx.commit();
  if (commit_seconds_) {
    commit_seconds_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (!committed.ok()) {
    if (!conn.ok()) {
      // The COMMIT may or may not have been applied: nobody can say which, so nobody is told it was.
      lost(writer_slot_, Role::kWriter, "COMMIT", committed.error().detail);
      fail_all(Error::unavailable("database unreachable: the write's outcome is unknown"));
      return Pass::kDone;
    }
    if (!tx.unbatch().empty()) return unbatch(tx);
    const std::string& state = tx.failure_sqlstate();
    if ((state == "40P01" || state == "40001") && may_retry) return Pass::kRetry;
    return abort_batch(committed.error());
  }
  outage_.committed();
  if (tx.feed_max() > 0) {
    tx.feed_apps_dedup();
    batch_head_ = tx.feed_max();
    batch_others_through_ = tx.sequence_start();
    batch_apps_ = std::move(tx.feed_apps());
  }
  return Pass::kDone;
}

PostgresStore::Pass PostgresStore::unbatch(const PgTx& tx) {
  // A plain insert met a taken key: run again checked, to learn which rows did not go in.
  if (tx.inserts() == PgTx::Inserts::kPlain && tx.failure_sqlstate() == "23505") return Pass::kCheck;
  for (size_t i : tx.unbatch()) unbatched_[i] = true;
  return Pass::kUnbatch;
}

// ---- Reads
// ---------------------------------------------------------------------------------------------------

void PostgresStore::submit_read(ReadFn fn, std::function<void()> done) {
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

void PostgresStore::reader_loop(Slot* slot) {
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
    run_read(*slot, op);
    if (op.done) op.done();
  }
}

void PostgresStore::run_read(Slot& slot, ReadOp& op) {
  constexpr std::string_view kBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
  bool in_tx = false;
  if (ready(slot, Role::kReader)) {
    auto begun = slot.conn->exec(kBegin);
    if (!begun.ok() && !slot.conn->ok()) {
      // Closed while idle (a server restarted): a new connection, at once.
      slot.conn.reset();
      if (ready(slot, Role::kReader, /*force=*/true)) begun = slot.conn->exec(kBegin);
    }
    in_tx = begun.ok();
    if (!begun.ok() && slot.conn && slot.conn->ok()) outage_.failed("BEGIN (a read)", begun.error().detail);
  }
  if (!slot.conn || !slot.conn->ok()) {
    if (slot.conn) lost(slot, Role::kReader, "a read", "connection lost");
    UnavailableTx tx(kUnreachable);
    try {
      op.fn(tx);
    } catch (...) {
    }
    return;
  }
  PgTx tx(*slot.conn);  // one per transaction: what it caches belongs to this snapshot only
  try {
    op.fn(tx);
  } catch (...) {
    // A read function has nowhere to report an exception; its done still runs so nobody waits forever.
  }
  if (in_tx) (void)slot.conn->exec("COMMIT");
  if (!slot.conn->ok())
    lost(slot, Role::kReader, "a read", tx.failed() ? tx.failure().detail : "connection lost");
}

// ---- The feed head
// -------------------------------------------------------------------------------------------

void PostgresStore::advance_feed(int64_t head, std::vector<std::string> apps, int64_t others_through,
                                 PgConnection* conn) {
  std::lock_guard lk(feed_mu_);
  const int64_t current = feed_head_.load(std::memory_order_relaxed);
  if (head <= current) return;
  const bool from_others = others_through > current;
  if (from_others && conn) {
    // Other nodes' messages between the head this node knew and this batch's first position.
    auto others = conn->exec(
        "SELECT DISTINCT app_id FROM messages WHERE position > $1::bigint AND position <= $2::bigint",
        Params().int64(current).int64(others_through));
    if (others.ok()) {
      for (int i = 0; i < others->rows(); ++i) apps.emplace_back(others->text(i, 0));
      std::sort(apps.begin(), apps.end());
      apps.erase(std::unique(apps.begin(), apps.end()), apps.end());
    }
  }
  feed_head_.store(head, std::memory_order_release);
  if (feed_listener_) feed_listener_(FeedAdvance{head, std::move(apps), from_others});
}

void PostgresStore::set_change_listener(std::function<void(std::string_view topic)> listener) {
  std::lock_guard lock(listener_mu_);
  change_listener_ = std::move(listener);
}

void PostgresStore::tell_change(std::string_view topic) {
  std::lock_guard lock(listener_mu_);
  if (change_listener_) change_listener_(topic);
}

void PostgresStore::publish_change(std::string_view topic) { send_change(topic, /*versioned=*/true); }

void PostgresStore::announce(std::string_view topic) {
  if (options_.listen) send_change(topic, /*versioned=*/false);  // nobody could hear it otherwise
}

void PostgresStore::send_change(std::string_view topic, bool versioned) {
  {
    std::lock_guard lock(changes_mu_);
    auto same = [&](const auto& c) { return c.first == topic; };
    if (auto it = std::find_if(changes_to_send_.begin(), changes_to_send_.end(), same);
        it != changes_to_send_.end()) {
      it->second = it->second || versioned;
      return;
    }
    changes_to_send_.emplace_back(topic, versioned);
  }
  wake_watcher();
}

void PostgresStore::wake_watcher() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
}

void PostgresStore::watcher_loop() {
  name_thread("store-feed");
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  Slot slot;
  const auto interval = std::max(options_.feed_poll_interval, milliseconds(10));
  auto next_poll = Clock::now();
  auto next_notify = Clock::now();
  bool listening = false;
  bool others_wrote = false;  // a notification from another node, not yet looked at
  std::unordered_map<std::string, int64_t> change_versions;  // hookwire_changes as last read or raised here
  bool versions_read = false;
  // Takes what notifications the connection has received (also those read while a statement ran).
  auto take_notifications = [&]() -> bool {
    auto got = slot.conn->notifications();
    if (!got.ok()) {
      lost(slot, Role::kWatcher, "LISTEN", got.error().detail);
      return false;
    }
    const int self = slot.conn->backend_pid();
    for (const auto& n : *got) {
      if (n.backend_pid == self) continue;
      if (n.channel == kChangesChannel) {
        tell_change(n.payload);
      } else {
        others_wrote = true;
      }
    }
    return true;
  };
  while (!watcher_closed_.load(std::memory_order_acquire)) {
    if (!slot.conn || !slot.conn->ok()) {
      listening = false;
      if (ready(slot, Role::kWatcher) && options_.listen) {
        auto listen =
            slot.conn->exec_script(fmt::format("LISTEN {}; LISTEN {}", kFeedChannel, kChangesChannel));
        listening = listen.ok();
        if (!listening) outage_.failed("LISTEN", listen.error().detail);
        next_poll = Clock::now();  // what was missed while it was away
        // Changes other nodes announced while this one was not listening are lost: everything is stale.
        if (listening) tell_change("*");
      }
    }
    auto now = Clock::now();
    auto until = others_wrote ? now : next_poll;
    if (!slot.conn) until = std::min(until, now + kReconnectEvery);
    if (listening && notify_wanted_.load(std::memory_order_acquire)) until = std::min(until, next_notify);
    const auto wait = std::chrono::duration_cast<milliseconds>(until - now).count();
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listening ? slot.conn->socket() : -1, POLLIN, 0}};
    (void)::poll(fds, 2, static_cast<int>(std::max<int64_t>(0, wait)));
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      (void)::read(wake_fd_, &count, sizeof count);
    }
    if (watcher_closed_.load(std::memory_order_acquire)) break;
    if (!slot.conn) continue;
    if (listening && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) && !take_notifications()) continue;
    now = Clock::now();
    if (listening && now >= next_notify && notify_wanted_.exchange(false, std::memory_order_acq_rel) &&
        live_nodes() > 1) {
      // This node committed messages: tell the others, at most every kNotifyEvery (one NOTIFY covers every
      // commit before it). Its own transaction, after the writer's COMMIT: never inside a write transaction,
      // where the notification queue's lock would serialize commits. Not when no other node is alive: each
      // NOTIFY is a commit the disk must flush, and a node that starts meanwhile finds the messages by its
      // poll until this one counts it (at its next poll).
      next_notify = now + kNotifyEvery;
      if (auto sent = slot.conn->exec(fmt::format("NOTIFY {}", kFeedChannel)); !sent.ok() && slot.conn->ok())
        outage_.failed("NOTIFY", sent.error().detail);
    }
    std::vector<std::pair<std::string, bool>> changes;
    {
      std::lock_guard lock(changes_mu_);
      changes.swap(changes_to_send_);
    }
    for (const auto& [topic, versioned] : changes) {
      // The topic's version first (what every node's poll reads), then the NOTIFY (what tells them at once);
      // an announcement is the NOTIFY alone.
      if (versioned) {
        auto raised = slot.conn->exec(
            "INSERT INTO hookwire_changes AS c (topic, version) VALUES ($1, 1) ON CONFLICT (topic) DO UPDATE "
            "SET version = c.version + 1 RETURNING version",
            {topic});
        if (raised.ok() && raised->rows() == 1) {
          // This node's own change is not told to its listener; but a version that skipped some says other
          // nodes raised it since the last poll, which this node has not heard of yet.
          const int64_t version = raised->int64(0, 0);
          auto known = change_versions.find(topic);
          const int64_t expected = known == change_versions.end() ? 1 : known->second + 1;
          if (version != expected && versions_read) tell_change(topic);
          change_versions[topic] = version;
        } else if (!raised.ok() && slot.conn->ok()) {
          outage_.failed("recording a change", raised.error().detail);
        }
      }
      if (!listening) continue;
      auto sent = slot.conn->exec("SELECT pg_notify($1, $2)", {std::string(kChangesChannel), topic});
      if (!sent.ok() && slot.conn->ok()) outage_.failed("NOTIFY", sent.error().detail);
    }
    if (now >= next_poll && slot.conn->ok()) {
      // This node is alive; count those that are (the database's clock for all of them).
      const auto live_for = std::max<int64_t>(std::chrono::duration_cast<milliseconds>(kNodeLiveFor).count(),
                                              3 * interval.count());
      auto seen = slot.conn->exec(
          "WITH seen AS (INSERT INTO hookwire_nodes (id, seen_at) VALUES ($1, now()) ON CONFLICT (id) DO "
          "UPDATE "
          "SET seen_at = now()) SELECT count(*) FROM hookwire_nodes WHERE id <> $1 AND seen_at > now() - "
          "make_interval(secs => $2::bigint / 1000.0)",
          {node_id_, std::to_string(live_for)});
      if (seen.ok()) {
        live_nodes_.store(1 + static_cast<int>(seen->int64(0, 0)), std::memory_order_relaxed);
      } else if (slot.conn->ok()) {
        spdlog::debug("store: cannot mark this node alive: {}", seen.error().detail);
      }
    }
    if (now >= next_poll || others_wrote) {
      others_wrote = false;
      next_poll = Clock::now() + interval;
      auto head = slot.conn->exec("SELECT head FROM feed_sequence WHERE id = 0");
      if (head.ok() && head->rows() == 1) {
        const int64_t h = head->int64(0, 0);
        if (h > feed_head()) advance_feed(h, {}, h, slot.conn.get());
      }
      // Changes another node recorded since the last poll (NOTIFY may have told them already: told twice is
      // harmless). The first read learns the versions and tells "*": what was cached before it may be stale.
      auto versions = slot.conn->exec("SELECT topic, version FROM hookwire_changes");
      if (versions.ok()) {
        for (int i = 0; i < versions->rows(); ++i) {
          const std::string topic(versions->text(i, 0));
          const int64_t version = versions->int64(i, 1);
          auto [it, added] = change_versions.try_emplace(topic, version);
          if (it->second == version) {
            if (added && versions_read) tell_change(topic);  // a topic first raised since the last poll
            continue;
          }
          it->second = version;
          if (versions_read) tell_change(topic);
        }
        if (!versions_read) tell_change("*");
        versions_read = true;
      }
    }
    if (slot.conn->ok() && listening && !take_notifications()) continue;
    if (slot.conn && !slot.conn->ok())
      lost(slot, Role::kWatcher, "the feed watcher's connection", "connection lost");
  }
  // Leaving: the other nodes count one less at their next poll rather than after kNodeLiveFor.
  if (slot.conn && slot.conn->ok())
    (void)slot.conn->exec("DELETE FROM hookwire_nodes WHERE id = $1", {node_id_});
}

}  // namespace postgres
}  // namespace hookwire::store
