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

  // A leasing claim at `now` that must return nothing, after which the message's only delivery must be failed
  // (its message, endpoint or payload is gone).
  void expect_claim_fails_the_only_delivery(std::string_view app_id, std::string_view msg_id, TimePoint now);
  // find_due_deliveries at `now` must offer nothing to send and report `d` (the only due delivery) orphaned;
  // then expect_claim_fails_the_only_delivery (SingleProcessStoreContractTest).
  void expect_only_delivery_orphaned(const Delivery& d, TimePoint now);

  std::optional<testing::TestDir> test_dir_;  // removed with everything in it after each test
  std::filesystem::path dir_;                 // the store's directory, inside test_dir_
  std::unique_ptr<Store> store_;
};

// The contract of a store that one process alone uses (contract/single_process_test.cc): leases held in
// memory (find_due_deliveries with `held`) and release_all_leases. Instantiated by the SQLite store only.
class SingleProcessStoreContractTest : public StoreContractTest {};

}  // namespace hookwire::store
