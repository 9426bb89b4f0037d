// The delivery queue's gauges, measured when they are scraped (so exactly as fresh as the scrape, at a cost
// that does not grow with the queue: DeliveryQueue::stats reads counters, the due index's first entry and a
// due count that stops at store::kDueCountLimit).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "store/delivery_queue.h"

namespace hookwire::delivery {

// Sets delivery_queue_depth{state}, delivery_due and delivery_lag_seconds; on a store error they keep their
// last values.
boost::asio::awaitable<void> refresh_queue_gauges(store::DeliveryQueue& queue, TimePoint now,
                                                  metrics::Registry& m);

}  // namespace hookwire::delivery
