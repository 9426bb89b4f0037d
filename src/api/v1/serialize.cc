#include "api/v1/serialize.h"

#include <algorithm>

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

std::string message_json(const store::Message& msg, bool with_content) {
  json::object out{{"id", msg.id},
                   {"eventType", msg.event_type},
                   {"eventId", optional_string(msg.event_id)},
                   {"channels", string_list(msg.channels)},
                   {"timestamp", format_iso8601(msg.created_at)}};
  std::string text = json::serialize(out);
  text.pop_back();  // '}'
  text += ",\"payload\":";
  text += with_content ? std::string_view(msg.payload) : std::string_view("{}");
  text += '}';
  return text;
}

std::string message_list_json(const store::Page<store::Message>& page, bool with_content) {
  std::string text = "{\"data\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) text += ',';
    text += message_json(page.items[i], with_content);
  }
  text += "],";
  json::object rest{{"done", page.done}};
  rest["iterator"] = optional_string(page.iterator);
  rest["prevIterator"] = optional_string(page.prev_iterator);
  std::string tail = json::serialize(rest);
  text.append(tail, 1);  // skip '{'
  return text;
}

}  // namespace hookwire::api::v1
