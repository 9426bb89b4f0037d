#include "web/assets.h"

#include <algorithm>

namespace hookwire::web {

const Asset* find_asset(std::string_view path) {
  const auto all = embedded_assets();
  auto it = std::lower_bound(all.begin(), all.end(), path,
                             [](const Asset& a, std::string_view p) { return a.path < p; });
  return it != all.end() && it->path == path ? &*it : nullptr;
}

}  // namespace hookwire::web
