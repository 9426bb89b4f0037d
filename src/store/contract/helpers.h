// The contract suite's record makers and checks, shared by its files (src/store/contract/*_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"
#include "store/store.h"

namespace hookwire::store::contract {

// Millisecond-precision times: what every backend must round-trip exactly.
inline TimePoint ms(int64_t v) { return from_unix_millis(v); }
inline const TimePoint kT0 = ms(1'700'000'000'123);

inline Application make_app(std::optional<std::string> uid = std::nullopt) {
  Application a;
  a.id = new_id(id_prefix::kApplication);
  a.uid = std::move(uid);
  a.name = "App " + a.id;
  a.throttle_rate = 42;
  a.metadata = R"({"k":"v"})";
  a.created_at = kT0;
  a.updated_at = kT0 + std::chrono::milliseconds(1);
  return a;
}

inline EventType make_event_type(std::string name, bool archived = false) {
  EventType e;
  e.name = std::move(name);
  e.description = "desc of " + e.name;
  e.archived = archived;
  e.deprecated = true;
  e.feature_flag = "beta";
  e.schemas = R"({"1":{"type":"object"}})";
  e.created_at = kT0;
  e.updated_at = kT0 + std::chrono::milliseconds(7);
  return e;
}

inline Endpoint make_endpoint(const std::string& app_id, std::optional<std::string> uid = std::nullopt) {
  Endpoint e;
  e.id = new_id(id_prefix::kEndpoint);
  e.app_id = app_id;
  e.uid = std::move(uid);
  e.url = "https://example.com/hook";
  e.description = "an endpoint";
  e.disabled = false;
  e.rate_limit = 10;
  e.event_types = std::vector<std::string>{"user.created", "user.deleted"};
  e.channels = std::vector<std::string>{"project_1", "quote\"and\\slash"};
  e.metadata = R"({"team":"a"})";
  e.secrets = {{"whsec_new", std::nullopt}, {"whsec_old", kT0 + std::chrono::hours(24)}};
  e.headers = {{"X-Custom", "1"}, {"X-Other", "two words"}};
  e.created_at = kT0;
  e.updated_at = kT0 + std::chrono::milliseconds(3);
  return e;
}

inline Message make_message(const std::string& app_id, std::string event_type = "user.created",
                            std::optional<std::string> event_id = std::nullopt, TimePoint created_at = kT0,
                            std::optional<std::vector<std::string>> channels = std::nullopt) {
  Message m;
  m.id = new_id(id_prefix::kMessage);
  m.app_id = app_id;
  m.event_id = std::move(event_id);
  m.event_type = std::move(event_type);
  m.payload = R"({"user":"u_1","n":1})";
  m.channels = std::move(channels);
  m.created_at = created_at;
  return m;
}

inline Attempt make_attempt(const std::string& app_id, const std::string& msg_id,
                            const std::string& endpoint_id) {
  Attempt a;
  a.id = new_id(id_prefix::kAttempt);
  a.app_id = app_id;
  a.msg_id = msg_id;
  a.endpoint_id = endpoint_id;
  a.url = "https://example.com/hook";
  a.status = 2;
  a.response_status_code = 503;
  a.response = "unavailable";
  a.response_duration_ms = 1234;
  a.trigger_type = 1;
  a.created_at = kT0 + std::chrono::milliseconds(5);
  return a;
}

inline void expect_same(const Application& a, const Application& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.throttle_rate, b.throttle_rate);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

inline void expect_same(const Endpoint& a, const Endpoint& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.app_id, b.app_id);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.url, b.url);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.disabled, b.disabled);
  EXPECT_EQ(a.rate_limit, b.rate_limit);
  EXPECT_EQ(a.event_types, b.event_types);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.secrets.size(), b.secrets.size());
  for (size_t i = 0; i < a.secrets.size(); ++i) {
    EXPECT_EQ(a.secrets[i].key, b.secrets[i].key);
    EXPECT_EQ(a.secrets[i].expires_at, b.secrets[i].expires_at);
  }
  EXPECT_EQ(a.headers, b.headers);
  EXPECT_EQ(a.pull_only, b.pull_only);
  EXPECT_EQ(a.thin, b.thin);
  EXPECT_EQ(a.signature_headers, b.signature_headers);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

inline void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.app_id, b.app_id);
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.event_type, b.event_type);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.created_at, b.created_at);
}

template <class T>
inline std::vector<std::string> ids_of(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.id);
  return out;
}

// Blocks the writer inside one write function until released: what lets a test queue work behind it
// deterministically (the function waits only on the test, never on the store).
class WriterGate {
 public:
  void hold(Store& store) {
    store.submit_write(
        [this](Tx&) -> Status {
          entered_.set_value();
          released_.get_future().wait();
          return {};
        },
        [](Status) {});
    entered_.get_future().wait();
  }
  void release() { released_.set_value(); }

 private:
  std::promise<void> entered_;
  std::promise<void> released_;
};

inline Delivery make_delivery(const Message& m, const Endpoint& ep, TimePoint due) {
  Delivery d;
  d.id = new_id("dlv");
  d.app_id = m.app_id;
  d.msg_id = m.id;
  d.endpoint_id = ep.id;
  d.next_attempt_at = due;
  d.created_at = d.updated_at = kT0;
  return d;
}

// The set-up of most delivery tests: an application with one endpoint, one message and its deliveries.
inline Status insert_deliveries(Tx& tx, const Application& app, const Endpoint& ep, const Message& msg,
                                std::initializer_list<const Delivery*> deliveries) {
  if (auto st = tx.insert_application(app); !st.ok()) return st;
  if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
  for (const Delivery* d : deliveries)
    if (auto st = tx.insert_delivery(*d); !st.ok()) return st;
  return {};
}

inline Delivery make_delivery(const Message& m, const Endpoint& ep, int status, int attempts) {
  Delivery d = make_delivery(m, ep, kT0);
  d.status = status;
  d.attempts = attempts;
  return d;
}

// The value, or -1 for an error (which the comparison then reports).
inline int64_t value_of(const Result<int64_t>& r) { return r.ok() ? *r : -1; }

// Reads the application's feed after `after` up to the store's head, as a poller does.
inline FeedQuery feed_query(const std::string& app_id, int64_t after, int64_t until, int limit = 250) {
  FeedQuery q;
  q.app_id = app_id;
  q.after = after;
  q.until = until;
  q.limit = limit;
  return q;
}

inline ApiToken make_token(const std::string& app_id, std::optional<std::string> endpoint_id,
                           std::string hash) {
  ApiToken t;
  t.id = new_id("tok");
  t.kind = endpoint_id ? ApiToken::kPoller : ApiToken::kAppPortal;
  t.app_id = app_id;
  t.endpoint_id = std::move(endpoint_id);
  t.hash = std::move(hash);
  if (t.kind == ApiToken::kAppPortal) t.capabilities = {"ViewBase", "ManageEndpointSecret"};
  t.created_at = kT0;
  return t;
}

}  // namespace hookwire::store::contract
