#include "store/postgres/outage_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hookwire::store::postgres {

void OutageLog::unreachable(std::string_view what, std::string_view detail) {
  std::lock_guard lk(mu_);
  if (in_episode_.load(std::memory_order_relaxed)) {
    ++failures_;
    return;
  }
  failures_ = 1;
  since_ = std::chrono::steady_clock::now();
  in_episode_.store(true, std::memory_order_release);
  spdlog::error(
      "store: database unreachable: {} failed: {} (PostgreSQL at {}); requests that need it answer 503 until "
      "it is back (reconnecting by itself)",
      what, detail, server_);
}

void OutageLog::failed(std::string_view what, std::string_view detail) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(mu_);
  if (other_at_ != std::chrono::steady_clock::time_point{} && now - other_at_ < std::chrono::seconds(10)) {
    ++other_unlogged_;
    return;
  }
  spdlog::error("store: {}: {} (PostgreSQL at {}{})", what, detail, server_,
                other_unlogged_
                    ? fmt::format("; {} more store errors not logged in the last seconds", other_unlogged_)
                    : std::string());
  other_at_ = now;
  other_unlogged_ = 0;
}

void OutageLog::committed() {
  if (!in_episode_.load(std::memory_order_acquire)) return;
  std::lock_guard lk(mu_);
  if (!in_episode_.load(std::memory_order_relaxed)) return;
  in_episode_.store(false, std::memory_order_release);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
  spdlog::info("store: the database is back (PostgreSQL at {}): {} failed over {:.1f} s", server_, failures_,
               seconds);
}

std::optional<std::string> OutageLog::problem() const {
  if (!in_episode_.load(std::memory_order_acquire)) return std::nullopt;
  return "database unreachable";
}

}  // namespace hookwire::store::postgres
