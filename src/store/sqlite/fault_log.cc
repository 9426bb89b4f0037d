#include "store/sqlite/fault_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace hookwire::store {

FaultLog::Kind FaultLog::classify(int sqlite_code) {
  switch (sqlite_code & 0xff) {
    case SQLITE_FULL:
      return Kind::kFull;
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return Kind::kStorage;
    default:
      return Kind::kOther;
  }
}

void FaultLog::failed(Kind kind, std::string_view what, std::string_view detail) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(mu_);
  if (kind == Kind::kOther) {
    if (other_at_ != std::chrono::steady_clock::time_point{} && now - other_at_ < std::chrono::seconds(10)) {
      ++other_unlogged_;
      return;
    }
    spdlog::error("store: {}: {} (database {}{})", what, detail, path_,
                  other_unlogged_
                      ? fmt::format("; {} more store errors not logged in the last seconds", other_unlogged_)
                      : std::string());
    other_at_ = now;
    other_unlogged_ = 0;
    return;
  }
  if (in_episode_.load(std::memory_order_relaxed)) {
    ++failures_;
    if (kind == Kind::kFull) kind_ = Kind::kFull;  // the more useful reason to report
    return;
  }
  kind_ = kind;
  failures_ = 1;
  since_ = now;
  in_episode_.store(true, std::memory_order_release);
  if (kind == Kind::kFull) {
    spdlog::error(
        "store: storage full: {} failed: {} (database {}); writes are refused with 503 until space is "
        "freed",
        what, detail, path_);
  } else {
    spdlog::error("store: storage error: {} failed: {} (database {}); requests that need it answer 503", what,
                  detail, path_);
  }
}

void FaultLog::flush_failed(std::string_view detail) {
  flush_failed_.store(true, std::memory_order_release);
  spdlog::critical(
      "store: {}; nothing more is acknowledged (the kernel may have dropped unflushed data): "
      "restart hookwire once the disk is fixed",
      detail);
}

void FaultLog::write_committed() {
  if (!in_episode_.load(std::memory_order_acquire)) return;
  std::lock_guard lk(mu_);
  if (!in_episode_.load(std::memory_order_relaxed)) return;
  in_episode_.store(false, std::memory_order_release);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
  spdlog::info("store: writes succeed again (database {}): {} failed over {:.1f} s", path_, failures_,
               seconds);
}

std::optional<std::string> FaultLog::problem() const {
  if (flush_failed_.load(std::memory_order_acquire)) return "storage error";
  if (!in_episode_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lk(mu_);
  if (!in_episode_.load(std::memory_order_relaxed)) return std::nullopt;
  return kind_ == Kind::kFull ? "storage full" : "storage error";
}

}  // namespace hookwire::store
