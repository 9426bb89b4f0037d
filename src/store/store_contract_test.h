// The Store contract suite: behaviour every Store implementation must show, written against store.h and
// model.h only. An implementation instantiates it with a factory, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//                            ::testing::Values(StoreFactory{"sqlite", [](std::string dir) { ... }}),
//                            [](const auto& info) { return info.param.name; });
//
// The factory opens (creating if needed) a store whose data lives under `dir`; opening the same dir again
// must see what was committed before (the durability test relies on it). It returns nullptr on failure.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "store/store.h"
#include "store/testing/test_dir.h"

namespace hookwire::store {

struct StoreFactory {
  std::string name;  // the test-name suffix: letters, digits, '_'
  std::function<std::unique_ptr<Store>(std::string dir)> open;
  // Optional: called after each test, once its store is stopped, to remove what `open` made outside `dir`.
  std::function<void(std::string dir)> remove;
};

// A time past every delivery the suite makes: everything not finished is due by then.
inline const TimePoint kFarFuture = TimePoint(std::chrono::milliseconds(4'000'000'000'000));

// Inserts a copy of `m` (the store gives the copy its id): for messages whose id the test does not need.
Status insert_copy(Tx& tx, Message m);

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Closes the current store (stop + destroy) and opens a new one over the same directory.
  void reopen();

  // Synchronous wrappers: submit and wait for done.
  Status write(std::function<Status(Tx&)> fn);
  template <class T>
  Result<T> read(std::function<Result<T>(Tx&)> fn) {
    std::optional<Result<T>> out;
    read_raw([&](Tx& tx) { out.emplace(fn(tx)); });
    return std::move(*out);
  }
  void read_raw(std::function<void(Tx&)> fn);
  // Inserts `m` in a write of its own and returns it as stored: with the id the store gave it (a test that
  // needs the id before it builds rows that refer to the message). Fails the test if the insert fails.
  Message put(Message m);

  // The store's delivery queue, synchronously (delivery_queue.h).
  Result<std::vector<Claim>> claim(TimePoint now, TimePoint until, int limit = 10, int per_endpoint = 10);
  Result<std::vector<bool>> renew(const std::vector<LeaseToken>& leases, TimePoint until);
  Result<DeliveryQueueStats> queue_stats(TimePoint now);
  // Settles one leased delivery with `next`'s state in a write of its own, then releases the lease.
  Result<Settled> settle(const LeaseToken& lease, const Delivery& next);
  // Gives the delivery `next.id` `next`'s state the way the dispatcher does: claims everything due by a
  // far-off time, settles that one as `next` and the others as they were. Fails the test if it is not due.
  void set_delivery_state(const Delivery& next);

  std::optional<testing::TestDir> test_dir_;  // removed with everything in it after each test
  std::filesystem::path dir_;                 // the store's directory, inside test_dir_
  std::unique_ptr<Store> store_;
};

}  // namespace hookwire::store
