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
  if (GetParam().remove) GetParam().remove(dir_.string());
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

}  // namespace hookwire::store
