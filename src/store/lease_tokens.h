// LeaseTokens: the stores' own access to a LeaseToken's parts (delivery_queue.h). Included by backends only.
#pragma once

#include <string>

#include "store/delivery_queue.h"

namespace hookwire::store {

struct LeaseTokens {
  static LeaseToken make(std::string delivery_id, int64_t handle, int64_t fence) {
    LeaseToken t;
    t.delivery_id_ = std::move(delivery_id);
    t.handle_ = handle;
    t.fence_ = fence;
    return t;
  }
  static int64_t handle(const LeaseToken& t) { return t.handle_; }
  static int64_t fence(const LeaseToken& t) { return t.fence_; }
};

}  // namespace hookwire::store
