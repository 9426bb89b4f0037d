#include "delivery/due_rules.h"

namespace hookwire::delivery {

DueVerdict judge(const store::Claim& claim) {
  if (!claim.message) return {false, "its message was deleted"};
  // Created messages always have a payload (a JSON object): an empty one was expunged.
  if (claim.message->payload.empty()) return {false, "its payload was expunged"};
  if (!claim.endpoint) return {false, "its endpoint was deleted"};
  if (claim.endpoint->disabled) return {false, "its endpoint is disabled"};
  if (claim.endpoint->pull_only) return {false, "its endpoint is pull-only"};
  return {true, {}};
}

}  // namespace hookwire::delivery
