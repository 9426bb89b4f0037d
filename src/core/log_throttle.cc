#include "core/log_throttle.h"

#include <utility>

namespace hookwire {

LogThrottle::Verdict LogThrottle::admit(std::string_view key_text) {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  std::string key(key_text);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_keys) {
      std::erase_if(entries_, [&](const auto& kv) {
        return kv.second.suppressed == 0 && now - kv.second.window_start >= options_.window;
      });
      if (entries_.size() >= options_.max_keys) key.clear();  // the overflow key
    }
    it = entries_.try_emplace(std::move(key), Entry{now, 0, 0}).first;
  }
  Entry& e = it->second;
  if (now - e.window_start >= options_.window) {
    e.window_start = now;
    e.written = 0;
  }
  if (e.written >= options_.lines_per_window) {
    ++e.suppressed;
    return {};
  }
  ++e.written;
  return {true, std::exchange(e.suppressed, 0)};
}

size_t LogThrottle::keys() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace hookwire
