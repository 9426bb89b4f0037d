// FeedHub: wakes the readers that wait for new messages (long-poll `wait=`, server-sent event streams).
//
// The store tells the hub when messages become durable (Store::set_feed_listener -> advance()), with the
// applications they belong to. A reader that found nothing new after reading up to head `seen` calls
// wait(app, seen, timeout): it returns kAdvanced at once if a message of the application became durable past
// `seen` meanwhile (no wake-up is lost between the read and the wait), else when one does, kTimeout when the
// timeout passes first, kStopped when the hub stops (shutdown: every held reader answers at once). A wake-up
// is per application, not per sink: the reader reads again and, if its sink's filter matched nothing, waits
// again for the time left.
//
// Thread-safety: advance() and stop() from any thread (advance() from the store's); wait() from a coroutine
// on any executor, where it resumes.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.h"

namespace hookwire::feed {

class FeedHub {
 public:
  enum class Wake { kAdvanced, kTimeout, kStopped };

  void advance(const store::Store::FeedAdvance& advance);
  boost::asio::awaitable<Wake> wait(std::string app_id, int64_t seen, std::chrono::milliseconds timeout);
  void stop();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Readers waiting now (a gauge for metrics and tests).
  size_t waiting() const;

 private:
  struct Waiter;
  mutable std::mutex mu_;
  // The newest head that covered a message of each application (applications with a message since start).
  std::unordered_map<std::string, int64_t> app_heads_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> waiters_;  // by application
  size_t waiting_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace hookwire::feed
