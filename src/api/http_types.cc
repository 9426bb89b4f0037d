#include "api/http_types.h"

namespace hookwire::api {

const std::string& PathParams::get(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : items_)
    if (k == name) return v;
  return kEmpty;
}

}  // namespace hookwire::api
