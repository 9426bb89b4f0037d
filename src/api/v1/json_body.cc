#include "api/v1/json_body.h"

#include <cctype>
#include <cstring>

namespace hookwire::api::v1 {

Result<json::object> parse_object(std::string_view body, json::storage_ptr sp) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, std::move(sp));
  if (ec) return Error::bad_request("request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Error::validation("body", "request body must be a JSON object");
  return std::move(v.as_object());
}

namespace {
size_t skip_ws(std::string_view t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}
// Index just past the string starting at t[i] == '"'. Jumps from quote to quote (memchr): a quote ends the
// string unless an odd number of backslashes precedes it.
size_t skip_string(std::string_view t, size_t i) {
  size_t from = i + 1;
  while (from < t.size()) {
    const void* hit = std::memchr(t.data() + from, '"', t.size() - from);
    if (!hit) break;
    const size_t q = static_cast<size_t>(static_cast<const char*>(hit) - t.data());
    size_t backslashes = 0;
    while (q - backslashes > i + 1 && t[q - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    from = q + 1;
  }
  return t.size();
}
// Index just past the value starting at t[i].
size_t skip_value(std::string_view t, size_t i) {
  if (i >= t.size()) return i;
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    for (; i < t.size(); ++i) {
      char c = t[i];
      if (c == '"') {
        i = skip_string(t, i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return t.size();
  }
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' &&
         !std::isspace(static_cast<unsigned char>(t[i])))
    ++i;
  return i;
}
void put_utf8(uint32_t cp, char* out, size_t& n) {
  if (cp < 0x80) {
    out[n++] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    out[n++] = static_cast<char>(0xC0 | (cp >> 6));
    out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out[n++] = static_cast<char>(0xE0 | (cp >> 12));
    out[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out[n++] = static_cast<char>(0xF0 | (cp >> 18));
    out[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  }
}
// The four hex digits at t[i..i+4) as a number, or -1.
int32_t hex4(std::string_view t, size_t i) {
  if (i + 4 > t.size()) return -1;
  int32_t v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const char c = t[k];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}
// Whether the text of a JSON string (between its quotes, escapes as written) decodes to `name`, as the parser
// decodes it. Escapes that the parser refuses (it has accepted the text) never match.
bool decodes_to(std::string_view raw, std::string_view name) {
  size_t matched = 0;
  for (size_t i = 0; i < raw.size();) {
    char bytes[4];
    size_t n = 0;
    if (raw[i] != '\\') {
      bytes[n++] = raw[i++];
    } else {
      if (i + 1 >= raw.size()) return false;
      const char e = raw[i + 1];
      i += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          bytes[n++] = e;
          break;
        case 'b':
          bytes[n++] = '\b';
          break;
        case 'f':
          bytes[n++] = '\f';
          break;
        case 'n':
          bytes[n++] = '\n';
          break;
        case 'r':
          bytes[n++] = '\r';
          break;
        case 't':
          bytes[n++] = '\t';
          break;
        case 'u': {
          int32_t cp = hex4(raw, i);
          if (cp < 0) return false;
          i += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate: its low one must follow
            if (i + 1 >= raw.size() || raw[i] != '\\' || raw[i + 1] != 'u') return false;
            const int32_t lo = hex4(raw, i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return false;
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          put_utf8(static_cast<uint32_t>(cp), bytes, n);
          break;
        }
        default:
          return false;
      }
    }
    if (name.size() - matched < n || name.compare(matched, n, bytes, n) != 0) return false;
    matched += n;
  }
  return matched == name.size();
}
}  // namespace

std::optional<std::string_view> raw_member(std::string_view t, std::string_view name) {
  size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  ++i;
  std::optional<std::string_view> found;
  // A key is compared as written when it has no escape (the common case: one comparison); with escapes it is
  // decoded first, as the parser decodes it. An escape makes the raw text longer than what it decodes to, so
  // only a longer key can be an escaped spelling of `name`.
  const bool plain_name = name.find('\\') == std::string_view::npos;
  while (true) {
    i = skip_ws(t, i);
    if (i >= t.size() || t[i] != '"') return found;
    const size_t key_end = skip_string(t, i);
    const std::string_view key = t.substr(i + 1, key_end - i - 2);
    i = skip_ws(t, key_end);
    if (i >= t.size() || t[i] != ':') return found;
    i = skip_ws(t, i + 1);
    const size_t value_end = skip_value(t, i);
    const bool match =
        (plain_name && key == name) ||
        (key.size() > name.size() && std::memchr(key.data(), '\\', key.size()) && decodes_to(key, name));
    if (match) found = t.substr(i, value_end - i);  // the last duplicate wins, as in the parser
    i = skip_ws(t, value_end);
    if (i >= t.size() || t[i] != ',') return found;
    ++i;
  }
}

const json::value* FieldReader::find(std::string_view name) const {
  auto it = obj_.find(name);
  if (it == obj_.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

bool FieldReader::is_null(std::string_view name) const {
  auto it = obj_.find(name);
  return it != obj_.end() && it->value().is_null();
}

void FieldReader::fail(std::string_view name, std::string detail) {
  if (!error_) error_ = Error::validation(field(name), std::move(detail));
}

std::optional<std::string> FieldReader::opt_string(std::string_view name, Rule rule, size_t max_len) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    fail(name, "must be a string");
    return std::nullopt;
  }
  std::string s(v->as_string());
  if (s.size() > max_len) {
    fail(name, "must be at most " + std::to_string(max_len) + " characters");
  } else if (rule == Rule::kToken && !is_token(s)) {
    fail(name, "must match ^[a-zA-Z0-9\\-_.]+$");
  } else if (rule == Rule::kNonEmpty && s.empty()) {
    fail(name, "must not be empty");
  }
  return s;
}

std::string FieldReader::req_string(std::string_view name, Rule rule, size_t max_len) {
  if (!find(name)) {
    fail(name, "field required");
    return {};
  }
  return opt_string(name, rule, max_len).value_or(std::string{});
}

std::optional<bool> FieldReader::opt_bool(std::string_view name) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_bool()) {
    fail(name, "must be a boolean");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<int64_t> FieldReader::opt_int(std::string_view name, int64_t min, int64_t max) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  int64_t n;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= uint64_t(INT64_MAX)) {
    n = int64_t(v->as_uint64());
  } else {
    fail(name, "must be an integer");
    return std::nullopt;
  }
  if (n < min || n > max) {
    fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> FieldReader::opt_object_text(std::string_view name, bool string_values) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_object()) {
    fail(name, "must be an object");
    return std::nullopt;
  }
  if (string_values) {
    for (const auto& kv : v->as_object()) {
      if (!kv.value().is_string()) {
        fail(name, "values must be strings (\"" + std::string(kv.key()) + "\" is not)");
        return std::nullopt;
      }
    }
  }
  return json::serialize(*v);
}

std::optional<std::vector<std::string>> FieldReader::opt_string_array(std::string_view name, Rule rule,
                                                                      size_t max_items) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    fail(name, "must be an array of strings");
    return std::nullopt;
  }
  const auto& arr = v->as_array();
  if (arr.size() > max_items) {
    fail(name, "must have at most " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  std::vector<std::string> out;
  out.reserve(arr.size());
  for (const auto& item : arr) {
    if (!item.is_string()) {
      fail(name, "must be an array of strings");
      return std::nullopt;
    }
    std::string s(item.as_string());
    if (rule == Rule::kToken && !is_token(s)) {
      fail(name, "items must match ^[a-zA-Z0-9\\-_.]+$");
      return std::nullopt;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> FieldReader::opt_string_map(
    std::string_view name) {
  const json::value* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_object()) {
    fail(name, "must be an object of strings");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : v->as_object()) {
    if (!kv.value().is_string()) {
      fail(name, "values must be strings (\"" + std::string(kv.key()) + "\" is not)");
      return std::nullopt;
    }
    out.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
  }
  return out;
}

Result<TimeRange> read_range(FieldReader& r, bool until_required) {
  const std::string since_text = r.req_string("since", FieldReader::Rule::kAny, 64);
  const auto until_text = until_required ? std::optional(r.req_string("until", FieldReader::Rule::kAny, 64))
                                         : r.opt_string("until", FieldReader::Rule::kAny, 64);
  if (r.error()) return *r.error();
  const auto since = parse_iso8601(since_text);
  if (!since) return Error::validation("body.since", "must be an ISO 8601 date-time");
  TimeRange out{*since, std::nullopt};
  if (until_text) {
    out.until = parse_iso8601(*until_text);
    if (!out.until) return Error::validation("body.until", "must be an ISO 8601 date-time");
  }
  return out;
}

}  // namespace hookwire::api::v1
