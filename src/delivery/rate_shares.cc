#include "delivery/rate_shares.h"

#include <algorithm>

namespace hookwire::delivery {
namespace {

constexpr std::string_view kPrefix = "rate_";

}  // namespace

RateShares::RateShares(Options options, TimePoint now)
    : options_(std::move(options)), unsure_until_(now + options_.expire_after) {}

std::string RateShares::topic(std::string_view node, std::string_view endpoint, bool working) {
  std::string t;
  t.reserve(kPrefix.size() + node.size() + endpoint.size() + 3);
  t.append(kPrefix).append(node).append(working ? "_1_" : "_0_").append(endpoint);
  return t;
}

bool RateShares::is_topic(std::string_view topic) { return topic.starts_with(kPrefix); }

std::optional<std::string> RateShares::hold(std::string_view endpoint, TimePoint now, bool* started) {
  if (started) *started = false;
  auto it = mine_.find(endpoint);
  if (it == mine_.end()) {
    mine_.emplace(std::string(endpoint), Mine{now, now});
    if (started) *started = true;
    return topic(options_.node, endpoint, true);
  }
  it->second.last_held = now;
  if (now - it->second.announced < options_.announce_every) return std::nullopt;
  it->second.announced = now;
  return topic(options_.node, endpoint, true);
}

int RateShares::sharers(std::string_view endpoint, int live, TimePoint now) const {
  int n = 1;
  if (auto it = others_.find(endpoint); it != others_.end())
    for (const auto& [node, until] : it->second)
      if (until > now) ++n;
  if (now < unsure_until_) n = std::max(n, live);
  return n;
}

void RateShares::heard(std::string_view topic, TimePoint now) {
  if (topic == "*") {
    unsure_until_ = std::max(unsure_until_, now + options_.expire_after);
    return;
  }
  if (!is_topic(topic)) return;
  // rate_<node>_<1|0>_<endpoint>
  std::string_view rest = topic.substr(kPrefix.size());
  const size_t sep = rest.find('_');
  if (sep == std::string_view::npos || sep == 0 || rest.size() < sep + 4 || rest[sep + 2] != '_') return;
  const std::string_view node = rest.substr(0, sep);
  const char flag = rest[sep + 1];
  const std::string_view endpoint = rest.substr(sep + 3);
  if (node == options_.node || (flag != '0' && flag != '1')) return;
  if (flag == '1') {
    auto it = others_.find(endpoint);
    if (it == others_.end())
      it = others_.emplace(std::string(endpoint), decltype(others_)::mapped_type{}).first;
    auto& until = it->second[std::string(node)];
    until = std::max(until, now + options_.expire_after);
    return;
  }
  if (auto it = others_.find(endpoint); it != others_.end()) {
    if (auto n = it->second.find(node); n != it->second.end()) it->second.erase(n);
    if (it->second.empty()) others_.erase(it);
  }
}

std::vector<std::string> RateShares::tick(TimePoint now,
                                          const std::function<bool(std::string_view endpoint)>& holds) {
  std::vector<std::string> out;
  for (auto it = mine_.begin(); it != mine_.end();) {
    Mine& m = it->second;
    if (holds(it->first)) m.last_held = now;
    if (now - m.last_held >= options_.hold_down) {
      out.push_back(topic(options_.node, it->first, false));
      it = mine_.erase(it);
      continue;
    }
    if (now - m.announced >= options_.announce_every) {
      m.announced = now;
      out.push_back(topic(options_.node, it->first, true));
    }
    ++it;
  }
  for (auto it = others_.begin(); it != others_.end();) {
    std::erase_if(it->second, [now](const auto& kv) { return kv.second <= now; });
    it = it->second.empty() ? others_.erase(it) : std::next(it);
  }
  return out;
}

}  // namespace hookwire::delivery
