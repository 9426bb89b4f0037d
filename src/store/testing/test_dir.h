// Test-only helpers for tests that need real files: a directory of the running test's own, and a SQLite store
// opened in one.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

namespace hookwire::store::testing {

// A fresh directory under the system temp dir, named after the process, a counter and the running test, so
// parallel test processes never share one. Emptied when made, removed when destroyed.
class TestDir {
 public:
  explicit TestDir(std::string_view prefix) {
    static std::atomic<int> counter{0};
    std::string test = "outside-a-test";
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
      test = std::string(info->test_suite_name()) + "." + info->name();
    std::replace(test.begin(), test.end(), '/', '-');  // parameterized tests: "Name/param"
    path_ = std::filesystem::temp_directory_path() / (std::string(prefix) + "-" + std::to_string(::getpid()) +
                                                      "-" + std::to_string(counter++) + "-" + test);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A SQLite store at dir/hookwire.db; on failure the test fails and nullptr comes back.
inline std::unique_ptr<Store> open_test_store(const std::filesystem::path& dir, SqliteOptions options = {}) {
  options.path = (dir / "hookwire.db").string();
  auto opened = open_sqlite_store(options);
  if (!opened.ok()) {
    ADD_FAILURE() << "cannot open a store in " << dir << ": " << opened.error().detail;
    return nullptr;
  }
  return std::move(opened).value();
}

}  // namespace hookwire::store::testing
