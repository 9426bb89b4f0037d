// The JSON text columns both stores keep (endpoint filters, secrets and headers; message channels; token
// capabilities): written from the records and read back into them. The store wrote them itself, so anything
// unparsable is corruption: reported (kInternal naming the column), never guessed at. Internal to the stores.
#pragma once

#include <fmt/format.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/model.h"

namespace hookwire::store::json_columns {
namespace json = boost::json;

inline std::string to_json(const std::vector<std::string>& v) { return json::serialize(json::value_from(v)); }

inline std::string to_json(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return json::serialize(o);
}

inline std::string to_json(const std::vector<EndpointSecret>& secrets) {
  json::array a;
  for (const auto& s : secrets) {
    json::object o;
    o["key"] = s.key;
    if (s.expires_at) o["expires_at"] = unix_millis(*s.expires_at);
    a.push_back(std::move(o));
  }
  return json::serialize(a);
}

inline std::optional<std::string> to_json(const std::optional<std::vector<std::string>>& v) {
  if (!v) return std::nullopt;
  return to_json(*v);
}

inline Result<json::value> parse(std::string_view text, std::string_view column) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  return v;
}

inline Result<std::vector<std::string>> strings_from_json(std::string_view text, std::string_view column) {
  auto v = parse(text, column);
  if (!v.ok()) return v.take_error();
  if (!v->is_array()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
  std::vector<std::string> out;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) return Error::internal(fmt::format("corrupt JSON in column {}", column));
    out.emplace_back(e.as_string());
  }
  return out;
}

inline Result<std::vector<EndpointSecret>> secrets_from_json(std::string_view text) {
  auto v = parse(text, "endpoints.secrets");
  if (!v.ok()) return v.take_error();
  if (!v->is_array()) return Error::internal("corrupt JSON in column endpoints.secrets");
  std::vector<EndpointSecret> out;
  for (const auto& item : v->as_array()) {
    const auto* o = item.if_object();
    const auto* key = o ? o->if_contains("key") : nullptr;
    if (!key || !key->is_string()) return Error::internal("corrupt JSON in column endpoints.secrets");
    EndpointSecret secret;
    secret.key = std::string(key->as_string());
    if (const auto* exp = o->if_contains("expires_at"); exp && exp->is_int64()) {
      secret.expires_at = from_unix_millis(exp->as_int64());
    }
    out.push_back(std::move(secret));
  }
  return out;
}

inline Result<std::map<std::string, std::string>> headers_from_json(std::string_view text) {
  auto v = parse(text, "endpoints.headers");
  if (!v.ok()) return v.take_error();
  if (!v->is_object()) return Error::internal("corrupt JSON in column endpoints.headers");
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : v->as_object()) {
    if (!val.is_string()) return Error::internal("corrupt JSON in column endpoints.headers");
    out.emplace(std::string(k), std::string(val.as_string()));
  }
  return out;
}

}  // namespace hookwire::store::json_columns
