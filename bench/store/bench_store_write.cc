// What the API's ingest path costs the SQLite store: one message of 1 KB plus one idempotency record of
// ~1.3 KB per write function, at Durability::kFull, from many submitter threads. Prints the rate; see
// README.md. (Moved here from sqlite_store_test.cc, where it was most of the unit suite's time.)
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/encoding.h"
#include "core/ids.h"
#include "core/metrics.h"
#include "store/store.h"

namespace hookwire::store {
namespace {

int run(const std::filesystem::path& dir, int submitters, int per_submitter) {
  metrics::Registry registry;
  SqliteOptions options;
  options.path = (dir / "hookwire.db").string();
  options.metrics = &registry;
  options.durability = Durability::kFull;
  auto opened = open_sqlite_store(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open a store in %s: %s\n", dir.c_str(), opened.error().detail.c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  const std::string app_id = new_id(id_prefix::kApplication);
  const std::string payload = "{\"data\":\"" + std::string(1024 - 11, 'x') + "\"}";
  const std::string body = "{\"id\":\"msg\",\"payload\":\"" + std::string(1300 - 26, 'y') + "\"}";

  int failed = 0;
  for (int window : {1, 16}) {
    // Payloads are made up front; ids are taken at submission, as the API does, so message ids arrive in
    // roughly increasing order. Idempotency keys are client-chosen, i.e. random: the worst case for their
    // index.
    struct Op {
      Message msg;
      IdempotencyRecord rec;
    };
    std::vector<std::vector<Op>> ops(submitters);
    for (auto& per : ops) {
      per.reserve(per_submitter);
      for (int i = 0; i < per_submitter; ++i) {
        Op op;
        op.msg.app_id = app_id;
        op.msg.event_type = "user.created";
        op.msg.payload = payload;
        op.rec = {"idem:" + app_id + ":" + hex_encode(random_bytes(16)), "hash", 202, body, {}};
        per.push_back(std::move(op));
      }
    }
    auto& batches = registry.histogram("store_batch_size", "", {});
    const auto batches_before = batches.count();
    auto& commits = registry.histogram("store_commit_seconds", "", {});
    const double commit_before = commits.sum();
    std::atomic<int> failures{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        // Each submitter keeps `window` writes in flight, like an API connection with pipelined requests.
        std::mutex mu;
        std::condition_variable cv;
        int in_flight = 0;
        for (auto& op : ops[t]) {
          {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return in_flight < window; });
            ++in_flight;
          }
          op.msg.id = new_id(id_prefix::kMessage);
          op.msg.created_at = op.rec.created_at = std::chrono::system_clock::now();
          store->submit_write(
              [op = std::move(op)](Tx& tx) -> Status {
                Message msg = op.msg;  // the store sets its id
                if (auto st = tx.insert_message(msg); !st.ok()) return st;
                return tx.put_idempotency(op.rec);
              },
              [&](Status st) {
                if (!st.ok()) failures.fetch_add(1);
                std::lock_guard lk(mu);
                --in_flight;
                cv.notify_one();
              });
        }
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return in_flight == 0; });
      });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int total = submitters * per_submitter;
    const auto n_batches = batches.count() - batches_before;
    std::printf(
        "%d submitters x %d in flight: %d writes in %.2fs = %.0f writes/s, %llu batches (avg %.0f per "
        "batch), "
        "%.2fs in COMMIT, %d failed\n",
        submitters, window, total, secs, total / secs, static_cast<unsigned long long>(n_batches),
        n_batches ? double(total) / n_batches : 0.0, commits.sum() - commit_before, failures.load());
    failed += failures.load();
  }
  store->stop();
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hookwire::store

// bench_store_write [submitters, default 64] [writes per submitter, default 800]
int main(int argc, char** argv) {
  const int submitters = argc > 1 ? std::atoi(argv[1]) : 64;
  const int per_submitter = argc > 2 ? std::atoi(argv[2]) : 800;
  if (submitters <= 0 || per_submitter <= 0) {
    std::fprintf(stderr, "usage: bench_store_write [submitters] [writes per submitter]\n");
    return 2;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "hookwire-bench-store-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const int rc = hookwire::store::run(tmpl, submitters, per_submitter);
  std::error_code ignored;
  std::filesystem::remove_all(tmpl, ignored);
  return rc;
}
