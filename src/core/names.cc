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

bool is_sensitive_header(std::string_view name) {
  auto iequals = [name](std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(name[i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
      if (c != static_cast<unsigned char>(lower[i])) return false;
    }
    return true;
  };
  return iequals("authorization") || iequals("proxy-authorization") || iequals("cookie") ||
         iequals("x-api-key");
}

bool is_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < n || p[1] < lo || p[1] > hi) return false;
    for (size_t k = 2; k < n; ++k)
      if (p[k] < 0x80 || p[k] > 0xBF) return false;
    p += n;
  }
  return true;
}

}  // namespace hookwire
