#include "delivery/queue_metrics.h"

#include <fmt/format.h>

#include <string>

#include "store/async.h"

namespace hookwire::delivery {

boost::asio::awaitable<void> refresh_queue_gauges(store::DeliveryQueue& queue, TimePoint now,
                                                  metrics::Registry& m) {
  auto stats = co_await store::completion<store::DeliveryQueueStats>(
      [&queue, now](auto done) { queue.stats(now, std::move(done)); });
  if (!stats.ok()) co_return;  // the scrape still answers, with the last values
  const char* depth_help = "Live deliveries by state: pending (waiting for an attempt) or sending (leased).";
  m.gauge("delivery_queue_depth", depth_help, {{"state", "pending"}})
      .set(static_cast<double>(stats->pending));
  m.gauge("delivery_queue_depth", depth_help, {{"state", "sending"}})
      .set(static_cast<double>(stats->sending));
  static const std::string due_help =
      fmt::format("Deliveries due now and not yet being sent (including expired leases), counted up to {}.",
                  store::kDueCountLimit);
  m.gauge("delivery_due", due_help).set(static_cast<double>(stats->due));
  const double lag =
      stats->oldest_due ? std::chrono::duration<double>(now - *stats->oldest_due).count() : 0.0;
  m.gauge("delivery_lag_seconds", "How long the oldest due delivery has been waiting (0 when none is due).")
      .set(lag);
}

}  // namespace hookwire::delivery
