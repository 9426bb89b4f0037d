#include "feed/hub.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hookwire::feed {

namespace asio = boost::asio;

namespace {
constexpr int kWaiting = -1;
}  // namespace

// One held reader: its timer lives on the reader's executor; a wake-up from another thread sets `wake` under
// the hub's mutex, then posts the timer's cancel to that executor (a timer is not safe to touch from two
// threads).
struct FeedHub::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  int wake = kWaiting;  // guarded by the hub's mu_ once registered
};

void FeedHub::advance(const store::Store::FeedAdvance& advance) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    for (const auto& app : advance.app_ids) {
      auto& head = app_heads_[app];
      head = std::max(head, advance.head);
      auto it = waiters_.find(app);
      if (it == waiters_.end()) continue;
      for (auto& w : it->second) {
        w->wake = static_cast<int>(Wake::kAdvanced);
        woken.push_back(std::move(w));
      }
      waiting_ -= it->second.size();
      waiters_.erase(it);
    }
  }
  for (auto& w : woken) asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

void FeedHub::stop() {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    stopped_.store(true, std::memory_order_release);
    for (auto& [app, list] : waiters_)
      for (auto& w : list) {
        w->wake = static_cast<int>(Wake::kStopped);
        woken.push_back(std::move(w));
      }
    waiters_.clear();
    waiting_ = 0;
  }
  for (auto& w : woken) asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

size_t FeedHub::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

asio::awaitable<FeedHub::Wake> FeedHub::wait(std::string app_id, int64_t seen,
                                             std::chrono::milliseconds timeout) {
  auto w = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  w->timer.expires_after(timeout);
  {
    std::lock_guard lock(mu_);
    if (stopped_.load(std::memory_order_relaxed)) {
      w->wake = static_cast<int>(Wake::kStopped);
    } else if (auto it = app_heads_.find(app_id); it != app_heads_.end() && it->second > seen) {
      w->wake = static_cast<int>(Wake::kAdvanced);
    } else {
      waiters_[app_id].push_back(w);
      ++waiting_;
    }
  }
  // A wake-up posts its cancel to this executor, so it runs only once this coroutine is suspended in the
  // wait below (the server's executors each run on one thread).
  {
    std::lock_guard lock(mu_);
    if (w->wake != kWaiting) co_return static_cast<Wake>(w->wake);
  }
  boost::system::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::lock_guard lock(mu_);
  if (w->wake != kWaiting) co_return static_cast<Wake>(w->wake);
  // Timed out (or the coroutine's own cancellation): leave the list.
  if (auto it = waiters_.find(app_id); it != waiters_.end()) {
    auto& list = it->second;
    if (auto pos = std::find(list.begin(), list.end(), w); pos != list.end()) {
      list.erase(pos);
      --waiting_;
    }
    if (list.empty()) waiters_.erase(it);
  }
  co_return Wake::kTimeout;
}

}  // namespace hookwire::feed
