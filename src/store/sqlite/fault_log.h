// FaultLog: what the SQLite store tells the operator about failures of its storage, and what it knows of
// their state (Store::problem()). Internal to the SQLite store.
//
// SQLite's own text never reaches an API client: Connection::error() gives a plain Error (kUnavailable
// "storage full" or "storage error", kInternal otherwise) and hands the detail here. A storage failure (disk
// full; an I/O error, a corrupt page, a file that cannot be opened) opens an episode: its first failure is
// logged at error level with the detail, the rest only counted; the next write that commits pages ends it,
// logged at info level with the count. Other failures (a misused statement, an unexpected constraint) are
// logged at most once every 10 s, with how many were not. A failed flush to disk is final (nothing is
// acknowledged after it; see SqliteStore::syncer_loop): it stays the problem until a restart. SQLite's
// messages name tables and columns, never values: no payload reaches the log.
//
// Thread-safe; write_committed() (the writer's hot path) costs one atomic load outside an episode.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hookwire::store {

class FaultLog {
 public:
  enum class Kind { kFull, kStorage, kOther };
  // `sqlite_code`: an extended SQLite result code.
  static Kind classify(int sqlite_code);

  explicit FaultLog(std::string path) : path_(std::move(path)) {}

  // A failure while doing `what`, with SQLite's (or the system's) message.
  void failed(Kind kind, std::string_view what, std::string_view detail);
  void failed(int sqlite_code, std::string_view what, std::string_view detail) {
    failed(classify(sqlite_code), what, detail);
  }
  // A flush of the WAL failed: final.
  void flush_failed(std::string_view detail);
  // A write transaction committed pages: ends an open episode.
  void write_committed();
  // nullopt, "storage full" or "storage error".
  std::optional<std::string> problem() const;

 private:
  const std::string path_;
  std::atomic<bool> in_episode_{false};
  std::atomic<bool> flush_failed_{false};
  mutable std::mutex mu_;
  Kind kind_ = Kind::kStorage;                        // guarded by mu_: the open episode's
  int64_t failures_ = 0;                              // guarded by mu_: in the open episode
  std::chrono::steady_clock::time_point since_{};     // guarded by mu_: when the open episode began
  std::chrono::steady_clock::time_point other_at_{};  // guarded by mu_: the last kOther line
  int64_t other_unlogged_ = 0;                        // guarded by mu_: kOther failures since it
};

}  // namespace hookwire::store
