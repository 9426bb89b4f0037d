#include "api/router.h"

#include <array>
#include <cassert>
#include <cstdint>

namespace hookwire::api {
namespace {

constexpr size_t kMaxSegments = 32;

bool is_capture(std::string_view s) { return s.size() >= 2 && s.front() == '{' && s.back() == '}'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool valid_percent_encoding(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits "/a/b/c" into {"a","b","c"}; "/" is one empty segment. False if the path is not origin-form or has
// more than kMaxSegments segments.
bool split_path(std::string_view path, std::array<std::string_view, kMaxSegments>& out, size_t& n) {
  n = 0;
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  for (;;) {
    if (n == kMaxSegments) return false;
    const auto slash = path.find('/');
    out[n++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

uint64_t verb_bit(http::verb v) { return uint64_t{1} << (static_cast<unsigned>(v) & 63); }

}  // namespace

void Router::add(http::verb method, std::string pattern, Handler handler, Admission admission) {
  Route r;
  r.method = method;
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  r.admission = std::move(admission);
  std::array<std::string_view, kMaxSegments> segs;
  size_t n = 0;
  [[maybe_unused]] const bool ok = split_path(r.pattern, segs, n);
  assert(ok && "route pattern must start with '/' and have at most 32 segments");
  for (size_t i = 0; i < n; ++i) {
    r.segments.emplace_back(segs[i]);
    if (!is_capture(segs[i])) ++r.literals;
  }
  routes_.push_back(std::move(r));
  // A request is compared only with the patterns of its own length.
  if (by_length_.size() <= n) by_length_.resize(n + 1);
  by_length_[n].push_back(routes_.size() - 1);
}

Router::Match Router::match(http::verb method, std::string_view target) const {
  Match m;
  const auto path = target.substr(0, target.find_first_of("?#"));
  std::array<std::string_view, kMaxSegments> segs;
  size_t n = 0;
  if (!split_path(path, segs, n)) return m;

  // Ranking: more literal segments first; on a tie, the pattern whose first literal comes earlier; then the
  // exact method over the HEAD->GET fallback; then the route added first.
  struct Rank {
    int literals = -1;
    uint32_t literal_mask = 0;
    bool operator>(const Rank& o) const {
      return literals != o.literals ? literals > o.literals : literal_mask > o.literal_mask;
    }
  };
  const Route* best_path = nullptr;  // best route whose path matches, whatever its method
  Rank best_path_rank;
  const Route* best = nullptr;  // best route matching path and method
  Rank best_rank;
  bool best_exact = false;
  uint64_t allowed = 0;

  static const std::vector<size_t> kNone;
  for (const size_t index : n < by_length_.size() ? by_length_[n] : kNone) {
    const Route& r = routes_[index];
    Rank rank{r.literals, 0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) {
      const auto& p = r.segments[i];
      if (is_capture(p)) {
        ok = !segs[i].empty() && valid_percent_encoding(segs[i]);
      } else {
        ok = p == segs[i];
        rank.literal_mask |= uint32_t{1} << (kMaxSegments - 1 - i);
      }
    }
    if (!ok) continue;
    allowed |= verb_bit(r.method);
    if (!best_path || rank > best_path_rank) {
      best_path = &r;
      best_path_rank = rank;
    }
    const bool exact = r.method == method;
    const bool fallback = method == http::verb::head && r.method == http::verb::get;
    if (!exact && !fallback) continue;
    if (!best || rank > best_rank || (!(best_rank > rank) && exact && !best_exact)) {
      best = &r;
      best_rank = rank;
      best_exact = exact;
    }
  }
  if (!best_path) return m;
  if (!best) {
    m.route = best_path->pattern;
    if (allowed & verb_bit(http::verb::get)) allowed |= verb_bit(http::verb::head);
    for (unsigned v = 0; v < 64; ++v)
      if (allowed & (uint64_t{1} << v)) m.allowed.push_back(static_cast<http::verb>(v));
    return m;
  }
  m.handler = &best->handler;
  m.admission = &best->admission;
  m.route = best->pattern;
  for (size_t i = 0; i < n; ++i) {
    const auto& p = best->segments[i];
    if (is_capture(p)) m.params.add(std::string(p.substr(1, p.size() - 2)), percent_decode(segs[i]));
  }
  return m;
}

}  // namespace hookwire::api
