#include "api/v1/serialize.h"

#include <algorithm>
#include <cctype>

namespace hookwire::api::v1 {
namespace {
json::value optional_string(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}
json::value optional_int(const std::optional<int64_t>& n) {
  return n ? json::value(*n) : json::value(nullptr);
}
json::value parsed(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(json::object{}) : v;
}
json::value string_list(const std::optional<std::vector<std::string>>& v) {
  if (!v) return nullptr;
  json::array out;
  for (const auto& s : *v) out.emplace_back(s);
  return out;
}
// Attempt::request_headers as MessageAttemptOut's `requestHeaders` (a hookwire extension): an object of
// names to values in the order sent, or null when the attempt has none. A name sent more than once (compared
// case-insensitively) keeps its first spelling and its values joined by ", ", as RFC 9110 combines them.
json::value request_headers_json(std::string_view lines) {
  if (lines.empty()) return nullptr;
  json::object out;
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines = nl == std::string_view::npos ? std::string_view() : lines.substr(nl + 1);
    const size_t colon = line.find(':');  // names are tokens: the first ':' ends the name
    if (colon == std::string_view::npos || colon == 0) continue;
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    auto same = std::find_if(out.begin(), out.end(), [name](const json::key_value_pair& kv) {
      return std::equal(name.begin(), name.end(), kv.key().begin(), kv.key().end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      });
    });
    if (same == out.end()) {
      out.emplace(name, value);
    } else {
      json::string& joined = same->value().as_string();
      joined.append(", ");
      joined.append(value);
    }
  }
  return out;
}

// Ends a list response whose items were written by hand after `{"data":[`: `],"done":..,"iterator":..,
// "prevIterator":..}`.
template <class T>
void close_page(std::string& text, const store::Page<T>& page) {
  text += "],";
  json::object rest{{"done", page.done}};
  rest["iterator"] = optional_string(page.iterator);
  rest["prevIterator"] = optional_string(page.prev_iterator);
  text.append(json::serialize(rest), 1);  // skip '{'
}
}  // namespace

json::object to_json(const store::Application& app) {
  return {{"id", app.id},
          {"uid", optional_string(app.uid)},
          {"name", app.name},
          {"throttleRate", optional_int(app.throttle_rate)},
          {"metadata", parsed(app.metadata)},
          {"createdAt", format_iso8601(app.created_at)},
          {"updatedAt", format_iso8601(app.updated_at)}};
}

json::object to_json(const store::EventType& et) {
  json::object out{{"name", et.name},
                   {"description", et.description},
                   {"archived", et.archived},
                   {"deprecated", et.deprecated},
                   {"featureFlag", optional_string(et.feature_flag)},
                   {"schemas", et.schemas ? parsed(*et.schemas) : json::value(nullptr)},
                   {"createdAt", format_iso8601(et.created_at)},
                   {"updatedAt", format_iso8601(et.updated_at)}};
  return out;
}

json::object to_json(const store::BackgroundTask& t) {
  json::value data = parsed(t.data);
  if (!data.is_object()) data = json::object();
  return {{"data", std::move(data)},
          {"id", t.id},
          {"status", t.status},
          {"task", t.task},
          {"updatedAt", format_iso8601(t.updated_at)}};
}

json::object to_json(const store::Endpoint& ep) {
  return {{"id", ep.id},
          {"uid", optional_string(ep.uid)},
          {"url", ep.url},
          {"description", ep.description},
          {"disabled", ep.disabled},
          {"throttleRate", optional_int(ep.rate_limit)},
          {"rateLimit", optional_int(ep.rate_limit)},
          {"version", 1},
          {"eventTypes", string_list(ep.event_types)},
          {"filterTypes", string_list(ep.event_types)},
          {"channels", string_list(ep.channels)},
          {"metadata", parsed(ep.metadata)},
          {"pullOnly", ep.pull_only},  // hookwire extensions: not in Svix's EndpointOut
          {"thin", ep.thin},
          {"signatureHeaders", optional_string(ep.signature_headers)},
          {"createdAt", format_iso8601(ep.created_at)},
          {"updatedAt", format_iso8601(ep.updated_at)}};
}

json::object to_json(const store::Attempt& a) {
  static constexpr const char* kStatusText[] = {"success", "pending", "fail", "sending"};
  static constexpr const char* kTrigger[] = {"scheduled", "manual"};
  return {{"id", a.id},
          {"msgId", a.msg_id},
          {"endpointId", a.endpoint_id},
          {"url", a.url},
          {"response", a.response},
          {"responseStatusCode", a.response_status_code},
          {"responseDurationMs", a.response_duration_ms},
          {"status", a.status},
          {"statusText", kStatusText[std::clamp(a.status, 0, 3)]},
          {"triggerType", a.trigger_type},
          {"triggerTypeText", kTrigger[std::clamp(a.trigger_type, 0, 1)]},
          {"timestamp", format_iso8601(a.created_at)}};
}

json::object attempt_detail_json(const store::Attempt& a) {
  json::object out = to_json(a);
  out["requestHeaders"] = request_headers_json(a.request_headers);
  return out;
}

namespace {
// Appends `s` as a JSON string literal.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}
}  // namespace

std::string_view payload_json(const store::Message& msg) {
  return msg.payload.empty() ? std::string_view(R"({"expired":true})") : std::string_view(msg.payload);
}

// Written by hand rather than through json::object: it is on the ingest path of every message.
std::string message_json(const store::Message& msg, bool with_content) {
  const std::string_view payload = with_content ? payload_json(msg) : std::string_view("{}");
  std::string out;
  out.reserve(160 + msg.event_type.size() + payload.size());
  out += "{\"id\":";
  append_json_string(out, msg.id);
  out += ",\"eventType\":";
  append_json_string(out, msg.event_type);
  out += ",\"eventId\":";
  if (msg.event_id) {
    append_json_string(out, *msg.event_id);
  } else {
    out += "null";
  }
  out += ",\"channels\":";
  if (msg.channels) {
    out += '[';
    for (size_t i = 0; i < msg.channels->size(); ++i) {
      if (i) out += ',';
      append_json_string(out, (*msg.channels)[i]);
    }
    out += ']';
  } else {
    out += "null";
  }
  out += ",\"timestamp\":";
  append_json_string(out, format_iso8601(msg.created_at));
  out += ",\"payload\":";
  out += payload;
  out += '}';
  return out;
}

std::string message_list_json(const store::Page<store::Message>& page, bool with_content) {
  std::string text = "{\"data\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) text += ',';
    text += message_json(page.items[i], with_content);
  }
  close_page(text, page);
  return text;
}

json::object delivery_status_json(const store::Delivery& d) {
  static constexpr const char* kStatusText[] = {"success", "pending", "fail", "sending"};
  const int status = store::reported_status(d);
  json::object out{{"status", status}, {"statusText", kStatusText[std::clamp(status, 0, 3)]}};
  // Due at next_attempt_at while waiting; while leased (an attempt in flight) the next attempt is unknown.
  out["nextAttempt"] = d.status == store::Delivery::kPending ? json::value(format_iso8601(d.next_attempt_at))
                                                             : json::value(nullptr);
  return out;
}

json::object to_json(const store::EndpointDelivery& ed) {
  json::object out = to_json(ed.endpoint);
  for (auto& [k, v] : delivery_status_json(ed.delivery)) out[k] = v;
  return out;
}

std::string endpoint_message_list_json(const store::Page<store::MessageDelivery>& page, bool with_content,
                                       bool dead_letter) {
  std::string text = "{\"data\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    const auto& [msg, d] = page.items[i];
    if (i) text += ',';
    text += message_json(msg, with_content);
    text.pop_back();  // '}': the delivery's fields follow
    json::object extra = delivery_status_json(d);
    if (dead_letter) {
      extra["endpointId"] = d.endpoint_id;
      extra["deliveryId"] = d.id;
      extra["attempts"] = d.attempts;
      extra["failedAt"] = format_iso8601(d.updated_at);
    }
    text += ',';
    text.append(json::serialize(extra), 1);  // skip '{'
  }
  close_page(text, page);
  return text;
}

}  // namespace hookwire::api::v1
