#include "core/metrics.h"

#include <gtest/gtest.h>

namespace hookwire::metrics {
namespace {

TEST(Metrics, RendersCountersAndHistogramsInPrometheusText) {
  Registry r;
  r.counter("http_requests_total", "Requests.", {{"route", "/a"}, {"status", "200"}}).inc();
  r.counter("http_requests_total", "Requests.", {{"route", "/a"}, {"status", "200"}}).inc(2);
  auto& h = r.histogram("lat_seconds", "Latency.", {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const auto text = r.render();
  EXPECT_NE(text.find("# TYPE http_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("http_requests_total{route=\"/a\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 3\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace hookwire::metrics
