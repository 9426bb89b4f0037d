// The SQL both stores use for the message list's status filter (MessageQuery::status): one condition, written
// in the SQL that SQLite and PostgreSQL share, so the two backends cannot drift apart.
#pragma once

#include <fmt/format.h>

#include <string>

#include "store/model.h"

namespace hookwire::store {

// The condition a row of `messages` meets when one of its deliveries, the latest of its (message, endpoint)
// pair, has reported status `status` (reported_status() in model.h).
inline std::string delivery_status_condition(int status) {
  const char* cond = status == Delivery::kSuccess   ? "d.status = 0"
                     : status == Delivery::kFailed  ? "d.status = 2"
                     : status == Delivery::kPending ? "d.status IN (1, 3) AND d.attempts = 0"
                                                    : "d.status IN (1, 3) AND d.attempts > 0";
  return fmt::format(
      "EXISTS (SELECT 1 FROM deliveries d WHERE d.app_id = messages.app_id AND d.msg_id = messages.id AND {} "
      "AND NOT EXISTS (SELECT 1 FROM deliveries d2 WHERE d2.app_id = d.app_id AND d2.endpoint_id = "
      "d.endpoint_id AND d2.msg_id = d.msg_id AND d2.id > d.id))",
      cond);
}

}  // namespace hookwire::store
