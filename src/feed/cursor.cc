#include "feed/cursor.h"

#include <fmt/format.h>

namespace hookwire::feed {

namespace {
constexpr std::string_view kPrefix = "itr_";
constexpr size_t kDigits = 16;  // the position's 64 bits in hex, fixed width
}  // namespace

std::string encode_cursor(int64_t position) {
  return fmt::format("{}{:016x}", kPrefix, static_cast<uint64_t>(position));
}

std::optional<int64_t> decode_cursor(std::string_view cursor) {
  if (cursor.size() != kPrefix.size() + kDigits || !cursor.starts_with(kPrefix)) return std::nullopt;
  uint64_t v = 0;
  for (char c : cursor.substr(kPrefix.size())) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = v << 4 | static_cast<uint64_t>(d);
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

}  // namespace hookwire::feed
