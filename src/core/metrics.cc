#include "core/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace hookwire::metrics {
namespace {
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}=\"{}\"", k, escape(v));
  }
  return out;
}

std::string with_label(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return "{" + rendered + "," + extra + "}";
}

std::string braces(const std::string& rendered) { return rendered.empty() ? "" : "{" + rendered + "}"; }

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.inc(v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = acc += buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Family& Registry::family(const std::string& name, const std::string& help, const char* type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  const auto key = render_labels(labels);
  {
    std::shared_lock lock(mu_);
    if (auto it = families_.find(name); it != families_.end())
      if (auto s = it->second.counters.find(key); s != it->second.counters.end()) return *s->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = family(name, help, "counter").counters[key];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  const auto key = render_labels(labels);
  {
    std::shared_lock lock(mu_);
    if (auto it = families_.find(name); it != families_.end())
      if (auto s = it->second.gauges.find(key); s != it->second.gauges.end()) return *s->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = family(name, help, "gauge").gauges[key];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& bounds, const Labels& labels) {
  const auto key = render_labels(labels);
  {
    std::shared_lock lock(mu_);
    if (auto it = families_.find(name); it != families_.end())
      if (auto s = it->second.histograms.find(key); s != it->second.histograms.end()) return *s->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = family(name, help, "histogram").histograms[key];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

double Registry::counter_sum(const std::string& name, const Labels& match) const {
  std::shared_lock lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  std::vector<std::string> wanted;
  for (const auto& pair : match) wanted.push_back(render_labels({pair}));
  double sum = 0;
  for (const auto& [key, c] : it->second.counters) {
    // A pair matches as a whole label: at the start or after a ',', and up to the end or a ','.
    bool all = true;
    for (const auto& w : wanted) {
      bool found = false;
      for (size_t at = key.find(w); at != std::string::npos; at = key.find(w, at + 1)) {
        const size_t end = at + w.size();
        if ((at == 0 || key[at - 1] == ',') && (end == key.size() || key[end] == ',')) {
          found = true;
          break;
        }
      }
      all = all && found;
    }
    if (all) sum += c->value();
  }
  return sum;
}

std::optional<double> Registry::gauge_value(const std::string& name, const Labels& labels) const {
  std::shared_lock lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return std::nullopt;
  auto g = it->second.gauges.find(render_labels(labels));
  if (g == it->second.gauges.end()) return std::nullopt;
  return g->second->value();
}

std::string Registry::render() const {
  std::shared_lock lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [key, c] : f.counters)
      out += fmt::format("{}{} {}\n", name, braces(key), number(c->value()));
    for (const auto& [key, g] : f.gauges)
      out += fmt::format("{}{} {}\n", name, braces(key), number(g->value()));
    for (const auto& [key, h] : f.histograms) {
      const auto counts = h->cumulative_counts();
      for (size_t i = 0; i < counts.size(); ++i) {
        const double le = i < h->bounds().size() ? h->bounds()[i] : INFINITY;
        out += fmt::format("{}_bucket{} {}\n", name, with_label(key, "le=\"" + number(le) + "\""), counts[i]);
      }
      out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces(key), number(h->sum()), name,
                         braces(key), h->count());
    }
  }
  return out;
}

}  // namespace hookwire::metrics
