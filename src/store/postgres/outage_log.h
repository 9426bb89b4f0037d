// OutageLog: what the PostgreSQL store tells the operator about failures of its database, and what it knows
// of their state (Store::problem()). Internal to the PostgreSQL store.
//
// A database that cannot be reached (a connection refused or lost, a server shutting down or refusing work)
// opens an episode: its first failure is logged at error level with the detail, the rest only counted; the
// next batch that commits ends it, logged at info level with the count and how long it lasted. Other
// failures (a statement's error) are logged at most once every 10 s, with how many were not. The server is
// named as "host:port/dbname": never the user or a password.
//
// Thread-safe; committed() (the writer's path) costs one atomic load outside an episode.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hookwire::store::postgres {

class OutageLog {
 public:
  explicit OutageLog(std::string server) : server_(std::move(server)) {}

  void unreachable(std::string_view what, std::string_view detail);
  void failed(std::string_view what, std::string_view detail);
  void committed();
  // "database unreachable" during an episode, else nullopt.
  std::optional<std::string> problem() const;

 private:
  const std::string server_;
  std::atomic<bool> in_episode_{false};
  mutable std::mutex mu_;
  int64_t failures_ = 0;                              // guarded by mu_: in the open episode
  std::chrono::steady_clock::time_point since_{};     // guarded by mu_: when the open episode began
  std::chrono::steady_clock::time_point other_at_{};  // guarded by mu_: the last other failure logged
  int64_t other_unlogged_ = 0;                        // guarded by mu_: other failures since it
};

}  // namespace hookwire::store::postgres
