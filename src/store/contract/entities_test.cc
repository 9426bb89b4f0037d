// The Store contract suite: applications, event types, endpoints and sources.
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
#include "store/contract/helpers.h"
#include "store/store_contract_test.h"

namespace hookwire::store {
using namespace contract;  // NOLINT: the suite's own helpers

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

// The requests a source was sent (inbound/request_log.h): every column round-trips (a body that is not JSON,
// headers as JSON text), the newest `keep` stay, listing is by id with an outcome filter, and deleting the
// source deletes them.
TEST_P(StoreContractTest, SourceRequestsAreBoundedListedAndDeletedWithTheirSource) {
  Source src;
  src.id = new_id(id_prefix::kSource);
  src.app_id = new_id(id_prefix::kApplication);
  src.created_at = src.updated_at = kT0;
  Source other = src;
  other.id = new_id(id_prefix::kSource);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source(src); }).ok());
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source(other); }).ok());

  auto make = [&](const Source& s, int i) {
    SourceRequest r;
    r.id = new_id("sreq", kT0 + std::chrono::seconds(i));
    r.source_id = s.id;
    r.received_at = kT0 + std::chrono::milliseconds(i);
    r.status = i % 2 ? 401 : 202;
    r.outcome = i % 2 ? "rejected" : "accepted";
    if (i % 2) {
      r.code = "authentication_failed";
      r.reason = "no signature matched (stripe, \"v1\")";
    } else {
      r.message_id = "msg_" + std::to_string(i);
    }
    r.client_address = "203.0.113.9";
    r.method = "POST";
    r.path = "/in/stripe?x=1";
    r.headers = R"({"content-type":"text/plain","authorization":"[redacted]"})";
    r.body = "not json \u00e9 \xc3\xa9 " + std::to_string(i);
    r.body_truncated = i == 3;
    r.body_base64 = i == 5;
    return r;
  };
  constexpr int kKeep = 4;
  std::vector<SourceRequest> written;
  for (int i = 0; i < 7; ++i) {
    written.push_back(make(src, i));
    ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source_request(written.back(), kKeep); }).ok()) << i;
  }
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source_request(make(other, 0), kKeep); }).ok());
  EXPECT_EQ(write([&](Tx& tx) { return tx.insert_source_request(written.back(), kKeep); }).error().code,
            Errc::kConflict);

  SourceRequestQuery all;
  all.page.limit = 250;
  all.page.order = Order::kDescending;
  auto page = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(src.id, all); });
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->items.size(), static_cast<size_t>(kKeep)) << "the newest kKeep stay";
  for (int k = 0; k < kKeep; ++k) EXPECT_EQ(page->items[k].id, written[6 - k].id) << "newest first";

  auto got = read<SourceRequest>([&](Tx& tx) { return tx.get_source_request(src.id, written[5].id); });
  ASSERT_TRUE(got.ok());
  const SourceRequest& want = written[5];
  EXPECT_EQ(got->source_id, want.source_id);
  EXPECT_EQ(got->received_at, want.received_at);
  EXPECT_EQ(got->status, 401);
  EXPECT_EQ(got->outcome, "rejected");
  EXPECT_EQ(got->code, want.code);
  EXPECT_EQ(got->reason, want.reason);
  EXPECT_EQ(got->client_address, want.client_address);
  EXPECT_EQ(got->method, "POST");
  EXPECT_EQ(got->path, want.path);
  EXPECT_EQ(got->headers, want.headers);
  EXPECT_EQ(got->body, want.body);
  EXPECT_FALSE(got->body_truncated);
  EXPECT_TRUE(got->body_base64);
  EXPECT_EQ(got->message_id, std::nullopt);
  auto accepted = read<SourceRequest>([&](Tx& tx) { return tx.get_source_request(src.id, written[6].id); });
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(accepted->message_id, std::optional<std::string>("msg_6"));
  EXPECT_EQ(read<SourceRequest>([&](Tx& tx) { return tx.get_source_request(other.id, written[6].id); })
                .error()
                .code,
            Errc::kNotFound)
      << "a record is read through its own source only";
  EXPECT_EQ(
      read<SourceRequest>([&](Tx& tx) { return tx.get_source_request(src.id, written[0].id); }).error().code,
      Errc::kNotFound)
      << "beyond the bound: deleted";

  SourceRequestQuery rejected = all;
  rejected.outcome = "rejected";
  rejected.page.limit = 1;
  auto first = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(src.id, rejected); });
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0].id, written[5].id);
  EXPECT_FALSE(first->done);
  rejected.page.iterator = first->iterator;
  auto second = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(src.id, rejected); });
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].id, written[3].id);
  EXPECT_TRUE(second->done);
  // Ascending after an id: what the live view reads.
  SourceRequestQuery newer;
  newer.page.order = Order::kAscending;
  newer.page.iterator = written[4].id;
  auto after = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(src.id, newer); });
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->items.size(), 2u);
  EXPECT_EQ(after->items[0].id, written[5].id);
  EXPECT_EQ(after->items[1].id, written[6].id);

  // Deleted with the source; the other source's stay. An orphan (written as another node deleted its source)
  // is pruned.
  ASSERT_TRUE(write([&](Tx& tx) { return tx.delete_source(src.id); }).ok());
  auto gone = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(src.id, all); });
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->items.empty());
  auto orphan = make(src, 9);
  ASSERT_TRUE(write([&](Tx& tx) { return tx.insert_source_request(orphan, kKeep); }).ok());
  std::optional<int> pruned;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto n = tx.prune_source_requests(100);
                if (!n) return n.take_error();
                pruned = *n;
                return {};
              }).ok());
  EXPECT_EQ(pruned, 1);
  auto kept = read<Page<SourceRequest>>([&](Tx& tx) { return tx.list_source_requests(other.id, all); });
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->items.size(), 1u);
}

// A setting keeps the first value put (every node that starts proposes its own; all get the first one back),
// and survives a reopen.
TEST_P(StoreContractTest, ASettingKeepsTheFirstValuePut) {
  auto put = [&](std::string_view value) {
    std::string got;
    EXPECT_TRUE(write([&](Tx& tx) -> Status {
                  auto r = tx.setting_or_put("token_key", value);
                  if (!r.ok()) return r.take_error();
                  got = *r;
                  return {};
                }).ok());
    return got;
  };
  EXPECT_EQ(put("first"), "first");
  EXPECT_EQ(put("second"), "first");
  reopen();
  EXPECT_EQ(put("third"), "first");
  std::string other;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
                auto r = tx.setting_or_put("another", "x");
                if (!r.ok()) return r.take_error();
                other = *r;
                return {};
              }).ok());
  EXPECT_EQ(other, "x");
}

}  // namespace hookwire::store
