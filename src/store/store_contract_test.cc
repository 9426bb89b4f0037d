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

Result<std::vector<Claim>> StoreContractTest::claim(TimePoint now, TimePoint until, int limit,
                                                    int per_endpoint) {
  std::promise<Result<std::vector<Claim>>> p;
  auto f = p.get_future();
  store_->delivery_queue().claim(ClaimRequest{now, until, limit, per_endpoint},
                                 [&p](Result<std::vector<Claim>> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<std::vector<bool>> StoreContractTest::renew(const std::vector<LeaseToken>& leases, TimePoint until) {
  std::promise<Result<std::vector<bool>>> p;
  auto f = p.get_future();
  store_->delivery_queue().renew(leases, until,
                                 [&p](Result<std::vector<bool>> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<DeliveryQueueStats> StoreContractTest::queue_stats(TimePoint now) {
  std::promise<Result<DeliveryQueueStats>> p;
  auto f = p.get_future();
  store_->delivery_queue().stats(now, [&p](Result<DeliveryQueueStats> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<Settled> StoreContractTest::settle(const LeaseToken& lease, const Delivery& next) {
  std::optional<Settled> settled;
  const Status st = write([&](Tx& tx) -> Status {
    const Settlement s{&lease, &next};
    auto r = tx.settle_deliveries({&s, 1});
    if (!r.ok()) return r.take_error();
    settled = r->at(0);
    return {};
  });
  store_->delivery_queue().release(lease, st.ok(), kFarFuture);
  if (!st.ok()) return st.error();
  return *settled;
}

void StoreContractTest::set_delivery_state(const Delivery& next) {
  auto claimed = claim(kFarFuture, kFarFuture + std::chrono::hours(1), 1000, 1000);
  ASSERT_TRUE(claimed.ok()) << claimed.error().detail;
  bool found = false;
  for (const auto& c : *claimed) {
    found = found || c.delivery.id == next.id;
    auto settled = settle(c.lease, c.delivery.id == next.id ? next : c.delivery);
    ASSERT_TRUE(settled.ok()) << settled.error().detail;
    EXPECT_EQ(*settled, Settled::kDone);
  }
  EXPECT_TRUE(found) << next.id << " was not due";
}

}  // namespace hookwire::store
