#include "delivery/operational.h"

#include <boost/json.hpp>

#include "core/encoding.h"
#include "core/ids.h"
#include "delivery/publish.h"

namespace hookwire::delivery {

namespace json = boost::json;

namespace {

OperationalEvent make_event(std::string_view type, json::object data) {
  json::object body;
  body["type"] = type;
  body["data"] = std::move(data);
  return {std::string(type), json::serialize(body)};
}

void put_app(json::object& data, const store::Application& app) {
  data["appId"] = app.id;
  if (app.uid) data["appUid"] = *app.uid;
}

}  // namespace

OperationalEvent endpoint_disabled_event(const store::Application& app, const store::Endpoint& endpoint,
                                         TimePoint fail_since) {
  json::object data;
  put_app(data, app);
  data["endpointId"] = endpoint.id;
  if (endpoint.uid) data["endpointUid"] = *endpoint.uid;
  data["failSince"] = format_iso8601(fail_since);
  return make_event("endpoint.disabled", std::move(data));
}

OperationalEvent message_attempt_event(std::string_view type, const store::Application& app,
                                       std::string_view endpoint_id, std::string_view msg_id,
                                       const std::optional<std::string>& msg_event_id,
                                       const LastAttempt& last) {
  json::object data;
  put_app(data, app);
  data["endpointId"] = endpoint_id;
  data["msgId"] = msg_id;
  if (msg_event_id) data["msgEventId"] = *msg_event_id;
  data["lastAttempt"] = json::object{{"id", last.id},
                                     {"responseStatusCode", last.response_status_code},
                                     {"timestamp", format_iso8601(last.timestamp)}};
  return make_event(type, std::move(data));
}

Result<int> emit_operational(store::Tx& tx, std::string_view operational_app_id,
                             const OperationalEvent& event, TimePoint now) {
  store::Message msg;
  msg.app_id = std::string(operational_app_id);
  msg.event_type = event.type;
  msg.payload = event.payload;
  msg.created_at = now;
  auto out = publish(tx, msg, std::chrono::seconds{0}, now);  // no idempotency key: always inserted
  if (!out.ok()) return out.take_error();
  return out->deliveries;
}

Result<std::string> ensure_operational_app(store::Tx& tx, const OperationalConfig& config, TimePoint now) {
  std::string app_id;
  if (auto app = tx.get_application(kOperationalAppUid); app.ok()) {
    app_id = app->id;
  } else if (app.error().code != Errc::kNotFound) {
    return app.take_error();
  } else {
    store::Application created;
    created.id = new_id(id_prefix::kApplication, now);
    created.uid = std::string(kOperationalAppUid);
    created.name = "hookwire operational webhooks";
    created.created_at = created.updated_at = now;
    if (auto st = tx.insert_application(created); !st.ok()) return st.take_error();
    app_id = created.id;
  }

  auto existing = tx.get_endpoint(app_id, kOperationalEndpointUid);
  if (!existing.ok() && existing.error().code != Errc::kNotFound) return existing.take_error();
  if (existing.ok()) {
    store::Endpoint ep = std::move(*existing);
    const bool secret_changed = config.secret && ep.secrets.front().key != *config.secret;
    if (ep.url == config.url && !ep.disabled && !secret_changed) return app_id;
    ep.url = config.url;
    ep.disabled = false;  // configuring it again is the operator's way of turning it back on
    if (secret_changed) ep.secrets = {{*config.secret, std::nullopt}};
    ep.updated_at = now;
    if (auto st = tx.update_endpoint(ep); !st.ok()) return st.take_error();
    return app_id;
  }
  store::Endpoint ep;
  ep.id = new_id(id_prefix::kEndpoint, now);
  ep.app_id = app_id;
  ep.uid = std::string(kOperationalEndpointUid);
  ep.url = config.url;
  ep.description = "hookwire operational webhooks";
  ep.secrets = {{config.secret.value_or("whsec_" + base64_encode(random_bytes(24))), std::nullopt}};
  ep.created_at = ep.updated_at = now;
  if (auto st = tx.insert_endpoint(ep); !st.ok()) return st.take_error();
  return app_id;
}

}  // namespace hookwire::delivery
