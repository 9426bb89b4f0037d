// Whether a claimed delivery is sent (Svix's rules, kept out of the stores' scans): one whose message was
// deleted or expunged has nothing left to send; one whose endpoint was deleted, disabled ("attempts to a
// disabled endpoint stop"; recover sends them once it is enabled) or made pull-only since has nowhere to be
// sent. Those are failed unsent: no attempt is logged, the attempt count and the endpoint's health are
// unchanged, no operational event is raised.
#pragma once

#include <string_view>

#include "store/delivery_queue.h"

namespace hookwire::delivery {

struct DueVerdict {
  bool send = true;
  std::string_view reason;  // why not (a static string), for the log
};

DueVerdict judge(const store::Claim& claim);

}  // namespace hookwire::delivery
