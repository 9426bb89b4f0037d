#include "core/names.h"

#include <cstring>

namespace hookwire {

namespace {
bool is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
}  // namespace

bool is_token(std::string_view s) {
  if (s.empty() || s.size() > kMaxTokenLength) return false;
  for (unsigned char c : s)
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool is_inbound_event_type(std::string_view s) {
  if (s.empty() || s.size() > kMaxTokenLength) return false;
  for (size_t start = 0;;) {
    const size_t slash = s.find('/', start);
    if (!is_token(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start)))
      return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool is_field_name(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_alnum(c) && (c == '\0' || !std::strchr("!#$%&'*+-.^_`|~", c))) return false;
  return true;
}

bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

}  // namespace hookwire
