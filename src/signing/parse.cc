#include "signing/parse.h"

namespace hookwire::signing {

std::optional<int64_t> parse_unix_seconds(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

StandardSignatures parse_standard_signatures(std::string_view header) {
  StandardSignatures out;
  size_t pos = 0;
  while (pos < header.size() && out.count < StandardSignatures::kMax) {
    size_t end = header.find(' ', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view token = header.substr(pos, end - pos);
    pos = end + 1;
    size_t comma = token.find(',');
    if (comma == std::string_view::npos) continue;
    out.entries[out.count++] = {token.substr(0, comma), token.substr(comma + 1)};
  }
  return out;
}

std::optional<StripeHeader> parse_stripe_header(std::string_view header) {
  StripeHeader out;
  bool have_t = false;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = header.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "t") {
      auto t = parse_unix_seconds(value);
      if (!t || have_t) return std::nullopt;
      out.timestamp = *t;
      have_t = true;
    } else if (key == "v1" && out.v1_count < StripeHeader::kMax) {
      out.v1[out.v1_count++] = value;
    }
  }
  if (!have_t || out.v1_count == 0) return std::nullopt;
  return out;
}

std::optional<std::string_view> strip_prefix(std::string_view value, std::string_view prefix) {
  if (!value.starts_with(prefix)) return std::nullopt;
  return value.substr(prefix.size());
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace hookwire::signing
