#include "store/store_contract_test.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/ids.h"
#include "store/async.h"

namespace hookwire::store {

// ---- Fixture
// -------------------------------------------------------------------------------------------------

void StoreContractTest::SetUp() {
  test_dir_.emplace("hookwire-store");
  dir_ = test_dir_->path() / GetParam().name;
  store_ = GetParam().open(dir_.string());
  ASSERT_NE(store_, nullptr) << "factory failed for " << dir_;
}

void StoreContractTest::TearDown() {
  if (store_) store_->stop();
  store_.reset();
  test_dir_.reset();
}

void StoreContractTest::reopen() {
  store_->stop();
  store_.reset();
  store_ = GetParam().open(dir_.string());
  ASSERT_NE(store_, nullptr) << "factory failed to reopen " << dir_;
}

Status StoreContractTest::write(std::function<Status(Tx&)> fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  store_->submit_write(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
  return f.get();
}

Message StoreContractTest::put(Message m) {
  const Status st = write([&](Tx& tx) { return tx.insert_message(m); });
  EXPECT_TRUE(st.ok()) << st.error().detail;
  return m;
}

Status insert_copy(Tx& tx, Message m) { return tx.insert_message(m); }

void StoreContractTest::read_raw(std::function<void(Tx&)> fn) {
  std::promise<void> p;
  auto f = p.get_future();
  store_->submit_read(std::move(fn), [&p] { p.set_value(); });
  f.get();
}

void StoreContractTest::expect_claim_fails_the_only_delivery(std::string_view app_id, std::string_view msg_id,
                                                             TimePoint now) {
  size_t claimed = 99;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(now, now + std::chrono::seconds(60), 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = r->size();
                return {};
              }).ok());
  EXPECT_EQ(claimed, 0u);
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app_id, msg_id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].status, Delivery::kFailed);
}

void StoreContractTest::expect_only_delivery_orphaned(const Delivery& d, TimePoint now) {
  auto scan = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(now, 10, 10, {}); });
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->due.empty());
  ASSERT_EQ(scan->orphaned.size(), 1u);
  EXPECT_EQ(scan->orphaned[0].id, d.id);
  expect_claim_fails_the_only_delivery(d.app_id, d.msg_id, now);
}

namespace {

// Millisecond-precision times: what every backend must round-trip exactly.
TimePoint ms(int64_t v) { return from_unix_millis(v); }
const TimePoint kT0 = ms(1'700'000'000'123);

Application make_app(std::optional<std::string> uid = std::nullopt) {
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

EventType make_event_type(std::string name, bool archived = false) {
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

Endpoint make_endpoint(const std::string& app_id, std::optional<std::string> uid = std::nullopt) {
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

Message make_message(const std::string& app_id, std::string event_type = "user.created",
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

Attempt make_attempt(const std::string& app_id, const std::string& msg_id, const std::string& endpoint_id) {
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

void expect_same(const Application& a, const Application& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.throttle_rate, b.throttle_rate);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

void expect_same(const Endpoint& a, const Endpoint& b) {
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

void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.app_id, b.app_id);
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.event_type, b.event_type);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.created_at, b.created_at);
}

template <class T>
std::vector<std::string> ids_of(const std::vector<T>& v) {
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

}  // namespace

// ---- Applications
// --------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, ApplicationCrud) {
  const auto app = make_app("my-app");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());

  auto by_id = read<Application>([&](Tx& tx) { return tx.get_application(app.id); });
  ASSERT_TRUE(by_id.ok()) << by_id.error().detail;
  expect_same(*by_id, app);
  auto by_uid = read<Application>([&](Tx& tx) { return tx.get_application("my-app"); });
  ASSERT_TRUE(by_uid.ok());
  EXPECT_EQ(by_uid->id, app.id);

  // uid conflicts, on insert and on update.
  auto dup = make_app("my-app");
  auto st = write([&](Tx& tx) { return tx.insert_application(dup); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("uid"), std::string::npos) << st.error().detail;
  auto other = make_app("other");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(other); }).ok());
  other.uid = "my-app";
  st = write([&](Tx& tx) { return tx.update_application(other); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);

  // Apps without uid do not conflict with each other.
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(make_app()); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(make_app()); }).ok());

  auto updated = app;
  updated.name = "renamed";
  updated.uid = std::nullopt;
  updated.throttle_rate = std::nullopt;
  updated.updated_at = kT0 + std::chrono::seconds(10);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_application(updated); }).ok());
  auto got = read<Application>([&](Tx& tx) { return tx.get_application(app.id); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, updated);
  EXPECT_EQ(read<Application>([&](Tx& tx) { return tx.get_application("my-app"); }).error().code,
            Errc::kNotFound);

  auto list = read<Page<Application>>([](Tx& tx) { return tx.list_applications(PageQuery{}); });
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items.size(), 4u);
  EXPECT_TRUE(list->done);

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  auto gone = read<Application>([&](Tx& tx) { return tx.get_application(app.id); });
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  EXPECT_NE(gone.error().detail.find("application"), std::string::npos);
}

TEST_P(StoreContractTest, ApplicationNotFound) {
  auto app = make_app();
  EXPECT_EQ(read<Application>([&](Tx& tx) { return tx.get_application(app.id); }).error().code,
            Errc::kNotFound);
  auto st = write([&](Tx& tx) { return tx.update_application(app); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_EQ(st.error().detail, "application not found");
  st = write([&](Tx& tx) { return tx.delete_application(app.id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

TEST_P(StoreContractTest, DeleteApplicationDeletesItsEndpointsMessagesAndAttempts) {
  const auto app = make_app();
  const auto keep = make_app();
  const auto ep = make_endpoint(app.id);
  auto msg = make_message(app.id, "user.created", "evt-1");
  const auto keep_ep = make_endpoint(keep.id);
  auto keep_msg = make_message(keep.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (auto* a : {&app, &keep})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (auto* e : {&ep, &keep_ep})
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                for (auto* m : {&msg, &keep_msg})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                for (const auto& a :
                     {make_attempt(app.id, msg.id, ep.id), make_attempt(keep.id, keep_msg.id, keep_ep.id)})
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  read_raw([&](Tx& tx) {
    EXPECT_EQ(tx.get_endpoint(app.id, ep.id).error().code, Errc::kNotFound);
    EXPECT_EQ(tx.get_message(app.id, msg.id).error().code, Errc::kNotFound);
    auto atts = tx.list_attempts_by_message(app.id, msg.id, PageQuery{});
    ASSERT_TRUE(atts.ok());
    EXPECT_TRUE(atts->items.empty());
    // The other application is untouched.
    EXPECT_TRUE(tx.get_endpoint(keep.id, keep_ep.id).ok());
    EXPECT_TRUE(tx.get_message(keep.id, keep_msg.id).ok());
    auto keep_atts = tx.list_attempts_by_message(keep.id, keep_msg.id, PageQuery{});
    ASSERT_TRUE(keep_atts.ok());
    EXPECT_EQ(keep_atts->items.size(), 1u);
  });
  // The event id is free again in the (re-created) application.
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  ASSERT_TRUE(
      write([&](Tx& tx) { return insert_copy(tx, make_message(app.id, "user.created", "evt-1")); }).ok());
}

// ---- Event types
// ---------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, EventTypeCrudAndListing) {
  const auto et = make_event_type("user.created");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_event_type(et); }).ok());
  auto st = write([&](Tx& tx) { return tx.insert_event_type(make_event_type("user.created")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("name"), std::string::npos) << st.error().detail;

  auto got = read<EventType>([&](Tx& tx) { return tx.get_event_type("user.created"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, et.name);
  EXPECT_EQ(got->description, et.description);
  EXPECT_EQ(got->archived, et.archived);
  EXPECT_EQ(got->deprecated, et.deprecated);
  EXPECT_EQ(got->feature_flag, et.feature_flag);
  EXPECT_EQ(got->schemas, et.schemas);
  EXPECT_EQ(got->created_at, et.created_at);
  EXPECT_EQ(got->updated_at, et.updated_at);

  auto changed = et;
  changed.description = "new";
  changed.feature_flag = std::nullopt;
  changed.schemas = std::nullopt;
  changed.archived = true;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_event_type(changed); }).ok());
  got = read<EventType>([&](Tx& tx) { return tx.get_event_type("user.created"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "new");
  EXPECT_FALSE(got->feature_flag);
  EXPECT_FALSE(got->schemas);
  EXPECT_TRUE(got->archived);

  // Listing: by name, archived ones only on request, paged.
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (auto name : {"b.two", "a.one", "c.three"})
                  if (auto s = tx.insert_event_type(make_event_type(name)); !s.ok()) return s;
                return {};
              }).ok());
  auto names = [](const Page<EventType>& p) {
    std::vector<std::string> out;
    for (const auto& e : p.items) out.push_back(e.name);
    return out;
  };
  auto all = read<Page<EventType>>([](Tx& tx) { return tx.list_event_types(PageQuery{}, true); });
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(names(*all), (std::vector<std::string>{"a.one", "b.two", "c.three", "user.created"}));
  auto live = read<Page<EventType>>([](Tx& tx) { return tx.list_event_types(PageQuery{}, false); });
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(names(*live), (std::vector<std::string>{"a.one", "b.two", "c.three"}));
  PageQuery q;
  q.limit = 2;
  auto p1 = read<Page<EventType>>([&](Tx& tx) { return tx.list_event_types(q, true); });
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(names(*p1), (std::vector<std::string>{"a.one", "b.two"}));
  EXPECT_FALSE(p1->done);
  EXPECT_EQ(p1->iterator, "b.two");
  q.iterator = p1->iterator;
  auto p2 = read<Page<EventType>>([&](Tx& tx) { return tx.list_event_types(q, true); });
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(names(*p2), (std::vector<std::string>{"c.three", "user.created"}));
  EXPECT_TRUE(p2->done);

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_event_type("user.created"); }).ok());
  EXPECT_EQ(read<EventType>([&](Tx& tx) { return tx.get_event_type("user.created"); }).error().code,
            Errc::kNotFound);
  st = write([&](Tx& tx) { return tx.delete_event_type("user.created"); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  st = write([&](Tx& tx) { return tx.update_event_type(make_event_type("nope")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

// ---- Endpoints
// -----------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, EndpointCrud) {
  const auto app = make_app();
  const auto app2 = make_app();
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_application(app2);
              }).ok());
  auto ep = make_endpoint(app.id, "ep-uid");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_endpoint(ep); }).ok());

  auto got = read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, ep.id); });
  ASSERT_TRUE(got.ok()) << got.error().detail;
  expect_same(*got, ep);
  got = read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, "ep-uid"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, ep.id);
  // Scoped to the application.
  EXPECT_EQ(read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app2.id, ep.id); }).error().code,
            Errc::kNotFound);

  // uid unique within an app only.
  auto st = write([&](Tx& tx) { return tx.insert_endpoint(make_endpoint(app.id, "ep-uid")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("uid"), std::string::npos) << st.error().detail;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_endpoint(make_endpoint(app2.id, "ep-uid")); }).ok());

  // Whole-record update, nullable lists back to "all".
  ep.url = "https://example.org/other";
  ep.disabled = true;
  ep.rate_limit = std::nullopt;
  ep.event_types = std::nullopt;
  ep.channels = std::vector<std::string>{};
  ep.secrets = {{"whsec_only", std::nullopt}};
  ep.headers = {};
  ep.uid = std::nullopt;
  ep.updated_at = kT0 + std::chrono::minutes(1);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  got = read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, ep.id); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, ep);

  auto ep2 = make_endpoint(app.id, "second");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_endpoint(ep2); }).ok());
  ep2.uid = "ep-uid-taken";
  auto ep3 = make_endpoint(app.id, "ep-uid-taken");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_endpoint(ep3); }).ok());
  st = write([&](Tx& tx) { return tx.update_endpoint(ep2); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);

  auto list = read<Page<Endpoint>>([&](Tx& tx) { return tx.list_endpoints(app.id, PageQuery{}); });
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(list->items), (std::vector<std::string>{ep.id, ep2.id, ep3.id}));

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_endpoint(app.id, ep.id); }).ok());
  EXPECT_EQ(read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, ep.id); }).error().code,
            Errc::kNotFound);
  st = write([&](Tx& tx) { return tx.delete_endpoint(app.id, ep.id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_EQ(st.error().detail, "endpoint not found");
  st = write([&](Tx& tx) { return tx.update_endpoint(make_endpoint(app.id)); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

// ---- Messages
// ------------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, MessageInsertGetAndEventIdConflicts) {
  const auto app = make_app();
  const auto app2 = make_app();
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_application(app2);
              }).ok());
  auto msg = make_message(app.id, "user.created", "evt-1", kT0, std::vector<std::string>{"a", "b"});
  auto plain = make_message(app.id);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(msg); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(plain); }).ok());
  // Many messages without an event id coexist.
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app.id)); }).ok());

  auto got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, msg.id); });
  ASSERT_TRUE(got.ok()) << got.error().detail;
  expect_same(*got, msg);
  got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, "evt-1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, msg.id);
  got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, plain.id); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, plain);

  auto st = write([&](Tx& tx) { return insert_copy(tx, make_message(app.id, "x", "evt-1")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("eventId"), std::string::npos) << st.error().detail;
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app2.id, "x", "evt-1")); }).ok());

  auto missing = read<Message>([&](Tx& tx) { return tx.get_message(app.id, "evt-unknown"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().detail, "message not found");
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message(app2.id, msg.id); }).error().code,
            Errc::kNotFound);
}

TEST_P(StoreContractTest, ExpungingEveryPayloadOfAnApplicationGoesBatchByBatchInIdOrder) {
  const auto app = make_app();
  const auto other = make_app();
  std::vector<Message> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back(make_message(app.id));
  auto kept = make_message(other.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                if (auto st = tx.expunge_message_payload(app.id, msgs[1].id); !st.ok()) return st;  // already
                return tx.insert_message(kept);
              }).ok());
  auto batch = [&](const std::string& after) {
    std::optional<Tx::ExpungeBatch> out;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.expunge_payloads_after(app.id, after, 2);
                  if (!r.ok()) return r.take_error();
                  out = *r;
                  return {};
                }).ok());
    return out.value_or(Tx::ExpungeBatch{-1, std::nullopt});
  };
  auto b1 = batch("");
  EXPECT_EQ(b1.expunged, 1);  // msgs[1]'s payload was gone already
  EXPECT_EQ(b1.last_id, msgs[1].id);
  auto b2 = batch(*b1.last_id);
  EXPECT_EQ(b2.expunged, 2);
  EXPECT_EQ(b2.last_id, msgs[3].id);
  auto b3 = batch(*b2.last_id);
  EXPECT_EQ(b3.expunged, 1);
  EXPECT_EQ(b3.last_id, msgs[4].id);
  auto b4 = batch(*b3.last_id);
  EXPECT_EQ(b4.expunged, 0);
  EXPECT_EQ(b4.last_id, std::nullopt) << "done";
  read_raw([&](Tx& tx) {
    for (const auto& m : msgs) EXPECT_EQ(tx.get_message(app.id, m.id)->payload, "") << m.id;
    EXPECT_EQ(tx.get_message(other.id, kept.id)->payload, kept.payload) << "another application's is kept";
  });
}

TEST_P(StoreContractTest, MessagePagingForwardAndBackward) {
  const auto app = make_app();
  std::vector<std::string> ids;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (int i = 0; i < 260; ++i) {
                  auto m = make_message(app.id, "t", std::nullopt, kT0 + std::chrono::milliseconds(i));
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                  ids.push_back(m.id);
                }
                return {};
              }).ok());
  ASSERT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  for (Order order : {Order::kAscending, Order::kDescending}) {
    SCOPED_TRACE(order == Order::kAscending ? "ascending" : "descending");
    std::vector<std::string> expected = ids;
    if (order == Order::kDescending) std::reverse(expected.begin(), expected.end());

    // Forward through every page.
    MessageQuery q;
    q.page.limit = 50;
    q.page.order = order;
    std::vector<std::string> seen;
    std::vector<Page<Message>> pages;
    for (;;) {
      auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
      ASSERT_TRUE(page.ok()) << page.error().detail;
      for (const auto& m : page->items) seen.push_back(m.id);
      pages.push_back(*page);
      if (page->done) break;
      ASSERT_LT(pages.size(), 10u);
      ASSERT_TRUE(page->iterator);
      EXPECT_EQ(*page->iterator, page->items.back().id);
      q.page.iterator = page->iterator;
    }
    EXPECT_EQ(seen, expected);
    ASSERT_EQ(pages.size(), 6u);  // 5 × 50 + 10
    EXPECT_EQ(pages.back().items.size(), 10u);
    EXPECT_EQ(pages.front().prev_iterator, "-" + expected.front());

    // Backward from the last page with prev_iterator, page by page, to the start.
    std::vector<std::string> back;
    q.page.iterator = pages.back().prev_iterator;
    for (int i = 4; i >= 0; --i) {
      auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
      ASSERT_TRUE(page.ok()) << page.error().detail;
      EXPECT_EQ(ids_of(page->items), ids_of(pages[i].items)) << "page " << i;
      EXPECT_EQ(page->done, i == 0) << "page " << i;  // going backward, done = nothing more before
      EXPECT_EQ(page->iterator, pages[i].iterator);
      q.page.iterator = page->prev_iterator;
    }
    // Before the first item: an empty page.
    auto before_first = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(before_first.ok());
    EXPECT_TRUE(before_first->items.empty());
    EXPECT_TRUE(before_first->done);
    EXPECT_FALSE(before_first->iterator);

    // Past the last item: an empty, done page.
    q.page.iterator = expected.back();
    auto past_end = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(past_end.ok());
    EXPECT_TRUE(past_end->items.empty());
    EXPECT_TRUE(past_end->done);
  }
}

TEST_P(StoreContractTest, MessageFilters) {
  const auto app = make_app();
  const auto other = make_app();
  std::vector<Message> msgs = {
      make_message(app.id, "user.created", std::nullopt, kT0, std::vector<std::string>{"p1", "p2"}),
      make_message(app.id, "user.deleted", std::nullopt, kT0 + std::chrono::milliseconds(10),
                   std::vector<std::string>{"p2"}),
      make_message(app.id, "invoice.paid", std::nullopt, kT0 + std::chrono::milliseconds(20)),
      make_message(app.id, "user.created", std::nullopt, kT0 + std::chrono::milliseconds(30),
                   std::vector<std::string>{"p3"}),
      make_message(other.id, "user.created", std::nullopt, kT0, std::vector<std::string>{"p1"}),
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  auto run = [&](MessageQuery q) {
    q.page.order = Order::kAscending;
    auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    EXPECT_TRUE(page.ok());
    return page.ok() ? ids_of(page->items) : std::vector<std::string>{};
  };
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(msgs[i].id);
    return out;
  };
  EXPECT_EQ(run({}), ids({0, 1, 2, 3}));
  MessageQuery q;
  q.before = kT0 + std::chrono::milliseconds(20);
  EXPECT_EQ(run(q), ids({0, 1}));
  q = {};
  q.after = kT0 + std::chrono::milliseconds(10);
  EXPECT_EQ(run(q), ids({2, 3}));
  q.before = kT0 + std::chrono::milliseconds(30);
  EXPECT_EQ(run(q), ids({2}));
  q = {};
  q.event_types = {"user.created"};
  EXPECT_EQ(run(q), ids({0, 3}));
  q.event_types = {"user.created", "invoice.paid"};
  EXPECT_EQ(run(q), ids({0, 2, 3}));
  q = {};
  q.channel = "p2";
  EXPECT_EQ(run(q), ids({0, 1}));
  q.event_types = {"user.deleted"};
  EXPECT_EQ(run(q), ids({1}));
  q = {};
  q.channel = "p1";
  EXPECT_EQ(run(q), ids({0}));
  q.channel = "nope";
  EXPECT_EQ(run(q), ids({}));

  // Filters combine with paging.
  q = {};
  q.event_types = {"user.created", "user.deleted"};
  q.page.limit = 2;
  q.page.order = Order::kAscending;
  auto p1 = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(ids_of(p1->items), ids({0, 1}));
  EXPECT_FALSE(p1->done);
  q.page.iterator = p1->iterator;
  auto p2 = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(ids_of(p2->items), ids({3}));
  EXPECT_TRUE(p2->done);
}

// ---- Attempts
// ------------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, AttemptsListedByMessageAndByEndpoint) {
  const auto app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto m1 = make_message(app.id);
  const auto m2 = make_message(app.id);
  std::vector<Attempt> atts;
  for (const auto* m : {&m1, &m2})
    for (const auto* e : {&ep1, &ep2})
      for (int i = 0; i < 3; ++i) atts.push_back(make_attempt(app.id, m->id, e->id));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (const auto& a : atts)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  auto by_msg =
      read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_message(app.id, m1.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  ASSERT_EQ(by_msg->items.size(), 6u);
  for (const auto& a : by_msg->items) EXPECT_EQ(a.msg_id, m1.id);
  const auto& first = by_msg->items.front();
  EXPECT_EQ(first.id, atts[0].id);
  EXPECT_EQ(first.endpoint_id, atts[0].endpoint_id);
  EXPECT_EQ(first.url, atts[0].url);
  EXPECT_EQ(first.status, atts[0].status);
  EXPECT_EQ(first.response_status_code, atts[0].response_status_code);
  EXPECT_EQ(first.response, atts[0].response);
  EXPECT_EQ(first.response_duration_ms, atts[0].response_duration_ms);
  EXPECT_EQ(first.trigger_type, atts[0].trigger_type);
  EXPECT_EQ(first.created_at, atts[0].created_at);

  PageQuery q;
  q.limit = 4;
  q.order = Order::kDescending;
  auto by_ep = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep2.id, q); });
  ASSERT_TRUE(by_ep.ok());
  EXPECT_EQ(ids_of(by_ep->items),
            (std::vector<std::string>{atts[11].id, atts[10].id, atts[9].id, atts[5].id}));
  EXPECT_FALSE(by_ep->done);
  q.iterator = by_ep->iterator;
  by_ep = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep2.id, q); });
  ASSERT_TRUE(by_ep.ok());
  EXPECT_EQ(ids_of(by_ep->items), (std::vector<std::string>{atts[4].id, atts[3].id}));
  EXPECT_TRUE(by_ep->done);
}

// One attempt by (application, message, id); expunging its response keeps everything else.
TEST_P(StoreContractTest, AnAttemptIsReadByIdAndItsResponseCanBeExpunged) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto m1 = make_message(app.id);
  const auto m2 = make_message(app.id);
  const auto a1 = make_attempt(app.id, m1.id, ep.id);
  const auto a2 = make_attempt(app.id, m1.id, ep.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_attempt(a1); !st.ok()) return st;
                return tx.insert_attempt(a2);
              }).ok());
  auto got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a1.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, a1.id);
  EXPECT_EQ(got->response, "unavailable");
  EXPECT_EQ(got->response_status_code, 503);
  // The message is part of the key: the same attempt id under another message (or app) is not found.
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m2.id, a1.id); }).error().code,
            Errc::kNotFound);
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt("app_other", m1.id, a1.id); }).error().code,
            Errc::kNotFound);

  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_attempt_response(app.id, m1.id, a1.id); }).ok());
  got = read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a1.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->response, "");
  EXPECT_EQ(got->response_status_code, 503);
  EXPECT_EQ(got->created_at, a1.created_at);
  EXPECT_EQ(read<Attempt>([&](Tx& tx) { return tx.get_attempt(app.id, m1.id, a2.id); })->response,
            "unavailable");
  EXPECT_EQ(write([&](Tx& tx) { return tx.expunge_attempt_response(app.id, m2.id, a2.id); }).error().code,
            Errc::kNotFound);
}

// ---- Idempotency
// ---------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, IdempotencyPutGetReplacePurge) {
  EXPECT_EQ(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); }).error().code,
            Errc::kNotFound);
  IdempotencyRecord r{"k1", "hash-1", 202, R"({"id":"msg_1"})", kT0};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(r); }).ok());
  auto got = read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->key, "k1");
  EXPECT_EQ(got->request_hash, "hash-1");
  EXPECT_EQ(got->status, 202);
  EXPECT_EQ(got->body, r.body);
  EXPECT_EQ(got->created_at, kT0);

  IdempotencyRecord r2{"k1", "hash-2", 409, "{}", kT0 + std::chrono::seconds(5)};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(r2); }).ok());
  got = read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->request_hash, "hash-2");
  EXPECT_EQ(got->status, 409);
  EXPECT_EQ(got->created_at, r2.created_at);

  IdempotencyRecord old{"k0", "h", 200, "{}", kT0 - std::chrono::hours(1)};
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_idempotency(old); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.purge_idempotency(kT0); }).ok());
  EXPECT_EQ(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k0"); }).error().code,
            Errc::kNotFound);
  EXPECT_TRUE(read<IdempotencyRecord>([](Tx& tx) { return tx.get_idempotency("k1"); }).ok());
}

TEST_P(StoreContractTest, MessageIdempotencyKeyIsUniquePerApplicationUntilCleared) {
  const auto app = make_app("idem-a");
  const auto other = make_app("idem-b");
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(other); }).ok());
  auto keyed = make_message(app.id);
  keyed.idempotency_key = "key-1";
  keyed.request_hash = "hash-1";
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(keyed); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return insert_copy(tx, make_message(app.id)); }).ok());  // no key

  auto got = read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); });
  ASSERT_TRUE(got.ok());
  expect_same(*got, keyed);
  EXPECT_EQ(got->idempotency_key, std::optional<std::string>("key-1"));
  EXPECT_EQ(got->request_hash, "hash-1");
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(other.id, "key-1"); })
                .error()
                .code,
            Errc::kNotFound);

  // The same key again in the same application is a conflict (naming the key); in another one it is free.
  auto again = make_message(app.id);
  again.idempotency_key = "key-1";
  again.request_hash = "hash-2";
  auto st = write([&](Tx& tx) { return tx.insert_message(again); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("idempotency"), std::string::npos) << st.error().detail;
  auto elsewhere = again;
  elsewhere.app_id = other.id;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(elsewhere); }).ok());

  // Cleared (expired): the message stays, the key is free for a new message.
  ASSERT_TRUE(write([&](Tx& tx) { return tx.clear_message_idempotency_key(app.id, keyed.id); }).ok());
  EXPECT_TRUE(read<Message>([&](Tx& tx) { return tx.get_message(app.id, keyed.id); }).ok());
  EXPECT_EQ(
      read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); }).error().code,
      Errc::kNotFound);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(again); }).ok());
  got = read<Message>([&](Tx& tx) { return tx.get_message_by_idempotency_key(app.id, "key-1"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, again.id);
  EXPECT_EQ(got->request_hash, "hash-2");
}

TEST_P(StoreContractTest, SourceCrudByIdAndUid) {
  Source src;
  src.id = new_id(id_prefix::kSource);
  src.uid = "github-main";
  src.app_id = new_id(id_prefix::kApplication);
  src.config = R"({"verifier":{"type":"github"}})";
  src.revision = 1;
  src.created_at = kT0;
  src.updated_at = kT0 + std::chrono::milliseconds(2);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source(src); }).ok());
  for (const std::string& key : {src.id, std::string("github-main")}) {
    auto got = read<Source>([&](Tx& tx) { return tx.get_source(key); });
    ASSERT_TRUE(got.ok()) << key;
    EXPECT_EQ(got->id, src.id);
    EXPECT_EQ(got->uid, src.uid);
    EXPECT_EQ(got->app_id, src.app_id);
    EXPECT_EQ(got->config, src.config);
    EXPECT_EQ(got->revision, 1);
    EXPECT_EQ(got->created_at, src.created_at);
    EXPECT_EQ(got->updated_at, src.updated_at);
  }
  Source other = src;
  other.id = new_id(id_prefix::kSource);
  auto st = write([&](Tx& tx) { return tx.insert_source(other); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  EXPECT_NE(st.error().detail.find("uid"), std::string::npos);
  other.uid = std::nullopt;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source(other); }).ok());
  other.uid = "github-main";
  EXPECT_EQ(write([&](Tx& tx) { return tx.update_source(other); }).error().code, Errc::kConflict);

  auto updated = src;
  updated.uid = "renamed";
  updated.config = R"({"verifier":{"type":"stripe"}})";
  updated.revision = 2;
  updated.updated_at = kT0 + std::chrono::seconds(9);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_source(updated); }).ok());
  auto got = read<Source>([&](Tx& tx) { return tx.get_source("renamed"); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->config, updated.config);
  EXPECT_EQ(got->revision, 2);
  EXPECT_EQ(got->updated_at, updated.updated_at);
  EXPECT_EQ(read<Source>([&](Tx& tx) { return tx.get_source("github-main"); }).error().code, Errc::kNotFound);

  PageQuery first;
  first.limit = 1;
  auto page = read<Page<Source>>([&](Tx& tx) { return tx.list_sources(first); });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, src.id);
  EXPECT_FALSE(page->done);

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_source(src.id); }).ok());
  EXPECT_EQ(read<Source>([&](Tx& tx) { return tx.get_source(src.id); }).error().code, Errc::kNotFound);
  EXPECT_EQ(write([&](Tx& tx) { return tx.delete_source(src.id); }).error().code, Errc::kNotFound);
  auto missing = src;
  EXPECT_EQ(write([&](Tx& tx) { return tx.update_source(missing); }).error().code, Errc::kNotFound);
}

// ---- Transactions and group commit
// ---------------------------------------------------------------------------

TEST_P(StoreContractTest, ReadSeesOneSnapshotAndWriteSeesItsOwnChanges) {
  const auto app = make_app("snap");
  // Within one write function, a later operation sees an earlier one.
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                auto got = tx.get_application("snap");
                if (!got.ok()) return got.take_error();
                return tx.insert_endpoint(make_endpoint(got->id));
              }).ok());
  read_raw([&](Tx& tx) {
    auto list = tx.list_endpoints(app.id, PageQuery{});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->items.size(), 1u);
  });
}

TEST_P(StoreContractTest, ConcurrentWritersAreAllAcknowledgedAndBatched) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;

  // A function shared a batch with an earlier one if, when it ran, fewer write dones had been delivered than
  // functions had run before it (in a batch of one, every earlier function is already acknowledged).
  std::atomic<int> ran{0};
  std::atomic<int> acked{0};
  std::atomic<int> shared_batch{0};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = kThreads * kPerThread;
  std::vector<std::vector<std::string>> ids(kThreads);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto m = make_message(app.id, "t", "evt-" + std::to_string(t) + "-" + std::to_string(i));
        ids[t].push_back(*m.event_id);
        store_->submit_write(
            [&, m](Tx& tx) mutable {
              if (acked.load() < ran.fetch_add(1)) shared_batch.fetch_add(1);
              return tx.insert_message(m);
            },
            [&](Status st) {
              if (!st.ok()) failures.fetch_add(1);
              acked.fetch_add(1);
              std::lock_guard lk(mu);
              if (--outstanding == 0) cv.notify_all();
            });
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return outstanding == 0; });
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
  EXPECT_GT(shared_batch.load(), 0) << "no two writes ever shared a batch";

  std::set<std::string> stored;
  MessageQuery q;
  q.page.limit = 250;
  q.page.order = Order::kAscending;
  for (;;) {
    auto page = read<Page<Message>>([&](Tx& tx) { return tx.list_messages(app.id, q); });
    ASSERT_TRUE(page.ok());
    for (const auto& m : page->items) stored.insert(*m.event_id);
    if (page->done) break;
    q.page.iterator = page->iterator;
  }
  EXPECT_EQ(stored.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& per_thread : ids)
    for (const auto& id : per_thread) ASSERT_TRUE(stored.count(id)) << id;
}

TEST_P(StoreContractTest, FailingWriteInABatchRollsBackOnlyItself) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  auto a = make_message(app.id);
  auto b = make_message(app.id);
  auto c = make_message(app.id);
  auto dup = make_message(app.id, "t", "evt-dup");
  auto dup2 = make_message(app.id, "t", "evt-dup");

  // Queue everything behind a held writer so the functions share one batch.
  WriterGate gate;
  gate.hold(*store_);
  std::vector<std::promise<Status>> done(4);
  auto submit = [&](int i, Store::WriteFn fn) {
    store_->submit_write(std::move(fn), [&done, i](Status st) { done[i].set_value(std::move(st)); });
  };
  submit(0, [&](Tx& tx) { return tx.insert_message(a); });
  submit(1, [&](Tx& tx) -> Status {
    // Changes first, then fail: the changes must be undone.
    if (auto st = tx.insert_message(b); !st.ok()) return st;
    if (auto st = tx.put_idempotency({"k-b", "h", 200, "{}", kT0}); !st.ok()) return st;
    return Error::validation("body.x", "rejected on purpose");
  });
  submit(2, [&](Tx& tx) -> Status {
    if (auto st = tx.insert_message(c); !st.ok()) return st;
    return tx.insert_message(dup);
  });
  submit(3, [&](Tx& tx) { return tx.insert_message(dup2); });  // conflicts with fn 2's event id
  gate.release();

  std::vector<Status> results;
  for (auto& p : done) results.push_back(p.get_future().get());
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, Errc::kValidation);
  EXPECT_EQ(results[1].error().field, "body.x");
  EXPECT_TRUE(results[2].ok());
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].error().code, Errc::kConflict);

  read_raw([&](Tx& tx) {
    EXPECT_TRUE(tx.get_message(app.id, a.id).ok());
    EXPECT_EQ(tx.get_message(app.id, b.id).error().code, Errc::kNotFound);
    EXPECT_EQ(tx.get_idempotency("k-b").error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.get_message(app.id, c.id).ok());
    auto by_event = tx.get_message(app.id, "evt-dup");
    ASSERT_TRUE(by_event.ok());
    EXPECT_EQ(by_event->id, dup.id);
  });
}

TEST_P(StoreContractTest, StopFinishesQueuedWorkThenRefuses) {
  const auto app = make_app();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  constexpr int kQueued = 200;
  std::vector<std::string> ids;
  std::atomic<int> ok{0};
  std::atomic<int> called{0};

  WriterGate gate;
  gate.hold(*store_);
  for (int i = 0; i < kQueued; ++i) {
    auto m = make_message(app.id, "t", "queued-" + std::to_string(i));  // found by its event id
    ids.push_back(*m.event_id);
    store_->submit_write([m](Tx& tx) mutable { return tx.insert_message(m); },
                         [&](Status st) {
                           if (st.ok()) ok.fetch_add(1);
                           called.fetch_add(1);
                         });
  }
  std::thread stopper([&] { store_->stop(); });
  gate.release();
  stopper.join();
  // stop() returned: everything queued before it has been committed and acknowledged.
  EXPECT_EQ(called.load(), kQueued);
  EXPECT_EQ(ok.load(), kQueued);

  // Later submissions are refused at once (done runs before submit_write returns).
  std::optional<Status> late;
  store_->submit_write(
      [](Tx&) -> Status {
        ADD_FAILURE() << "ran after stop";
        return {};
      },
      [&](Status st) { late = std::move(st); });
  ASSERT_TRUE(late.has_value());
  ASSERT_FALSE(late->ok());
  EXPECT_EQ(late->error().code, Errc::kUnavailable);
  // Reads still complete, answering kUnavailable.
  bool read_done = false;
  std::optional<Errc> read_code;
  store_->submit_read(
      [&](Tx& tx) {
        auto r = tx.get_application(app.id);
        if (!r.ok()) read_code = r.error().code;
      },
      [&] { read_done = true; });
  EXPECT_TRUE(read_done);
  EXPECT_EQ(read_code, Errc::kUnavailable);
  store_->stop();  // idempotent

  reopen();
  read_raw([&](Tx& tx) {
    for (const auto& id : ids) EXPECT_TRUE(tx.get_message(app.id, id).ok()) << id;
  });
}

TEST_P(StoreContractTest, CommittedDataSurvivesReopen) {
  const auto app = make_app("durable");
  const auto ep = make_endpoint(app.id, "ep");
  auto msg = make_message(app.id, "user.created", "evt-9", kT0, std::vector<std::string>{"c"});
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_event_type(make_event_type("user.created")); !st.ok()) return st;
                if (auto st = tx.put_idempotency({"key", "h", 202, "{}", kT0}); !st.ok()) return st;
                return tx.insert_message(msg);
              }).ok());
  reopen();
  read_raw([&](Tx& tx) {
    auto a = tx.get_application("durable");
    ASSERT_TRUE(a.ok());
    expect_same(*a, app);
    auto e = tx.get_endpoint(app.id, "ep");
    ASSERT_TRUE(e.ok());
    expect_same(*e, ep);
    auto m = tx.get_message(app.id, "evt-9");
    ASSERT_TRUE(m.ok());
    expect_same(*m, msg);
    EXPECT_TRUE(tx.get_event_type("user.created").ok());
    EXPECT_TRUE(tx.get_idempotency("key").ok());
  });
  // Uniqueness survives too.
  auto st = write([&](Tx& tx) { return insert_copy(tx, make_message(app.id, "x", "evt-9")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
}

TEST_P(StoreContractTest, WritesAcknowledgedAtCommitAreVisibleAndSurviveReopen) {
  const auto app = make_app("committed");
  std::promise<Status> acked;
  store_->submit_write([&](Tx& tx) { return tx.insert_application(app); },
                       [&acked](Status st) { acked.set_value(std::move(st)); }, Ack::kCommitted);
  ASSERT_TRUE(acked.get_future().get().ok());
  read_raw([&](Tx& tx) { EXPECT_TRUE(tx.get_application("committed").ok()); });
  // A failing function is reported as such, with nothing of it kept.
  std::promise<Status> failed;
  store_->submit_write([&](Tx& tx) { return tx.insert_application(app); },
                       [&failed](Status st) { failed.set_value(std::move(st)); }, Ack::kCommitted);
  auto st = failed.get_future().get();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  reopen();
  read_raw([&](Tx& tx) { EXPECT_TRUE(tx.get_application("committed").ok()); });
}

// ---- Coroutine front door (store/async.h)
// --------------------------------------------------------------------

TEST_P(StoreContractTest, CoroutineReadAndWrite) {
  namespace asio = boost::asio;
  asio::io_context io;
  const auto app = make_app("co");
  std::optional<Result<std::string>> wrote;
  std::optional<Result<std::string>> failed;
  std::optional<Result<Application>> got;
  std::optional<Result<Application>> missing;
  std::thread::id resumed_on;

  // Coroutines take what they need by value (STYLE: no reference captures in coroutine lambdas).
  // GCC 12 destroys a non-trivially-destructible temporary created inside a co_await operand twice (e.g. a
  // lambda capturing a string, passed straight to store::write). Name such functions before co_await.
  auto body = [](Store* db, Application app, std::optional<Result<std::string>>* wrote,
                 std::optional<Result<std::string>>* failed, std::optional<Result<Application>>* got,
                 std::optional<Result<Application>>* missing,
                 std::thread::id* resumed_on) -> asio::awaitable<void> {
    auto insert = [app](Tx& tx) -> Result<std::string> {
      if (auto st = tx.insert_application(app); !st.ok()) return st.take_error();
      return app.id;
    };
    wrote->emplace(co_await store::write<std::string>(*db, insert));
    failed->emplace(co_await store::write<std::string>(*db, insert));  // uid taken now
    got->emplace(co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("co"); }));
    missing->emplace(
        co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("nope"); }));
    *resumed_on = std::this_thread::get_id();
  };
  asio::co_spawn(io, body(store_.get(), app, &wrote, &failed, &got, &missing, &resumed_on), asio::detached);
  io.run();

  ASSERT_TRUE(wrote && wrote->ok());
  EXPECT_EQ(wrote->value(), app.id);
  ASSERT_TRUE(failed && !failed->ok());
  EXPECT_EQ(failed->error().code, Errc::kConflict);
  ASSERT_TRUE(got && got->ok());
  expect_same(got->value(), app);
  ASSERT_TRUE(missing && !missing->ok());
  EXPECT_EQ(missing->error().code, Errc::kNotFound);
  EXPECT_EQ(resumed_on, std::this_thread::get_id()) << "the coroutine must resume on its own executor";

  // After stop: writes fail with kUnavailable, reads get it from the Tx.
  store_->stop();
  std::optional<Result<std::string>> late_write;
  std::optional<Result<Application>> late_read;
  auto late = [](Store* db, std::optional<Result<std::string>>* w,
                 std::optional<Result<Application>>* r) -> asio::awaitable<void> {
    w->emplace(
        co_await store::write<std::string>(*db, [](Tx&) -> Result<std::string> { return std::string("x"); }));
    r->emplace(co_await store::read<Application>(*db, [](Tx& tx) { return tx.get_application("co"); }));
  };
  io.restart();
  asio::co_spawn(io, late(store_.get(), &late_write, &late_read), asio::detached);
  io.run();
  ASSERT_TRUE(late_write && !late_write->ok());
  EXPECT_EQ(late_write->error().code, Errc::kUnavailable);
  ASSERT_TRUE(late_read && !late_read->ok());
  EXPECT_EQ(late_read->error().code, Errc::kUnavailable);
}

}  // namespace hookwire::store

// ---- Deliveries
// ----------------------------------------------------------------------------------------------

namespace hookwire::store {
namespace {

Delivery make_delivery(const Message& m, const Endpoint& ep, TimePoint due) {
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
Status insert_deliveries(Tx& tx, const Application& app, const Endpoint& ep, const Message& msg,
                         std::initializer_list<const Delivery*> deliveries) {
  if (auto st = tx.insert_application(app); !st.ok()) return st;
  if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
  for (const Delivery* d : deliveries)
    if (auto st = tx.insert_delivery(*d); !st.ok()) return st;
  return {};
}

}  // namespace

TEST_P(StoreContractTest, DeliveriesAreClaimedWhenDueUnderALeaseThatExpires) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto now_due = make_delivery(msg, ep, kT0);
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&now_due, &later}); }).ok());

  const TimePoint lease = kT0 + std::chrono::seconds(60);
  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, lease, 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].delivery.id, now_due.id);
  EXPECT_EQ(claimed[0].delivery.status, Delivery::kSending);
  EXPECT_EQ(claimed[0].delivery.next_attempt_at, lease);
  EXPECT_EQ(claimed[0].message.payload, msg.payload);
  EXPECT_EQ(claimed[0].endpoint->url, ep.url);

  // Leased: not claimed again before the lease ends, even when the other one is due; claimed again after.
  auto claim_at = [&](TimePoint t) {
    std::vector<std::string> ids;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.claim_due_deliveries(t, t + std::chrono::seconds(60), 10, 10);
                  if (!r.ok()) return r.take_error();
                  for (auto& d : *r) ids.push_back(d.delivery.id);
                  return {};
                }).ok());
    return ids;
  };
  EXPECT_EQ(claim_at(kT0 + std::chrono::seconds(5)), std::vector<std::string>{later.id});
  EXPECT_EQ(claim_at(lease), std::vector<std::string>{now_due.id});

  // Finished deliveries are never claimed again.
  Delivery done = claimed[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(done); }).ok());
  EXPECT_TRUE(claim_at(kT0 + std::chrono::hours(1000)).size() == 1u);  // only `later` (its lease ran out)

  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
}

// Without a lease: find_due_deliveries writes nothing (it runs in a read), so what it finds stays as it was
// (pending, due), and the caller's held rows are skipped as if leased; once the caller updates a delivery it
// follows its new state. The queue stats count held rows as sending.
TEST_P(StoreContractTest, DueDeliveriesFoundWithoutALeaseStayDueAndHeldOnesAreSkipped) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto first = make_delivery(msg, ep, kT0 - std::chrono::seconds(2));
  const auto second = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  const auto later = make_delivery(msg, ep, kT0 + std::chrono::seconds(5));
  ASSERT_TRUE(write([&](Tx& tx) {
                return insert_deliveries(tx, app, ep, msg, {&first, &second, &later});
              }).ok());
  auto take_at = [&](TimePoint t, const std::vector<int64_t>& held) {
    auto r = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(t, 10, 10, held); });
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.ok() && r->orphaned.empty() && r->passed_over.empty());
    return r.ok() ? std::move(r->due) : std::vector<DueDelivery>{};
  };
  auto ids = [](const std::vector<DueDelivery>& v) {
    std::vector<std::string> out;
    for (const auto& d : v) out.push_back(d.delivery.id);
    return out;
  };

  auto taken = take_at(kT0, {});
  ASSERT_EQ(ids(taken), (std::vector<std::string>{first.id, second.id}));
  EXPECT_EQ(taken[0].delivery.status, Delivery::kPending);
  EXPECT_EQ(taken[0].delivery.next_attempt_at, first.next_attempt_at);
  EXPECT_EQ(taken[0].message.payload, msg.payload);
  EXPECT_EQ(taken[0].endpoint->url, ep.url);
  ASSERT_NE(taken[0].delivery.row, 0);
  // Nothing was written: taken again by whoever does not hold them.
  EXPECT_EQ(ids(take_at(kT0, {})), (std::vector<std::string>{first.id, second.id}));

  std::vector<int64_t> held{taken[0].delivery.row, taken[1].delivery.row};
  std::sort(held.begin(), held.end());
  EXPECT_TRUE(take_at(kT0, held).empty());
  EXPECT_EQ(ids(take_at(kT0 + std::chrono::seconds(5), held)), std::vector<std::string>{later.id});
  EXPECT_EQ(ids(take_at(kT0, {held[1]})).size(), 1u);

  auto stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, held); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);  // `later`
  EXPECT_EQ(stats->sending, 2);
  EXPECT_EQ(stats->due, 0);
  EXPECT_FALSE(stats->oldest_due.has_value());

  // Recorded as delivered: no longer due, held or not; its held row no longer counts as sending.
  Delivery done = taken[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(done); }).ok());
  EXPECT_EQ(ids(take_at(kT0, {})), std::vector<std::string>{second.id});
  stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, held); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->sending, 1);
  EXPECT_EQ(stats->due, 0);
  stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, {}); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 2);
  EXPECT_EQ(stats->sending, 0);
  EXPECT_EQ(stats->due, 1);
  EXPECT_EQ(stats->oldest_due, second.next_attempt_at);
}

// find_due_deliveries reports what a claim would have put right itself: deliveries whose endpoint or message
// is gone (orphaned), and overdue ones past their endpoint's share (passed over); neither is sent.
TEST_P(StoreContractTest, FindingDueDeliveriesReportsOrphanedAndPassedOverRows) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto gone = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  std::vector<Delivery> backlog;
  for (int i = 0; i < 3; ++i) backlog.push_back(make_delivery(msg, ep, kT0 - std::chrono::seconds(10 - i)));
  const auto orphan = make_delivery(msg, gone, kT0 - std::chrono::seconds(1));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(gone); !st.ok()) return st;
                for (const auto& d : backlog)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                if (auto st = tx.insert_delivery(orphan); !st.ok()) return st;
                return tx.delete_endpoint(app.id, gone.id);
              }).ok());
  auto scan = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 1, {}); });
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->due.size(), 1u);
  EXPECT_EQ(scan->due[0].delivery.id, backlog[0].id);
  ASSERT_EQ(scan->passed_over.size(), 2u);
  EXPECT_EQ(scan->passed_over[0].id, backlog[1].id);
  EXPECT_NE(scan->passed_over[0].row, 0);
  ASSERT_EQ(scan->orphaned.size(), 1u);
  EXPECT_EQ(scan->orphaned[0].id, orphan.id);
  // Nothing was changed.
  auto again = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 1, {}); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->passed_over.size(), 2u);
  EXPECT_EQ(again->orphaned.size(), 1u);
}

// An expunged message keeps its row (empty payload) and is never offered for sending again: its due
// deliveries are reported orphaned (and a leasing claim marks them failed).
TEST_P(StoreContractTest, AnExpungedMessageKeepsItsRowButIsNeverSentAgain) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, msg.id); }).ok());
  auto got = read<Message>([&](Tx& tx) { return tx.get_message(app.id, msg.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, "");
  EXPECT_EQ(got->event_type, msg.event_type);
  EXPECT_EQ(write([&](Tx& tx) { return tx.expunge_message_payload(app.id, "msg_missing"); }).error().code,
            Errc::kNotFound);

  expect_only_delivery_orphaned(d, kT0);
}

// An endpoint disabled (by its operator, by a 410, by failing too long) is sent nothing more: its due
// deliveries are reported orphaned, and a leasing claim marks them failed, where `recover` finds them once
// the endpoint is enabled again. Svix: "If an endpoint is removed or disabled delivery attempts to the
// endpoint will be disabled as well."
TEST_P(StoreContractTest, ADisabledEndpointsDueDeliveriesAreNeverSent) {
  const auto app = make_app();
  auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&d}); }).ok());
  auto before = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 10, {}); });
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->due.size(), 1u);  // enabled: sent

  ep.disabled = true;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  expect_only_delivery_orphaned(d, kT0);
}

// A claimed delivery carries its row handle, and update_delivery uses it; a handle that names another row (or
// none) never changes the wrong delivery: the id decides.
TEST_P(StoreContractTest, AnUpdateWithAWrongRowHandleChangesOnlyTheDeliveryNamedById) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto first = make_delivery(msg, ep, kT0);
  const auto second = make_delivery(msg, ep, kT0 + std::chrono::seconds(1));
  ASSERT_TRUE(write([&](Tx& tx) { return insert_deliveries(tx, app, ep, msg, {&first, &second}); }).ok());
  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0 + std::chrono::seconds(1),
                                                 kT0 + std::chrono::seconds(60), 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_NE(claimed[0].delivery.row, claimed[1].delivery.row);

  // The first delivery's new state, carrying the second one's handle; then the second's, with an unknown one.
  Delivery done = claimed[0].delivery;
  done.status = Delivery::kSuccess;
  done.attempts = 1;
  done.row = claimed[1].delivery.row;
  Delivery retry = claimed[1].delivery;
  retry.status = Delivery::kPending;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::hours(1);
  retry.row = 987654321;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.update_delivery(done); !st.ok()) return st;
                return tx.update_delivery(retry);
              }).ok());
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, msg.id); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& d : *listed) {
    const Delivery& want = d.id == first.id ? done : retry;
    EXPECT_EQ(d.status, want.status) << d.id;
    EXPECT_EQ(d.attempts, 1) << d.id;
    EXPECT_EQ(d.next_attempt_at, want.next_attempt_at) << d.id;
  }
  // A handle does not make a deleted delivery's update succeed.
  Delivery gone = done;
  gone.id = "dlv_does_not_exist";
  auto st = write([&](Tx& tx) { return tx.update_delivery(gone); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

TEST_P(StoreContractTest, AClaimTakesAShareOfEachEndpointAndMovesTheRestBehind) {
  const auto app = make_app();
  auto busy = make_endpoint(app.id);
  auto other = make_endpoint(app.id);
  other.uid = "other";
  const auto msg = put(make_message(app.id));
  std::vector<Delivery> backlog;  // the busy endpoint's: the oldest due work
  for (int i = 0; i < 12; ++i)
    backlog.push_back(make_delivery(msg, busy, kT0 - std::chrono::seconds(100 - i)));
  const auto others = make_delivery(msg, other, kT0 - std::chrono::seconds(10));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(busy); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(other); !st.ok()) return st;
                for (const auto& d : backlog)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                return tx.insert_delivery(others);
              }).ok());
  auto claim = [&](TimePoint t, int limit, int per_endpoint) {
    std::vector<std::string> ids;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.claim_due_deliveries(t, t + std::chrono::seconds(60), limit, per_endpoint);
                  if (!r.ok()) return r.take_error();
                  for (auto& d : *r) ids.push_back(d.delivery.id);
                  return {};
                }).ok());
    return ids;
  };
  // limit 2, share 1: the window (4 x 2 + 1 rows) sees only the busy endpoint: one of its deliveries is
  // taken, the other eight it read are moved behind (due at kT0).
  EXPECT_EQ(claim(kT0, 2, 1), std::vector<std::string>{backlog[0].id});
  // Next claim: the three unread ones of the backlog are now the oldest, then the other endpoint's.
  EXPECT_EQ(claim(kT0, 2, 1), (std::vector<std::string>{backlog[9].id, others.id}));
  auto stats = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(kT0, {}); });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->sending, 3);
  EXPECT_EQ(stats->pending, 10);
  EXPECT_EQ(stats->due, 10);  // everything passed over is still due, none is lost
}

TEST_P(StoreContractTest, QueueStatsCountLiveDeliveriesAndFindTheOldestDue) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  auto stats_at = [&](TimePoint t) {
    auto r = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(t, {}); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : DeliveryQueueStats{};
  };
  EXPECT_EQ(stats_at(kT0).pending, 0);
  EXPECT_FALSE(stats_at(kT0).oldest_due.has_value());

  auto old_due = make_delivery(msg, ep, kT0 - std::chrono::seconds(30));
  auto due = make_delivery(msg, ep, kT0 - std::chrono::seconds(1));
  auto future = make_delivery(msg, ep, kT0 + std::chrono::seconds(60));
  auto leased = make_delivery(msg, ep, kT0 + std::chrono::seconds(45));
  leased.status = Delivery::kSending;
  auto done = make_delivery(msg, ep, kT0 - std::chrono::hours(1));
  done.status = Delivery::kSuccess;
  auto dead = make_delivery(msg, ep, kT0 - std::chrono::hours(1));
  dead.status = Delivery::kFailed;
  ASSERT_TRUE(write([&](Tx& tx) {
                return insert_deliveries(tx, app, ep, msg, {&old_due, &due, &future, &leased, &done, &dead});
              }).ok());
  auto now = stats_at(kT0);
  EXPECT_EQ(now.pending, 3);
  EXPECT_EQ(now.sending, 1);
  EXPECT_EQ(now.due, 2);
  EXPECT_EQ(now.oldest_due, kT0 - std::chrono::seconds(30));
  // An expired lease is due too (its dispatcher is gone).
  auto later = stats_at(kT0 + std::chrono::seconds(50));
  EXPECT_EQ(later.due, 3);
}

// The queue figures stay exact through a delivery's whole life, whatever the path: fan-out, a store lease, a
// retry, success, a dead letter, a requeue, a rolled-back write, the release of leases at start-up, a
// reopen, and the deletion of the application (issue #18: the figures are no longer counted per scrape).
TEST_P(StoreContractTest, QueueStatsStayExactThroughTheDeliveryLifecycle) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  auto stats = [&](TimePoint t = kT0) {
    auto r = read<DeliveryQueueStats>([&](Tx& tx) { return tx.delivery_queue_stats(t, {}); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : DeliveryQueueStats{};
  };
  auto expect = [&](int64_t pending, int64_t sending, int64_t due, const char* when) {
    const auto s = stats();
    EXPECT_EQ(s.pending, pending) << when;
    EXPECT_EQ(s.sending, sending) << when;
    EXPECT_EQ(s.due, due) << when;
  };
  expect(0, 0, 0, "empty");
  // One message each: a requeue takes only a message's latest delivery to the endpoint.
  const auto msg2 = put(make_message(app.id));
  const auto msg3 = put(make_message(app.id));
  auto a = make_delivery(msg, ep, kT0 - std::chrono::seconds(3));
  auto b = make_delivery(msg2, ep, kT0 - std::chrono::seconds(2));
  auto c = make_delivery(msg3, ep, kT0 + std::chrono::seconds(60));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = insert_deliveries(tx, app, ep, msg, {&a}); !st.ok()) return st;
                if (auto st = tx.insert_delivery(b); !st.ok()) return st;
                return tx.insert_delivery(c);
              }).ok());
  expect(3, 0, 2, "fan-out");

  // A write that fails after inserting changes nothing.
  auto d = make_delivery(msg, ep, kT0);
  EXPECT_FALSE(write([&](Tx& tx) -> Status {
                 if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                 return Error::internal("rolled back");
               }).ok());
  expect(3, 0, 2, "rolled back");

  std::vector<DueDelivery> claimed;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, kT0 + std::chrono::seconds(30), 10, 10);
                if (!r.ok()) return r.take_error();
                claimed = std::move(*r);
                return {};
              }).ok());
  ASSERT_EQ(claimed.size(), 2u);
  expect(1, 2, 0, "leased in the store");
  EXPECT_EQ(stats(kT0 + std::chrono::seconds(31)).due, 2) << "expired leases are due";

  Delivery ok = claimed[0].delivery;
  ok.status = Delivery::kSuccess;
  ok.attempts = 1;
  Delivery retry = claimed[1].delivery;
  retry.status = Delivery::kPending;
  retry.attempts = 1;
  retry.next_attempt_at = kT0 + std::chrono::seconds(5);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.update_delivery(ok); !st.ok()) return st;
                return tx.update_delivery(retry);
              }).ok());
  expect(2, 0, 0, "one delivered, one to retry");

  retry.status = Delivery::kFailed;
  retry.attempts = 2;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(retry); }).ok());
  expect(1, 0, 0, "a dead letter");

  int requeued = -1;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.requeue_failed_deliveries(app.id, ep.id, kT0 - std::chrono::hours(1),
                                                      kT0 + std::chrono::hours(1), kT0);
                if (!r.ok()) return r.take_error();
                requeued = *r;
                return {};
              }).ok());
  ASSERT_EQ(requeued, 1);
  expect(2, 0, 1, "requeued");

  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.claim_due_deliveries(kT0, kT0 + std::chrono::seconds(30), 10, 10);
                return r.ok() ? Status{} : Status(r.take_error());
              }).ok());
  expect(1, 1, 0, "leased again");
  reopen();
  expect(1, 1, 0, "reopened");
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.release_all_leases(kT0);
                return r.ok() ? Status{} : Status(r.take_error());
              }).ok());
  expect(2, 0, 1, "leases released");

  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  expect(0, 0, 0, "application deleted");
}

TEST_P(StoreContractTest, ADeliveryWhoseEndpointIsGoneFailsInsteadOfBeingClaimed) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const auto msg = put(make_message(app.id));
  const auto d = make_delivery(msg, ep, kT0);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = insert_deliveries(tx, app, ep, msg, {&d}); !st.ok()) return st;
                return tx.delete_endpoint(app.id, ep.id);
              }).ok());
  expect_claim_fails_the_only_delivery(app.id, msg.id, kT0);
}

namespace {
Delivery make_delivery(const Message& m, const Endpoint& ep, int status, int attempts) {
  Delivery d = make_delivery(m, ep, kT0);
  d.status = status;
  d.attempts = attempts;
  return d;
}
}  // namespace

// The API's delivery views: only the latest delivery of each (message, endpoint) counts, statuses are
// reported as Svix does (pending before the first attempt, sending while retrying).
TEST_P(StoreContractTest, DeliveryStatusListingsCountTheLatestDeliveryPerMessageAndEndpoint) {
  const auto app = make_app();
  const auto other_app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto gone = make_endpoint(app.id);
  const auto m1 = put(make_message(app.id, "a.one", std::nullopt, kT0, std::vector<std::string>{"c1"}));
  const auto m2 = put(make_message(app.id, "b.two", std::nullopt, kT0 + std::chrono::seconds(1)));
  const auto m3 = put(make_message(app.id, "a.one", std::nullopt, kT0 + std::chrono::seconds(2)));
  const auto other_msg = put(make_message(other_app.id));
  std::vector<Delivery> ds{
      make_delivery(m1, ep1, Delivery::kSuccess, 1),  // 0: success
      make_delivery(m1, ep2, Delivery::kPending, 0),  // 1: pending (never tried)
      make_delivery(m2, ep1, Delivery::kPending, 2),  // 2: retrying -> reported "sending"
      make_delivery(m2, ep2, Delivery::kSending, 0),  // 3: leased, first try -> reported "pending"
      make_delivery(m3, ep1, Delivery::kFailed, 3),   // 4: failed, then resent (5)
      make_delivery(m3, ep1, Delivery::kPending, 0),  // 5: the resend: latest of (m3, ep1)
      make_delivery(m3, ep2, Delivery::kFailed, 3),   // 6: dead letter
      make_delivery(m1, gone, Delivery::kFailed, 1),  // 7: its endpoint is deleted below
  };
  ds[5].manual = true;
  ds[6].created_at = kT0 + std::chrono::hours(1);
  Delivery other = make_delivery(other_msg, ep1, Delivery::kFailed, 1);
  other.app_id = other_app.id;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other_app})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (const auto* e : {&ep1, &ep2, &gone})
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                for (const auto& d : ds)
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                if (auto st = tx.insert_delivery(other); !st.ok()) return st;
                return tx.delete_endpoint(app.id, gone.id);
              }).ok());

  EXPECT_EQ(reported_status(ds[0]), Delivery::kSuccess);
  EXPECT_EQ(reported_status(ds[2]), Delivery::kSending);
  EXPECT_EQ(reported_status(ds[3]), Delivery::kPending);

  auto endpoint_messages = [&](const Endpoint& ep, DeliveryQuery q) {
    auto r = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep.id, q); });
    EXPECT_TRUE(r.ok());
    std::vector<std::string> out;
    for (const auto& md : r->items) out.push_back(md.message.id + "/" + md.delivery.id);
    return out;
  };
  auto pair = [](const Message& m, const Delivery& d) { return m.id + "/" + d.id; };
  DeliveryQuery q;
  q.page.order = Order::kDescending;
  EXPECT_EQ(endpoint_messages(ep1, q),
            (std::vector<std::string>{pair(m3, ds[5]), pair(m2, ds[2]), pair(m1, ds[0])}));
  q.status = Delivery::kSending;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m2, ds[2])});
  q.status = Delivery::kPending;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m3, ds[5])});
  EXPECT_EQ(endpoint_messages(ep2, q), (std::vector<std::string>{pair(m2, ds[3]), pair(m1, ds[1])}));
  q.status = Delivery::kFailed;
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{});
  EXPECT_EQ(endpoint_messages(ep2, q), std::vector<std::string>{pair(m3, ds[6])});
  q.status.reset();
  q.event_types = {"a.one"};
  EXPECT_EQ(endpoint_messages(ep1, q), (std::vector<std::string>{pair(m3, ds[5]), pair(m1, ds[0])}));
  q.event_types.clear();
  q.channel = "c1";
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m1, ds[0])});
  q.channel.reset();
  q.after = kT0;
  q.before = kT0 + std::chrono::seconds(2);
  EXPECT_EQ(endpoint_messages(ep1, q), std::vector<std::string>{pair(m2, ds[2])});

  // Paging by message id, both ways.
  DeliveryQuery paged;
  paged.page.limit = 2;
  auto first =
      read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep1.id, paged); });
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[0].message.id, m1.id);
  EXPECT_FALSE(first->done);
  paged.page.iterator = first->iterator;
  auto second =
      read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_endpoint_messages(app.id, ep1.id, paged); });
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].message.id, m3.id);
  EXPECT_TRUE(second->items[0].delivery.manual);
  EXPECT_EQ(second->items[0].message.payload, m3.payload);
  EXPECT_TRUE(second->done);

  // A message's endpoints: existing ones only, with the latest delivery.
  auto by_msg = read<Page<EndpointDelivery>>(
      [&](Tx& tx) { return tx.list_message_endpoints(app.id, m1.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  ASSERT_EQ(by_msg->items.size(), 2u);
  std::set<std::string> seen;
  for (const auto& ed : by_msg->items) {
    seen.insert(ed.endpoint.id);
    EXPECT_EQ(ed.delivery.id, ed.endpoint.id == ep1.id ? ds[0].id : ds[1].id);
    if (ed.endpoint.id == ep1.id) expect_same(ed.endpoint, ep1);
  }
  EXPECT_EQ(seen, (std::set<std::string>{ep1.id, ep2.id}));
  by_msg = read<Page<EndpointDelivery>>(
      [&](Tx& tx) { return tx.list_message_endpoints(app.id, m3.id, PageQuery{}); });
  ASSERT_TRUE(by_msg.ok());
  for (const auto& ed : by_msg->items) {
    if (ed.endpoint.id == ep1.id) {
      EXPECT_EQ(ed.delivery.id, ds[5].id);
    }
  }

  // Counts.
  auto counts = [&](const Endpoint& ep, std::optional<TimePoint> since, std::optional<TimePoint> until) {
    auto r = read<DeliveryCounts>(
        [&](Tx& tx) { return tx.count_endpoint_deliveries(app.id, ep.id, since, until); });
    EXPECT_TRUE(r.ok());
    return std::vector<int64_t>{r->success, r->pending, r->sending, r->fail};
  };
  EXPECT_EQ(counts(ep1, std::nullopt, std::nullopt), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(counts(ep2, std::nullopt, std::nullopt), (std::vector<int64_t>{0, 2, 0, 1}));
  EXPECT_EQ(counts(ep2, kT0 + std::chrono::minutes(1), std::nullopt), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(counts(ep2, std::nullopt, kT0 + std::chrono::minutes(1)), (std::vector<int64_t>{0, 2, 0, 0}));

  // Dead letters: the failed latest deliveries of this application only (ds[4] was resent, ds[7]'s endpoint
  // is gone but the dead letter stays).
  DeliveryQuery dq;
  dq.page.order = Order::kDescending;
  auto dead = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_failed_deliveries(app.id, dq); });
  ASSERT_TRUE(dead.ok());
  std::vector<std::string> dead_ids;
  for (const auto& md : dead->items) dead_ids.push_back(md.delivery.id);
  EXPECT_EQ(dead_ids, (std::vector<std::string>{ds[7].id, ds[6].id}));
  dq.event_types = {"b.two"};
  dead = read<Page<MessageDelivery>>([&](Tx& tx) { return tx.list_failed_deliveries(app.id, dq); });
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->items.empty());

  // Recovery requeues the endpoint's failed latest deliveries created in [since, until): not ds[4] (resent).
  auto requeue = [&](const Endpoint& ep, TimePoint since, TimePoint until) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r =
                      tx.requeue_failed_deliveries(app.id, ep.id, since, until, kT0 + std::chrono::hours(2));
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(requeue(ep1, kT0, kT0 + std::chrono::hours(5)), 0);
  EXPECT_EQ(requeue(ep2, kT0, kT0 + std::chrono::minutes(1)), 0);  // ds[6] was created an hour later
  EXPECT_EQ(requeue(ep2, kT0, kT0 + std::chrono::hours(5)), 1);
  EXPECT_EQ(counts(ep2, std::nullopt, std::nullopt), (std::vector<int64_t>{0, 3, 0, 0}));
  {
    // A recovered delivery's next attempt is a manual one, as a resend's is.
    auto recovered =
        read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, m3.id); });
    ASSERT_TRUE(recovered.ok());
    for (const auto& d : *recovered) {
      if (d.id == ds[6].id) {
        EXPECT_TRUE(d.manual);
      }
    }
  }

  // The manual flag round-trips through update_delivery.
  Delivery resent = ds[5];
  resent.manual = false;
  resent.attempts = 1;
  resent.status = Delivery::kSuccess;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(resent); }).ok());
  auto listed =
      read<std::vector<Delivery>>([&](Tx& tx) { return tx.list_deliveries_by_message(app.id, m3.id); });
  ASSERT_TRUE(listed.ok());
  for (const auto& d : *listed) {
    EXPECT_EQ(d.manual, d.id == ds[6].id);  // only the recovered one is still manual
    if (d.id == resent.id) {
      EXPECT_EQ(d.status, Delivery::kSuccess);
    }
  }
}

TEST_P(StoreContractTest, AttemptListingsFilter) {
  const auto app = make_app();
  const auto ep1 = make_endpoint(app.id);
  const auto ep2 = make_endpoint(app.id);
  const auto m1 = put(make_message(app.id, "a.one", std::nullopt, kT0, std::vector<std::string>{"c1"}));
  const auto m2 = put(make_message(app.id, "b.two"));
  auto att = [&](const Message& m, const Endpoint& e, int status, int code, int64_t at_ms) {
    Attempt a = make_attempt(app.id, m.id, e.id);
    a.status = status;
    a.response_status_code = code;
    a.created_at = kT0 + std::chrono::milliseconds(at_ms);
    return a;
  };
  const std::vector<Attempt> atts{
      att(m1, ep1, 2, 503, 10),  // 0
      att(m1, ep1, 2, 0, 20),    // 1: no response (timeout)
      att(m1, ep1, 0, 204, 30),  // 2
      att(m1, ep2, 2, 404, 40),  // 3
      att(m2, ep1, 0, 200, 50),  // 4
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (const auto& a : atts)
                  if (auto st = tx.insert_attempt(a); !st.ok()) return st;
                return {};
              }).ok());
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(atts[static_cast<size_t>(i)].id);
    return out;
  };
  auto by_msg = [&](AttemptQuery q) {
    auto r = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_message(app.id, m1.id, q); });
    EXPECT_TRUE(r.ok());
    return ids_of(r->items);
  };
  auto by_ep = [&](AttemptQuery q) {
    auto r = read<Page<Attempt>>([&](Tx& tx) { return tx.list_attempts_by_endpoint(app.id, ep1.id, q); });
    EXPECT_TRUE(r.ok());
    return ids_of(r->items);
  };
  AttemptQuery q;
  EXPECT_EQ(by_msg(q), ids({0, 1, 2, 3}));
  q.status = 0;
  EXPECT_EQ(by_msg(q), ids({2}));
  EXPECT_EQ(by_ep(q), ids({2, 4}));
  q = {};
  q.status_code_class = 500;
  EXPECT_EQ(by_msg(q), ids({0}));
  q.status_code_class = 0;
  EXPECT_EQ(by_msg(q), ids({1}));
  q.status_code_class = 200;
  EXPECT_EQ(by_ep(q), ids({2, 4}));
  q = {};
  q.endpoint_id = ep2.id;
  EXPECT_EQ(by_msg(q), ids({3}));
  q = {};
  q.after = kT0 + std::chrono::milliseconds(10);
  q.before = kT0 + std::chrono::milliseconds(40);
  EXPECT_EQ(by_msg(q), ids({1, 2}));
  q = {};
  q.event_types = {"b.two"};
  EXPECT_EQ(by_ep(q), ids({4}));
  q = {};
  q.channel = "c1";
  EXPECT_EQ(by_ep(q), ids({0, 1, 2}));
  q.page.order = Order::kDescending;
  q.page.limit = 2;
  EXPECT_EQ(by_ep(q), ids({2, 1}));
}

// ---- The feed (pull)
// -----------------------------------------------------------------------------------------

namespace {

// The value, or -1 for an error (which the comparison then reports).
int64_t value_of(const Result<int64_t>& r) { return r.ok() ? *r : -1; }

// Reads the application's feed after `after` up to the store's head, as a poller does.
FeedQuery feed_query(const std::string& app_id, int64_t after, int64_t until, int limit = 250) {
  FeedQuery q;
  q.app_id = app_id;
  q.after = after;
  q.until = until;
  q.limit = limit;
  return q;
}

}  // namespace

TEST_P(StoreContractTest, NewEndpointAndMessageFieldsRoundTripAndMessagesCarryTheirPosition) {
  const auto app = make_app();
  auto ep = make_endpoint(app.id, "sink");
  ep.pull_only = true;
  ep.thin = true;
  ep.signature_headers = "svix";
  auto keyed = make_message(app.id, "a.b");
  keyed.payload_expires_at = kT0 + std::chrono::hours(1);
  keyed.headers = R"({"x-github-event":"push"})";
  keyed.idempotency_key = "k1";
  keyed.request_hash = "h1";
  auto plain = make_message(app.id, "a.b");
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                if (auto st = tx.insert_message(keyed); !st.ok()) return st;
                return tx.insert_message(plain);
              }).ok());
  read_raw([&](Tx& tx) {
    auto e = tx.get_endpoint(app.id, "sink");
    ASSERT_TRUE(e.ok());
    expect_same(*e, ep);
    EXPECT_TRUE(e->pull_only);
    EXPECT_TRUE(e->thin);
    auto listed = tx.list_endpoints(app.id, {});
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->items.size(), 1u);
    EXPECT_TRUE(listed->items[0].pull_only && listed->items[0].thin);
    auto enabled = tx.list_enabled_endpoints(app.id);
    ASSERT_TRUE(enabled.ok());
    ASSERT_EQ(enabled->size(), 1u);
    EXPECT_TRUE((*enabled)[0].pull_only && (*enabled)[0].thin);

    auto m1 = tx.get_message(app.id, keyed.id);
    ASSERT_TRUE(m1.ok());
    expect_same(*m1, keyed);
    EXPECT_EQ(m1->payload_expires_at, keyed.payload_expires_at);
    EXPECT_EQ(m1->headers, keyed.headers);
    EXPECT_GT(m1->position, 0);
    auto m2 = tx.get_message(app.id, plain.id);
    ASSERT_TRUE(m2.ok());
    EXPECT_EQ(m2->payload_expires_at, std::nullopt);
    EXPECT_EQ(m2->headers, std::nullopt);
    EXPECT_GT(m2->position, m1->position);  // inserted after it in the same transaction
    auto by_key = tx.get_message_by_idempotency_key(app.id, "k1");
    ASSERT_TRUE(by_key.ok());
    EXPECT_EQ(by_key->position, m1->position);
    EXPECT_EQ(by_key->request_hash, "h1");
    EXPECT_EQ(by_key->headers, keyed.headers);
    MessageQuery q;
    q.page.order = Order::kAscending;
    auto page = tx.list_messages(app.id, q);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->items.size(), 2u);
    EXPECT_EQ(page->items[0].position, m1->position);
    EXPECT_EQ(page->items[1].position, m2->position);
  });
  // The endpoint's own signature headers, cleared by an update: the server's again.
  ep.signature_headers.reset();
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  EXPECT_EQ(read<Endpoint>([&](Tx& tx) { return tx.get_endpoint(app.id, "sink"); })->signature_headers,
            std::nullopt);
  // Updates keep them too.
  ep.pull_only = false;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_endpoint(ep); }).ok());
  read_raw([&](Tx& tx) {
    auto e = tx.get_endpoint(app.id, ep.id);
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(e->pull_only);
    EXPECT_TRUE(e->thin);
  });
  // A due delivery's message has its position as well.
  Delivery d;
  d.id = "dlv_1";
  d.app_id = app.id;
  d.msg_id = plain.id;
  d.endpoint_id = ep.id;
  d.next_attempt_at = kT0;
  d.created_at = d.updated_at = kT0;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_delivery(d); }).ok());
  auto scan = read<DueScan>([&](Tx& tx) { return tx.find_due_deliveries(kT0, 10, 10, {}); });
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->due.size(), 1u);
  EXPECT_GT(scan->due[0].message.position, 0);
  EXPECT_EQ(scan->due[0].message.headers, std::nullopt);
}

TEST_P(StoreContractTest, TheFeedIsInTheOrderTheWriterRanConcurrentWritesAndTheHeadCoversEveryAck) {
  const auto app = make_app();
  const auto other = make_app();
  // The listener is set before any write.
  std::mutex mu;
  std::vector<Store::FeedAdvance> advances;
  store_->set_feed_listener([&](const Store::FeedAdvance& a) {
    std::lock_guard lk(mu);
    advances.push_back(a);
  });
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_application(other);
              }).ok());
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(advances.empty()) << "no message, no advance";
  }
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::vector<std::string> ran_order;          // guarded by mu: message ids as the writer ran their functions
  std::map<std::string, int64_t> head_at_ack;  // guarded by mu
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::condition_variable cv;
  int outstanding = kThreads * kPerThread;

  // Meanwhile a reader reads up to the head again and again: what it finds there is always all there is.
  std::vector<std::vector<std::string>> snapshots;
  std::thread reader([&] {
    while (writing.load()) {
      const int64_t head = store_->feed_head();
      auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
      if (!page.ok()) {
        failures.fetch_add(1);
        return;
      }
      std::vector<std::string> ids;
      for (const auto& m : page->items) {
        EXPECT_LE(m.position, head);
        ids.push_back(m.id);
      }
      snapshots.push_back(std::move(ids));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every other message goes to another application, which this feed must not show.
        const auto& target = i % 2 ? other : app;
        auto m = make_message(target.id, "t" + std::to_string(t));
        auto id = std::make_shared<std::string>();  // the id the store gave it, for the acknowledgement
        store_->submit_write(
            [&, m, id](Tx& tx) mutable -> Status {
              auto st = tx.insert_message(m);
              *id = m.id;
              if (st.ok() && m.app_id == app.id) {
                std::lock_guard lk(mu);
                ran_order.push_back(m.id);
              }
              return st;
            },
            [&, id](Status st) {
              if (!st.ok()) failures.fetch_add(1);
              std::lock_guard lk(mu);
              head_at_ack[*id] = store_->feed_head();
              if (--outstanding == 0) cv.notify_all();
            });
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return outstanding == 0; });
  }
  writing = false;
  reader.join();
  ASSERT_EQ(failures.load(), 0);

  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head, 10000)); });
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->done);
  EXPECT_EQ(page->scanned_to, head);
  std::lock_guard lk(mu);
  ASSERT_EQ(ids_of(page->items), ran_order);
  for (size_t i = 0; i < page->items.size(); ++i) {
    const auto& m = page->items[i];
    EXPECT_EQ(m.app_id, app.id);
    if (i > 0) {
      EXPECT_GT(m.position, page->items[i - 1].position);
    }
    // Acknowledged only once readable: the head already covered it.
    EXPECT_LE(m.position, head_at_ack.at(m.id)) << m.id;
  }
  // Each read up to the head found a prefix of the final order: nothing appeared later below a head.
  for (const auto& snap : snapshots) {
    ASSERT_LE(snap.size(), ran_order.size());
    EXPECT_TRUE(std::equal(snap.begin(), snap.end(), ran_order.begin()));
  }
  // The listener: increasing heads, the last one the store's head, and every application told.
  ASSERT_FALSE(advances.empty());
  std::set<std::string> told;
  for (size_t i = 0; i < advances.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(advances[i].head, advances[i - 1].head);
    }
    std::set<std::string> distinct(advances[i].app_ids.begin(), advances[i].app_ids.end());
    EXPECT_EQ(distinct.size(), advances[i].app_ids.size()) << "an application told twice in one advance";
    told.insert(distinct.begin(), distinct.end());
  }
  EXPECT_EQ(advances.back().head, head);
  EXPECT_EQ(told, (std::set<std::string>{app.id, other.id}));
}

TEST_P(StoreContractTest, FeedFiltersLimitsAndScanLimit) {
  const auto app = make_app();
  const auto t = [](int64_t s) { return kT0 + std::chrono::seconds(s); };
  std::vector<Message> msgs{
      make_message(app.id, "a", std::nullopt, t(1), std::vector<std::string>{"c1"}),        // 0
      make_message(app.id, "b", std::nullopt, t(2), std::vector<std::string>{"c2"}),        // 1
      make_message(app.id, "a", std::nullopt, t(3)),                                        // 2
      make_message(app.id, "c", std::nullopt, t(4), std::vector<std::string>{"c1", "c3"}),  // 3
      make_message(app.id, "a", std::nullopt, t(5), std::vector<std::string>{"c2"}),        // 4
  };
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  const int64_t head = store_->feed_head();
  auto feed = [&](const FeedQuery& q) {
    auto r = read<FeedPage>([&](Tx& tx) { return tx.read_feed(q); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : FeedPage{};
  };
  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(msgs[static_cast<size_t>(i)].id);
    return out;
  };
  auto all = feed(feed_query(app.id, 0, head));
  ASSERT_EQ(ids_of(all.items), ids({0, 1, 2, 3, 4}));
  std::vector<int64_t> pos;
  for (const auto& m : all.items) pos.push_back(m.position);

  auto q = feed_query(app.id, 0, head);
  q.event_types = std::vector<std::string>{"a", "c"};
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 2, 3, 4}));
  q.channels = std::vector<std::string>{"c1", "c2"};  // the sink's: any of them
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 3, 4}));
  q.event_type = "a";  // the request's
  EXPECT_EQ(ids_of(feed(q).items), ids({0, 4}));
  q.channel = "c2";
  EXPECT_EQ(ids_of(feed(q).items), ids({4}));
  q = feed_query(app.id, 0, head);
  q.created_after = t(3);
  EXPECT_EQ(ids_of(feed(q).items), ids({3, 4}));
  q = feed_query(app.id, 0, head);
  q.channels = std::vector<std::string>{};  // a sink with an empty channel list matches nothing
  EXPECT_TRUE(feed(q).items.empty());
  q = feed_query(app.id, 0, head);
  q.event_types = std::vector<std::string>{"zzz"};
  auto none = feed(q);
  EXPECT_TRUE(none.items.empty());
  EXPECT_TRUE(none.done);
  EXPECT_EQ(none.scanned_to, head);

  // (after, until]: both bounds hold.
  auto window = feed(feed_query(app.id, pos[1], pos[3]));
  EXPECT_EQ(ids_of(window.items), ids({2, 3}));
  EXPECT_TRUE(window.done);
  EXPECT_EQ(window.scanned_to, pos[3]);

  // limit: the page ends at its last item, and says there is more.
  auto first = feed(feed_query(app.id, 0, head, 2));
  EXPECT_EQ(ids_of(first.items), ids({0, 1}));
  EXPECT_FALSE(first.done);
  EXPECT_EQ(first.scanned_to, pos[1]);
  auto rest = feed(feed_query(app.id, first.scanned_to, head, 3));
  EXPECT_EQ(ids_of(rest.items), ids({2, 3, 4}));
  EXPECT_TRUE(rest.done) << "the limit was reached with the last row: nothing more";
  EXPECT_EQ(rest.scanned_to, head);

  // scan_limit: at most that many rows examined, matching or not; scanned_to says how far.
  q = feed_query(app.id, 0, head);
  q.event_type = "c";
  q.scan_limit = 2;
  auto scanned = feed(q);
  EXPECT_TRUE(scanned.items.empty());
  EXPECT_FALSE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, pos[1]);
  q.after = scanned.scanned_to;
  scanned = feed(q);
  EXPECT_EQ(ids_of(scanned.items), ids({3}));
  EXPECT_FALSE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, pos[3]);
  q.after = scanned.scanned_to;
  scanned = feed(q);
  EXPECT_TRUE(scanned.items.empty());
  EXPECT_TRUE(scanned.done);
  EXPECT_EQ(scanned.scanned_to, head);

  // Nothing to read: after at or past until.
  auto empty = feed(feed_query(app.id, head, head));
  EXPECT_TRUE(empty.items.empty());
  EXPECT_TRUE(empty.done);
  EXPECT_EQ(empty.scanned_to, head);
  // Another application's feed is its own.
  EXPECT_TRUE(feed(feed_query(make_app().id, 0, head)).items.empty());
}

TEST_P(StoreContractTest, ARolledBackWriteLeavesNoPositionInTheFeedOrTheHead) {
  const auto app = make_app();
  std::mutex mu;
  std::vector<Store::FeedAdvance> advances;
  store_->set_feed_listener([&](const Store::FeedAdvance& a) {
    std::lock_guard lk(mu);
    advances.push_back(a);
  });
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_application(app); }).ok());
  auto kept = make_message(app.id);
  auto undone = make_message(app.id);
  // The failing function inserts a message, then fails: its message is rolled back (the batch is run again
  // with savepoints), and the head must not cover a position nobody can read.
  WriterGate gate;
  gate.hold(*store_);
  std::promise<Status> p_kept, p_undone;
  store_->submit_write([&](Tx& tx) { return tx.insert_message(kept); },
                       [&](Status st) { p_kept.set_value(std::move(st)); });
  store_->submit_write(
      [&](Tx& tx) -> Status {
        if (auto st = tx.insert_message(undone); !st.ok()) return st;
        return Error::bad_request("changed my mind");
      },
      [&](Status st) { p_undone.set_value(std::move(st)); });
  gate.release();
  ASSERT_TRUE(p_kept.get_future().get().ok());
  ASSERT_FALSE(p_undone.get_future().get().ok());
  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>([&](Tx& tx) { return tx.read_feed(feed_query(app.id, 0, head)); });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(ids_of(page->items), std::vector<std::string>{kept.id});
  EXPECT_EQ(head, page->items[0].position) << "the head is the newest committed message";
  std::lock_guard lk(mu);
  ASSERT_FALSE(advances.empty());
  EXPECT_EQ(advances.back().head, head);
  EXPECT_EQ(advances.back().app_ids, std::vector<std::string>{app.id});
}

TEST_P(StoreContractTest, FeedPositionAtStartsWithTheFirstMessageCreatedAfterATime) {
  const auto app = make_app();
  // Message ids carry their creation second and only increase in a process: times ahead of the clock, in
  // order, give ids of those times.
  const TimePoint base = ms((unix_millis(std::chrono::system_clock::now()) / 1000 + 86400) * 1000);
  auto at = [&](int64_t millis) {
    return make_message(app.id, "e", std::nullopt, base + std::chrono::milliseconds(millis));
  };
  auto m0 = at(10'000), m1 = at(20'000), m2 = at(20'500), m3 = at(30'000);
  // Created in this order, committed the other way round: a later-made message first.
  auto first_created = at(40'000), committed_first = at(40'200);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto* m : {&m0, &m1, &m2, &m3, &committed_first, &first_created})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                return {};
              }).ok());
  auto pos = [&](const Message& m) {
    auto r = read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); });
    EXPECT_TRUE(r.ok());
    return r->position;
  };
  auto position_at = [&](const std::string& app_id, int64_t millis) {
    auto r = read<int64_t>(
        [&](Tx& tx) { return tx.feed_position_at(app_id, base + std::chrono::milliseconds(millis)); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : -1;
  };
  EXPECT_EQ(value_of(read<int64_t>([](Tx& tx) { return tx.feed_start(); })), 0);
  EXPECT_EQ(position_at(app.id, 0), pos(m0) - 1);
  EXPECT_EQ(position_at(app.id, 10'000), pos(m1) - 1);  // created at t is not after t
  EXPECT_EQ(position_at(app.id, 20'000), pos(m2) - 1);  // the same second, a little later
  EXPECT_EQ(position_at(app.id, 29'999), pos(m3) - 1);
  // After 35 s, first_created is the first by id, but committed_first committed before it: the read starts
  // low enough for both.
  EXPECT_EQ(position_at(app.id, 35'000), pos(committed_first) - 1);
  EXPECT_LT(pos(committed_first), pos(first_created));
  // None younger: after the newest; an application without messages: where the log starts.
  EXPECT_EQ(position_at(app.id, 50'000), pos(first_created));
  EXPECT_EQ(position_at(make_app().id, 0), 0);
  // Reading after the position returned gives the messages created after the time.
  const int64_t head = store_->feed_head();
  auto page = read<FeedPage>(
      [&](Tx& tx) { return tx.read_feed(feed_query(app.id, position_at(app.id, 20'000), head)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items),
            (std::vector<std::string>{m2.id, m3.id, committed_first.id, first_created.id}));
}

TEST_P(StoreContractTest, FeedConsumersAreKeptPerSinkAndReplaced) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                return tx.insert_endpoint(ep);
              }).ok());
  auto get = [&](const std::string& endpoint_id, const std::string& consumer_id) {
    return read<FeedConsumer>([&](Tx& tx) { return tx.get_feed_consumer(app.id, endpoint_id, consumer_id); });
  };
  EXPECT_EQ(get(ep.id, "c1").error().code, Errc::kNotFound);
  FeedConsumer c;
  c.app_id = app.id;
  c.endpoint_id = ep.id;
  c.consumer_id = "c1";
  c.position = 7;
  c.updated_at = kT0;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_feed_consumer(c); }).ok());
  auto got = get(ep.id, "c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->app_id, app.id);
  EXPECT_EQ(got->endpoint_id, ep.id);
  EXPECT_EQ(got->consumer_id, "c1");
  EXPECT_EQ(got->position, 7);
  EXPECT_EQ(got->leased_through, 0);
  EXPECT_EQ(got->lease_until, std::nullopt);
  EXPECT_EQ(got->updated_at, kT0);
  c.position = 9;
  c.leased_through = 12;
  c.lease_until = kT0 + std::chrono::seconds(30);
  c.updated_at = kT0 + std::chrono::milliseconds(5);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.put_feed_consumer(c); }).ok());
  got = get(ep.id, "c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->position, 9);
  EXPECT_EQ(got->leased_through, 12);
  EXPECT_EQ(got->lease_until, c.lease_until);
  EXPECT_EQ(got->updated_at, c.updated_at);
  // Another consumer id, or the same id on another sink, is another consumer.
  EXPECT_EQ(get(ep.id, "c2").error().code, Errc::kNotFound);
  EXPECT_EQ(get("ep_other", "c1").error().code, Errc::kNotFound);
}

namespace {
ApiToken make_token(const std::string& app_id, std::optional<std::string> endpoint_id, std::string hash) {
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
}  // namespace

TEST_P(StoreContractTest, TokensAreStoredByHashWithTheirScopeAndExpire) {
  const auto app = make_app();
  auto poller = make_token(app.id, "ep_sink", "aa11");
  auto portal = make_token(app.id, std::nullopt, "bb22");
  portal.expires_at = kT0 + std::chrono::hours(1);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_token(poller); !st.ok()) return st;
                return tx.insert_token(portal);
              }).ok());
  auto got = read<ApiToken>([&](Tx& tx) { return tx.get_token(portal.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, ApiToken::kAppPortal);
  EXPECT_EQ(got->app_id, app.id);
  EXPECT_EQ(got->endpoint_id, std::nullopt);
  EXPECT_EQ(got->hash, "bb22");
  EXPECT_EQ(got->capabilities, portal.capabilities);
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->expires_at, portal.expires_at);
  got = read<ApiToken>([&](Tx& tx) { return tx.get_token(poller.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, ApiToken::kPoller);
  EXPECT_EQ(got->endpoint_id, "ep_sink");
  EXPECT_TRUE(got->capabilities.empty());
  EXPECT_EQ(got->expires_at, std::nullopt);
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token("tok_nope"); }).error().code, Errc::kNotFound);

  // A taken hash or id conflicts, with nothing changed.
  auto st = write([&](Tx& tx) { return tx.insert_token(make_token(app.id, "ep_x", "aa11")); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  auto same_id = make_token(app.id, "ep_x", "cc33");
  same_id.id = poller.id;
  st = write([&](Tx& tx) { return tx.insert_token(same_id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConflict);
  auto listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);

  // Expiry: set, cleared, and expired tokens deleted.
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.update_token_expiry(poller.id, kT0 + std::chrono::minutes(5)); }).ok());
  EXPECT_EQ(read<ApiToken>([&](Tx& tx) { return tx.get_token(poller.id); })->expires_at,
            kT0 + std::chrono::minutes(5));
  st = write([&](Tx& tx) { return tx.update_token_expiry("tok_nope", std::nullopt); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::minutes(5)); }).ok());
  EXPECT_EQ(read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); })->size(), 2u)
      << "expiring at the time given is not expired before it";
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::minutes(30)); }).ok());
  listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, portal.id);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_token_expiry(portal.id, std::nullopt); }).ok());
  ASSERT_TRUE(
      write([&](Tx& tx) { return tx.delete_tokens_expired_before(kT0 + std::chrono::hours(48)); }).ok());
  EXPECT_EQ(read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); })->size(), 1u)
      << "a token without expiry stays";
}

TEST_P(StoreContractTest, DeletingAnEndpointOrApplicationDeletesItsConsumersAndTokens) {
  const auto app = make_app();
  const auto other_app = make_app();
  const auto sink = make_endpoint(app.id);
  const auto other_sink = make_endpoint(app.id);
  const auto elsewhere = make_endpoint(other_app.id);
  auto consumer = [](const Endpoint& e, std::string id) {
    FeedConsumer c;
    c.app_id = e.app_id;
    c.endpoint_id = e.id;
    c.consumer_id = std::move(id);
    c.position = 1;
    c.updated_at = kT0;
    return c;
  };
  const auto sink_token = make_token(app.id, sink.id, "h1");
  const auto other_sink_token = make_token(app.id, other_sink.id, "h2");
  const auto portal_token = make_token(app.id, std::nullopt, "h3");
  const auto elsewhere_token = make_token(other_app.id, elsewhere.id, "h4");
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other_app})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                for (const auto* e : {&sink, &other_sink, &elsewhere}) {
                  if (auto st = tx.insert_endpoint(*e); !st.ok()) return st;
                  if (auto st = tx.put_feed_consumer(consumer(*e, "c")); !st.ok()) return st;
                }
                for (const auto* t : {&sink_token, &other_sink_token, &portal_token, &elsewhere_token})
                  if (auto st = tx.insert_token(*t); !st.ok()) return st;
                return {};
              }).ok());
  auto token_ids = [&] {
    std::set<std::string> out;
    auto listed = read<std::vector<ApiToken>>([](Tx& tx) { return tx.list_tokens(); });
    EXPECT_TRUE(listed.ok());
    for (const auto& t : *listed) out.insert(t.id);
    return out;
  };
  auto has_consumer = [&](const Endpoint& e) {
    return read<FeedConsumer>([&](Tx& tx) { return tx.get_feed_consumer(e.app_id, e.id, "c"); }).ok();
  };
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_endpoint(app.id, sink.id); }).ok());
  EXPECT_FALSE(has_consumer(sink));
  EXPECT_TRUE(has_consumer(other_sink));
  EXPECT_EQ(token_ids(), (std::set<std::string>{other_sink_token.id, portal_token.id, elsewhere_token.id}));
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_application(app.id); }).ok());
  EXPECT_FALSE(has_consumer(other_sink));
  EXPECT_TRUE(has_consumer(elsewhere));
  EXPECT_EQ(token_ids(), (std::set<std::string>{elsewhere_token.id}));
  // Not found is still not found.
  auto st = write([&](Tx& tx) { return tx.delete_endpoint(other_app.id, sink.id); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
}

// ---- Retention
// -----------------------------------------------------------------------------------------------

TEST_P(StoreContractTest, PruningDeletesOldMessagesWithTheirHistoryButKeepsThoseStillBeingDelivered) {
  const auto app = make_app();
  const auto ep = make_endpoint(app.id);
  const TimePoint cutoff = kT0 + std::chrono::hours(24);
  auto old_msg = [&](int i) {
    return make_message(app.id, "e", std::nullopt, kT0 + std::chrono::minutes(i));
  };
  auto plain = old_msg(1);  // with a failed attempt
  auto live = old_msg(2);   // a pending delivery: kept
  auto done = old_msg(3);   // a finished delivery and its attempt
  auto keyed = old_msg(4);  // holds an idempotency key
  keyed.idempotency_key = "key-1";
  keyed.request_hash = "h";
  auto young = make_message(app.id, "e", std::nullopt, cutoff + std::chrono::minutes(1));
  auto delivery = [&](const Message& m, int status) {
    Delivery d;
    d.id = new_id("dlv");
    d.app_id = app.id;
    d.msg_id = m.id;
    d.endpoint_id = ep.id;
    d.status = status;
    d.next_attempt_at = cutoff + std::chrono::hours(1);
    d.created_at = d.updated_at = m.created_at;
    return d;
  };
  Delivery live_delivery;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                for (auto* m : {&plain, &live, &done, &keyed, &young})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                live_delivery = delivery(live, Delivery::kPending);
                if (auto st = tx.insert_attempt(make_attempt(app.id, plain.id, ep.id)); !st.ok()) return st;
                if (auto st = tx.insert_delivery(live_delivery); !st.ok()) return st;
                if (auto st = tx.insert_delivery(delivery(done, Delivery::kSuccess)); !st.ok()) return st;
                return tx.insert_attempt(make_attempt(app.id, done.id, ep.id));
              }).ok());
  auto pos = [&](const Message& m) {
    return read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); })->position;
  };
  const int64_t keyed_pos = pos(keyed), young_pos = pos(young), live_pos = pos(live);
  auto prune = [&](int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_messages(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(prune(500), 3);
  EXPECT_EQ(prune(500), 0) << "nothing more to do";
  read_raw([&](Tx& tx) {
    for (const auto* m : {&plain, &done, &keyed})
      EXPECT_EQ(tx.get_message(app.id, m->id).error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.get_message(app.id, live.id).ok());
    EXPECT_TRUE(tx.get_message(app.id, young.id).ok());
    for (const auto* m : {&plain, &done}) {
      auto atts = tx.list_attempts_by_message(app.id, m->id, PageQuery{});
      ASSERT_TRUE(atts.ok());
      EXPECT_TRUE(atts->items.empty());
      auto ds = tx.list_deliveries_by_message(app.id, m->id);
      ASSERT_TRUE(ds.ok());
      EXPECT_TRUE(ds->empty());
    }
    EXPECT_EQ(tx.list_deliveries_by_message(app.id, live.id)->size(), 1u);
    EXPECT_EQ(tx.get_message_by_idempotency_key(app.id, "key-1").error().code, Errc::kNotFound);
    // The log now starts after the last old message; the kept one below it is read by id only.
    EXPECT_EQ(value_of(tx.feed_start()), keyed_pos);
    auto page = tx.read_feed(feed_query(app.id, *tx.feed_start(), store_->feed_head()));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(ids_of(page->items), std::vector<std::string>{young.id});
    // A seek to before the start lands on the start.
    EXPECT_EQ(value_of(tx.feed_position_at(app.id, kT0 - std::chrono::hours(1))), young_pos - 1);
  });
  EXPECT_GT(live_pos, 0);
  // The key is free again.
  auto again = make_message(app.id);
  again.idempotency_key = "key-1";
  again.request_hash = "h2";
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_message(again); }).ok());

  // Once its delivery is finished, the kept message goes too, and the start stays.
  auto finished = live_delivery;
  finished.status = Delivery::kFailed;
  ASSERT_TRUE(write([&](Tx& tx) { return tx.update_delivery(finished); }).ok());
  EXPECT_EQ(prune(500), 1);
  read_raw([&](Tx& tx) {
    EXPECT_EQ(tx.get_message(app.id, live.id).error().code, Errc::kNotFound);
    EXPECT_TRUE(tx.list_deliveries_by_message(app.id, live.id)->empty());
    EXPECT_EQ(value_of(tx.feed_start()), keyed_pos);
  });
  EXPECT_EQ(prune(500), 0);
}

TEST_P(StoreContractTest, PruningIsBoundedPerCallAndOldestFirst) {
  const auto app = make_app();
  std::vector<Message> msgs;
  for (int i = 0; i < 5; ++i)
    msgs.push_back(make_message(app.id, "e", std::nullopt, kT0 + std::chrono::seconds(i)));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto& m : msgs)
                  if (auto st = tx.insert_message(m); !st.ok()) return st;
                return {};
              }).ok());
  const TimePoint cutoff = kT0 + std::chrono::seconds(4);  // the last one is not older
  auto prune = [&](int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_messages(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  std::vector<int64_t> pos;
  for (const auto& m : msgs)
    pos.push_back(read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); })->position);
  EXPECT_EQ(prune(3), 3);
  read_raw([&](Tx& tx) {
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(tx.get_message(app.id, msgs[i].id).ok()) << i;
    EXPECT_TRUE(tx.get_message(app.id, msgs[3].id).ok());
    EXPECT_EQ(value_of(tx.feed_start()), pos[2]);
  });
  EXPECT_EQ(prune(3), 1);
  EXPECT_EQ(prune(3), 0);
  read_raw([&](Tx& tx) {
    EXPECT_TRUE(tx.get_message(app.id, msgs[4].id).ok());
    EXPECT_EQ(value_of(tx.feed_start()), pos[3]);
    auto page = tx.read_feed(feed_query(app.id, pos[3], store_->feed_head()));
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(ids_of(page->items), std::vector<std::string>{msgs[4].id});
  });
}

TEST_P(StoreContractTest, ExpiredPayloadsAreDeletedInBoundedBatches) {
  const auto app = make_app();
  auto expiring = [&](std::optional<TimePoint> at) {
    auto m = make_message(app.id);
    m.payload_expires_at = at;
    return m;
  };
  auto a = expiring(kT0 + std::chrono::hours(1));
  auto b = expiring(kT0 + std::chrono::hours(1));
  auto c = expiring(kT0 + std::chrono::hours(2));
  auto forever = expiring(std::nullopt);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                if (auto st = tx.insert_application(app); !st.ok()) return st;
                for (auto* m : {&a, &b, &c, &forever})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                return {};
              }).ok());
  auto expire = [&](TimePoint now, int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.expire_payloads(now, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  auto payload = [&](const Message& m) {
    auto r = read<Message>([&](Tx& tx) { return tx.get_message(app.id, m.id); });
    EXPECT_TRUE(r.ok());
    return r->payload;
  };
  EXPECT_EQ(expire(kT0 + std::chrono::minutes(59), 10), 0);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 1), 1);  // due at now; the limit holds
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 10), 1);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(1), 10), 0);
  EXPECT_EQ(payload(a), "");
  EXPECT_EQ(payload(b), "");
  EXPECT_EQ(payload(c), c.payload);
  // The message keeps its expiry (the API shows the payload as expired).
  EXPECT_EQ(read<Message>([&](Tx& tx) { return tx.get_message(app.id, a.id); })->payload_expires_at,
            a.payload_expires_at);
  EXPECT_EQ(expire(kT0 + std::chrono::hours(100), 10), 1);
  EXPECT_EQ(payload(c), "");
  EXPECT_EQ(payload(forever), forever.payload);
}

}  // namespace hookwire::store

namespace hookwire::store {

TEST_P(StoreContractTest, BackgroundTasksAreKeptWithTheirResultListedByFilterAndPrunedByAge) {
  auto make_task = [](std::string task, std::string status, TimePoint at) {
    BackgroundTask t;
    t.id = new_id("qtask", at);
    t.task = std::move(task);
    t.status = std::move(status);
    t.data = R"({"recovered":3})";
    t.created_at = at;
    t.updated_at = at + std::chrono::milliseconds(5);
    return t;
  };
  const auto recover = make_task("endpoint.recover", "finished", kT0);
  const auto stats = make_task("application.stats", "finished", kT0 + std::chrono::hours(1));
  const auto failed = make_task("application.stats", "failed", kT0 + std::chrono::hours(2));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* t : {&recover, &stats, &failed})
                  if (auto st = tx.insert_background_task(*t); !st.ok()) return st;
                return {};
              }).ok());
  auto got = read<BackgroundTask>([&](Tx& tx) { return tx.get_background_task(recover.id); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->task, "endpoint.recover");
  EXPECT_EQ(got->status, "finished");
  EXPECT_EQ(got->data, R"({"recovered":3})");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0 + std::chrono::milliseconds(5));
  EXPECT_EQ(read<BackgroundTask>([&](Tx& tx) { return tx.get_background_task("qtask_nope"); }).error().code,
            Errc::kNotFound);
  EXPECT_EQ(write([&](Tx& tx) { return tx.insert_background_task(recover); }).error().code, Errc::kConflict);

  auto ids = [&](BackgroundTaskQuery q) {
    std::vector<std::string> out;
    auto page = read<Page<BackgroundTask>>([&](Tx& tx) { return tx.list_background_tasks(q); });
    EXPECT_TRUE(page.ok());
    for (const auto& t : page->items) out.push_back(t.id);
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::string>{recover.id, stats.id, failed.id}));
  BackgroundTaskQuery newest_first;
  newest_first.page.order = Order::kDescending;
  newest_first.page.limit = 2;
  EXPECT_EQ(ids(newest_first), (std::vector<std::string>{failed.id, stats.id}));
  BackgroundTaskQuery by_type;
  by_type.task = "application.stats";
  by_type.status = "finished";
  EXPECT_EQ(ids(by_type), (std::vector<std::string>{stats.id}));

  // Pruned oldest first, bounded, by creation time.
  auto prune = [&](TimePoint cutoff, int limit) {
    int n = -1;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.prune_background_tasks(cutoff, limit);
                  if (!r.ok()) return r.take_error();
                  n = *r;
                  return {};
                }).ok());
    return n;
  };
  EXPECT_EQ(prune(kT0, 10), 0);
  EXPECT_EQ(prune(kT0 + std::chrono::hours(3), 1), 1);
  EXPECT_EQ(ids({}), (std::vector<std::string>{stats.id, failed.id}));
  EXPECT_EQ(prune(kT0 + std::chrono::minutes(90), 10), 1);
  EXPECT_EQ(ids({}), (std::vector<std::string>{failed.id}));
}

TEST_P(StoreContractTest, UsageCountsAnApplicationsMessagesAndDeliveriesInAWindowAndEveryEventTypeInUse) {
  const auto app = make_app();
  const auto other = make_app();
  const auto ep = make_endpoint(app.id);
  auto early = make_message(app.id, "user.created", std::nullopt, kT0);
  auto inside = make_message(app.id, "user.created", std::nullopt, kT0 + std::chrono::hours(1));
  auto late = make_message(app.id, "user.deleted", std::nullopt, kT0 + std::chrono::hours(2));
  auto elsewhere = make_message(other.id, "user.created", std::nullopt, kT0 + std::chrono::hours(1));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                for (const auto* a : {&app, &other})
                  if (auto st = tx.insert_application(*a); !st.ok()) return st;
                if (auto st = tx.insert_endpoint(ep); !st.ok()) return st;
                for (auto* m : {&early, &inside, &late, &elsewhere})
                  if (auto st = tx.insert_message(*m); !st.ok()) return st;
                for (const auto* m : {&early, &inside, &late}) {
                  auto d = make_delivery(*m, ep, m->created_at);
                  d.created_at = m->created_at;
                  if (auto st = tx.insert_delivery(d); !st.ok()) return st;
                }
                return {};
              }).ok());
  auto usage = read<AppUsage>([&](Tx& tx) {
    return tx.app_usage(app.id, kT0 + std::chrono::minutes(30), kT0 + std::chrono::hours(2));
  });
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->messages, 1) << "since is included, until is not";
  EXPECT_EQ(usage->message_destinations, 1);
  usage = read<AppUsage>([&](Tx& tx) { return tx.app_usage(app.id, kT0, kT0 + std::chrono::hours(3)); });
  EXPECT_EQ(usage->messages, 3);
  EXPECT_EQ(usage->message_destinations, 3);
  usage = read<AppUsage>([&](Tx& tx) { return tx.app_usage(other.id, kT0, kT0 + std::chrono::hours(3)); });
  EXPECT_EQ(usage->messages, 1);
  EXPECT_EQ(usage->message_destinations, 0);

  auto types = read<std::vector<EventTypeUsage>>([](Tx& tx) { return tx.event_type_usage(); });
  ASSERT_TRUE(types.ok());
  ASSERT_EQ(types->size(), 2u);
  EXPECT_EQ((*types)[0].event_type, "user.created");
  EXPECT_EQ((*types)[0].messages, 3);
  EXPECT_EQ((*types)[0].applications, 2);
  EXPECT_EQ((*types)[0].last_message_at, kT0 + std::chrono::hours(1));
  EXPECT_EQ((*types)[1].event_type, "user.deleted");
  EXPECT_EQ((*types)[1].messages, 1);
  EXPECT_EQ((*types)[1].applications, 1);
}

}  // namespace hookwire::store
