// Reading server-sent events in tests: the next event of a stream whose response head has been read.
#pragma once

#include <string>

#include "api/testing/http_test_client.h"

namespace hookwire::api::testing {

struct SseEvent {
  std::string id;
  std::string type;  // the `event:` field
  std::string data;  // `data:` lines joined with "\n"
};

// The next event, skipping comments (each counted in `heartbeats` when given).
inline SseEvent next_event(TestClient& c, int* heartbeats = nullptr) {
  for (;;) {
    const std::string block = c.read_until("\n\n");
    if (block.starts_with(":")) {
      if (heartbeats) ++*heartbeats;
      continue;
    }
    SseEvent e;
    size_t at = 0;
    while (at < block.size()) {
      const auto nl = block.find('\n', at);
      const std::string line = block.substr(at, nl - at);
      at = nl + 1;
      if (line.empty()) continue;
      const auto colon = line.find(": ");
      const std::string field = line.substr(0, colon), value = line.substr(colon + 2);
      if (field == "id") e.id = value;
      if (field == "event") e.type = value;
      if (field == "data") e.data += e.data.empty() ? value : "\n" + value;
    }
    return e;
  }
}

}  // namespace hookwire::api::testing
