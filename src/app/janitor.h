// Janitor: the app's background clean-up, through the store's writer like any other write: expired
// idempotency records, retention (messages older than the retention, in batches, with their attempts and
// deliveries; payloads whose own retention ran out), and expired scoped tokens (kept in step in the
// TokenRegistry). Time comes from the injected Clock; the interval between passes is real time.
//
// Lifecycle: start() runs a pass at once and then one every `interval` on the janitor's thread; stop() (also
// called by the destructor) ends the pass in progress after its current batch and joins. The store (and the
// registry) must outlive the janitor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/v1/tokens.h"
#include "core/clock.h"
#include "store/store.h"

namespace hookwire::app {

struct JanitorOptions {
  std::chrono::seconds idempotency_ttl{std::chrono::hours{24}};
  // Messages (and background tasks) older than this are pruned; zero: kept forever.
  std::chrono::hours retention{24 * 30};
  std::chrono::milliseconds interval{std::chrono::minutes{5}};
  int batch = 500;  // messages (or payloads) per write: small, so the writer's other work never waits long
};

class Janitor {
 public:
  // `tokens` may be null (no scoped tokens).
  Janitor(store::Store& store, const Clock& clock, JanitorOptions options, api::v1::TokenRegistry* tokens);
  ~Janitor();
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  void start();
  void stop();

  // What one pass did. Failures are logged (warning) and the pass goes on with its next task.
  struct Pass {
    int pruned = 0;            // messages deleted by retention
    int pruned_tasks = 0;      // background tasks deleted by retention
    int expired_payloads = 0;  // payloads deleted
    int orphan_requests = 0;   // kept source requests whose source is gone (request_log.h)
    int failures = 0;          // store writes that failed
  };
  // One pass on the calling thread, blocking on the store; logs what it removed (info). Not concurrently
  // with the janitor's own thread (tests call it without start()).
  Pass run_once();

 private:
  void run();
  bool stopping() const;
  // Submits `fn` to the writer and waits for it; nullopt on failure (logged with `what`).
  std::optional<int> write(const char* what, std::function<Result<int>(store::Tx&)> fn);

  store::Store& store_;
  const Clock& clock_;
  const JanitorOptions options_;
  api::v1::TokenRegistry* const tokens_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hookwire::app
