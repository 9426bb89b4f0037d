// RateShares: between how many nodes an endpoint's rateLimit is divided when several nodes deliver from one
// store. Each node keeps its own token bucket per endpoint (rate_limiter.h); the limit is divided between the
// nodes that have work for the endpoint (a delivery waiting or in flight), not between every live node, so a
// node with nothing to send to an endpoint leaves its share to those that have.
//
// Nodes learn of each other's work through announcements (Store::announce, one topic per node and
// endpoint, topic()): a node announces an endpoint when it starts having work for it, again every
// `announce_every` while it has, and once more, as stopped, when it has had none for `hold_down`. An
// announcement not renewed within `expire_after` is forgotten (a node that died). While this node may have
// missed announcements (for `expire_after` after it starts and after the store says some were lost: "*"), it
// counts every live node instead, as if each had work.
//
// Pure logic: time is passed in, nothing is published here (the caller publishes what the calls return). Not
// thread-safe (the dispatcher's thread).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace hookwire::delivery {

class RateShares {
 public:
  struct Options {
    std::string node;  // this node's id: letters and digits, unique among the nodes
    std::chrono::milliseconds announce_every{1000};
    std::chrono::milliseconds hold_down{1000};
    std::chrono::milliseconds expire_after{3000};
  };

  // Until `now` + expire_after, what the other nodes have is unknown.
  RateShares(Options options, TimePoint now);

  // This node has work for `endpoint` at `now`. Returns the announcement to publish, if one is due: when it
  // had none before (`*started` is then set: the other nodes did not count it until now), or when the last
  // was announce_every ago.
  std::optional<std::string> hold(std::string_view endpoint, TimePoint now, bool* started = nullptr);

  // How many nodes share `endpoint`'s limit at `now`: this one and the others announced to have work for it;
  // at least `live` (the live nodes) while announcements may have been missed.
  int sharers(std::string_view endpoint, int live, TimePoint now) const;

  // An announcement another node published (other topics are ignored), or "*": some may have been missed.
  void heard(std::string_view topic, TimePoint now);

  // To call at least every announce_every: renews the announcements of the endpoints this node still has work
  // for (`holds(endpoint)`), announces as stopped those it has had none for during hold_down, and forgets the
  // other nodes' announcements that expired. Returns the announcements to publish.
  std::vector<std::string> tick(TimePoint now, const std::function<bool(std::string_view endpoint)>& holds);

  // The endpoints this node is announced to have work for.
  size_t holding() const { return mine_.size(); }

  // The announcement of `node` having work for `endpoint` (or having stopped): `rate_<node>_<1|0>_<endpoint>`
  // (a topic of letters, digits and '_', as Store::announce wants).
  static std::string topic(std::string_view node, std::string_view endpoint, bool working);
  static bool is_topic(std::string_view topic);

 private:
  struct Mine {
    TimePoint last_held;
    TimePoint announced;
  };
  const Options options_;
  std::map<std::string, Mine, std::less<>> mine_;  // by endpoint
  // By endpoint, then node: until when its announcement holds.
  std::map<std::string, std::map<std::string, TimePoint, std::less<>>, std::less<>> others_;
  TimePoint unsure_until_;
};

}  // namespace hookwire::delivery
