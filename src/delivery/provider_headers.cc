#include "delivery/provider_headers.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

namespace hookwire::delivery {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Headers hookwire sets itself on a delivery: the signature families, its own extensions, and what the HTTP
// client or the body decide.
bool hookwires_own(std::string_view name) {
  for (std::string_view prefix : {"webhook-", "svix-", "x-hookwire-"})
    if (name.size() >= prefix.size() && iequals(name.substr(0, prefix.size()), prefix)) return true;
  for (std::string_view exact : {"content-type", "content-length", "user-agent", "host", "connection",
                                 "transfer-encoding", "te", "trailer", "upgrade", "keep-alive", "expect"})
    if (iequals(name, exact)) return true;
  return false;
}

}  // namespace

void append_provider_headers(std::string_view kept,
                             const std::map<std::string, std::string>& endpoint_headers, Headers& out) {
  if (kept.empty()) return;
  boost::system::error_code ec;
  const auto v = boost::json::parse(kept, ec);
  if (ec || !v.is_object()) return;
  for (const auto& kv : v.as_object()) {
    if (!kv.value().is_string()) continue;
    const std::string_view name = kv.key();
    if (hookwires_own(name)) continue;
    if (std::any_of(endpoint_headers.begin(), endpoint_headers.end(),
                    [&](const auto& h) { return iequals(h.first, name); }))
      continue;
    out.emplace_back(std::string(name), std::string(kv.value().as_string()));
  }
}

}  // namespace hookwire::delivery
