#include "app/janitor.h"

#include <spdlog/spdlog.h>

#include <future>

namespace hookwire::app {

Janitor::Janitor(store::Store& store, const Clock& clock, JanitorOptions options,
                 api::v1::TokenRegistry* tokens)
    : store_(store), clock_(clock), options_(options), tokens_(tokens) {}

Janitor::~Janitor() { stop(); }

void Janitor::start() {
  thread_ = std::thread([this] { run(); });
}

void Janitor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Janitor::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Janitor::run() {
  for (;;) {
    run_once();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

std::optional<int> Janitor::write(const char* what, std::function<Result<int>(store::Tx&)> fn) {
  // The function's last run records its count (a write function may run more than once).
  auto count = std::make_shared<int>(0);
  std::promise<Status> done;
  store_.submit_write(
      [fn = std::move(fn), count](store::Tx& tx) -> Status {
        // One node at a time (a store several nodes share): another node's janitor is at it; this pass
        // leaves it to that one.
        auto mine = tx.try_lock_job("janitor");
        if (!mine) return mine.take_error();
        if (!*mine) {
          *count = 0;
          return {};
        }
        auto n = fn(tx);
        if (!n) return n.take_error();
        *count = *n;
        return {};
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  if (auto st = done.get_future().get(); !st) {
    spdlog::warn("janitor: {} failed: {}", what, st.error().detail);
    return std::nullopt;
  }
  return *count;
}

Janitor::Pass Janitor::run_once() {
  Pass pass;
  const TimePoint now = clock_.now();
  // Batch after batch until one finds nothing more: each is one short write among everyone else's.
  auto drain = [&](const char* what, std::function<Result<int>(store::Tx&)> fn, int& total) {
    while (!stopping()) {
      auto n = write(what, fn);
      if (!n) {
        ++pass.failures;
        return;
      }
      total += *n;
      if (*n == 0) return;
    }
  };

  const TimePoint idempotency_cutoff = now - options_.idempotency_ttl;
  if (!write("idempotency purge", [idempotency_cutoff](store::Tx& tx) -> Result<int> {
        if (auto st = tx.purge_idempotency(idempotency_cutoff); !st) return st.take_error();
        return 0;
      }))
    ++pass.failures;

  const int batch = options_.batch;
  if (options_.retention.count() > 0) {
    const TimePoint cutoff = now - options_.retention;
    drain(
        "retention (pruning messages)",
        [cutoff, batch](store::Tx& tx) { return tx.prune_messages(cutoff, batch); }, pass.pruned);
    drain(
        "retention (pruning background tasks)",
        [cutoff, batch](store::Tx& tx) { return tx.prune_background_tasks(cutoff, batch); },
        pass.pruned_tasks);
  }
  drain(
      "retention (expiring payloads)", [now, batch](store::Tx& tx) { return tx.expire_payloads(now, batch); },
      pass.expired_payloads);

  // A source's kept requests go with it; one written while another node deleted the source is left over.
  drain(
      "orphaned source requests", [batch](store::Tx& tx) { return tx.prune_source_requests(batch); },
      pass.orphan_requests);

  if (tokens_) {
    if (write("expired token removal", [now](store::Tx& tx) -> Result<int> {
          if (auto st = tx.delete_tokens_expired_before(now); !st) return st.take_error();
          return 0;
        })) {
      tokens_->erase_expired_before(now);
    } else {
      ++pass.failures;
    }
  }

  if (pass.pruned > 0)
    spdlog::info("janitor: pruned {} messages older than {} days", pass.pruned,
                 std::chrono::duration_cast<std::chrono::days>(options_.retention).count());
  if (pass.pruned_tasks > 0) spdlog::info("janitor: pruned {} background tasks", pass.pruned_tasks);
  if (pass.expired_payloads > 0) spdlog::info("janitor: expired {} payloads", pass.expired_payloads);
  return pass;
}

}  // namespace hookwire::app
