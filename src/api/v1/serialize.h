// Records as Svix's JSON shapes (ApplicationOut, EndpointOut, EventTypeOut, MessageOut, MessageAttemptOut,
// MessageEndpointOut, EndpointMessageOut) and the list envelope {data, iterator, prevIterator, done}.
#pragma once

#include <boost/json.hpp>
#include <string>

#include "store/model.h"

namespace hookwire::api::v1 {

namespace json = boost::json;

json::object to_json(const store::Application& app);
json::object to_json(const store::EventType& et);
json::object to_json(const store::Endpoint& ep);
// MessageAttemptOut as the attempt listings show it (without `requestHeaders`).
json::object to_json(const store::Attempt& a);
// One attempt (GET .../msg/{msg}/attempt/{attempt}): MessageAttemptOut plus hookwire's `requestHeaders`, the
// header fields the request was sent with as an object in the order sent (sensitive values `[redacted]`),
// null when the attempt has none. The listings leave it out: it doubled a page of 250 attempts and made it
// 3-4 times slower to answer; the console reads it from the single attempt.
json::object attempt_detail_json(const store::Attempt& a);
// BackgroundTaskOut: {data, id, status, task, updatedAt}.
json::object to_json(const store::BackgroundTask& t);
// MessageEndpointOut: the endpoint and its delivery status for one message.
json::object to_json(const store::EndpointDelivery& ed);
// A message's payload as every message shape shows it: the stored text, exactly as received; once the
// payload is gone (expunged, or deleted at its payloadRetention time: empty), Svix's {"expired":true}.
std::string_view payload_json(const store::Message& msg);
// MessageOut as text: the payload is spliced in as payload_json() gives it. Without content, "payload": {}.
std::string message_json(const store::Message& msg, bool with_content = true);

template <class T>
std::string list_json(const store::Page<T>& page) {
  json::array data;
  data.reserve(page.items.size());
  for (const auto& item : page.items) data.push_back(to_json(item));
  json::object out{{"data", std::move(data)}, {"done", page.done}};
  out["iterator"] = page.iterator ? json::value(*page.iterator) : json::value(nullptr);
  out["prevIterator"] = page.prev_iterator ? json::value(*page.prev_iterator) : json::value(nullptr);
  return json::serialize(out);
}

std::string message_list_json(const store::Page<store::Message>& page, bool with_content);

// MessageStatus and its text for a delivery, as Svix reports them (store::reported_status).
json::object delivery_status_json(const store::Delivery& d);
// ListResponse_EndpointMessageOut_: messages with their delivery status to one endpoint. With `dead_letter`,
// each item also names its endpoint and delivery (the dead-letter listing, a hookwire extension).
std::string endpoint_message_list_json(const store::Page<store::MessageDelivery>& page, bool with_content,
                                       bool dead_letter = false);

}  // namespace hookwire::api::v1
