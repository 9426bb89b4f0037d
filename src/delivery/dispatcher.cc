#include "delivery/dispatcher.h"

#include <fmt/format.h>
#include <hookwire/signing.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/encoding.h"
#include "core/ids.h"
#include "core/log_throttle.h"
#include "core/names.h"
#include "core/utf8.h"
#include "delivery/due_rules.h"
#include "delivery/operational.h"
#include "delivery/provider_headers.h"
#include "delivery/rate_shares.h"
#include "store/async.h"

namespace hookwire::delivery {

namespace asio = boost::asio;

// The dispatcher's writes (leases, attempt records, deferrals) are acknowledged at commit, not after the
// flush: losing one to a power cut only means a delivery is sent again, and a crash of hookwire loses none
// of them (a committed transaction is in the WAL). So an endpoint's slot is held until its attempt is
// committed — kill -9 repeats at most the in-flight cap — without waiting for the disk.
constexpr store::Ack kBookkeeping = store::Ack::kCommitted;

class Dispatcher::State : public std::enable_shared_from_this<State> {
 public:
  State(store::Store& store, const Clock& clock, DispatcherOptions options, metrics::Registry* metrics)
      : store_(store),
        queue_(store.delivery_queue()),
        clock_(clock),
        options_(std::move(options)),
        public_url_(options_.public_url),
        policy_(options_.retry, options_.random),
        limiters_(options_.limits),
        health_(options_.health),
        lease_(options_.http.total_timeout + options_.lease_margin),
        timer_(ioc_),
        work_(asio::make_work_guard(ioc_)),
        metrics_(metrics) {
    if (options_.announce) {
      // A node id for the announcements: random, so two nodes never share one.
      shares_.emplace(
          RateShares::Options{hex_encode(random_bytes(8)), kAnnounceEvery, kHoldDown, 3 * kAnnounceEvery},
          clock_.now());
    }
    if (metrics) {
      for (const char* outcome : {"delivered", "retry", "exhausted", "disabled"})
        outcomes_.push_back(&metrics->counter("delivery_attempts_total", "Delivery attempts by outcome.",
                                              {{"outcome", outcome}}));
      latency_ = &metrics->histogram("delivery_attempt_seconds", "Duration of delivery attempts.",
                                     metrics::latency_buckets());
      in_flight_gauge_ = &metrics->gauge("delivery_in_flight", "Delivery attempts in flight.");
      deferred_ = &metrics->counter(
          "delivery_deferred_total",
          "Deliveries put back because their endpoint's rate limit or in-flight cap was reached.");
    }
  }

  Status init() {
    auto client = HttpClient::create(ioc_.get_executor(), options_.http);
    if (!client.ok()) return client.take_error();
    client_ = std::move(*client);
    return {};
  }

  // Before start() (the thread then reads it).
  void set_public_url(std::string url) { public_url_ = std::move(url); }

  void start() {
    thread_ = std::thread([self = shared_from_this()] {
      asio::co_spawn(self->ioc_, self->run(), asio::detached);
      self->ioc_.run();
    });
  }

  // Many wakes while one is pending cost one hand-off (the API calls this for every new message).
  // wake() and stop() hand work to ioc_ with a plain `this`: a handler that ran holds the State alive through
  // the thread's own reference, and one that never runs (a dispatcher never started: `--delivery off`) is
  // destroyed with ioc_. Holding the State from a handler queued in its own ioc_ would keep it forever.
  void wake() {
    if (wake_pending_.exchange(true)) return;
    asio::post(ioc_, [self = this] {
      self->wake_pending_ = false;
      self->woken_ = true;
      self->timer_.cancel();
    });
  }

  // Another node's announcement (RateShares): handed to ioc_ (see wake()).
  void heard(std::string topic) {
    asio::post(ioc_, [self = this, topic = std::move(topic)] {
      if (self->shares_) self->shares_->heard(topic, self->clock_.now());
    });
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    asio::post(ioc_, [self = this] {
      self->stopping_ = true;
      // The others need not wait for this node's announcements to expire.
      self->share_timer_.cancel();
      if (self->shares_)
        for (auto& topic : self->shares_->tick(self->clock_.now() + std::chrono::hours(1),
                                               [](std::string_view) { return false; }))
          self->options_.announce(std::move(topic));
      self->timer_.cancel();
      // Deliveries waiting in their endpoints' lines go back to the store, due at once for the next start.
      const TimePoint now = self->clock_.now();
      for (auto& [endpoint, line] : self->lines_) {
        line->timer.cancel();
        for (auto& claim : line->claims) self->give_back(std::move(claim), now);
      }
      self->lines_.clear();
      self->client_->stop();  // in-flight attempts end now (kCancelled) and are recorded for retry
      self->maybe_finish();
    });
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Claimed deliveries of one endpoint waiting to be admitted (leased and renewed, counted in in_flight_):
  // for one of its in-flight slots (pumped when one is released) or for a token of its rate limit (the
  // timer).
  struct Line {
    explicit Line(asio::io_context& ioc) : timer(ioc) {}
    std::deque<store::Claim> claims;
    asio::steady_timer timer;
    bool paced = false;  // the head waits for a token of the rate limit, due at token_at
    TimePoint token_at{};
    TimePoint scheduled_until{};  // when the next delivery given back past the line will be due
  };
  struct Returned {  // a delivery given back to the store (give_back)
    store::LeaseToken lease;
    store::Delivery next;
  };
  struct HeldLease {
    store::LeaseToken token;
    bool settling = false;  // its write is submitted: no more renewals
    bool lost = false;      // a renewal found it taken over
  };

  // The claim loop. Runs on ioc_.
  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopping_) {
      woken_ = false;
      const size_t room = options_.max_in_flight - std::min(options_.max_in_flight, in_flight_);
      bool maybe_more = false;
      co_await renew_leases(clock_.now());
      pump_paced(clock_.now());  // lines whose head may go now make room before the claim
      if (room > 0 && !stopping_) {
        const int limit = static_cast<int>(std::min<size_t>(room, static_cast<size_t>(options_.claim_batch)));
        const TimePoint now = clock_.now();
        const int per_endpoint =
            static_cast<int>((kLinePerSlot + 1) *
                             static_cast<size_t>(std::max(1, options_.limits.max_in_flight_per_endpoint)));
        auto claimed = co_await claim(now, limit, per_endpoint);
        if (!claimed.ok()) {
          spdlog::warn("dispatcher: cannot claim deliveries: {}", claimed.error().detail);
        } else {
          // Anything claimed means there may be more behind it (the per-endpoint share held it back).
          maybe_more = !claimed->empty();
          std::vector<store::Claim> unsent;
          for (auto& c : *claimed) {
            const DueVerdict verdict = judge(c);
            if (!verdict.send) {
              spdlog::debug("dispatcher: delivery {} of {} to {} failed unsent: {}", c.delivery.id,
                            c.delivery.msg_id, c.delivery.endpoint_id, verdict.reason);
              unsent.push_back(std::move(c));
              continue;
            }
            ++in_flight_;
            admit(std::move(c));
          }
          if (!unsent.empty()) {
            ++putting_right_;
            asio::co_spawn(ioc_, fail_unsent(std::move(unsent), now), asio::detached);
          }
          if (in_flight_gauge_) in_flight_gauge_->set(static_cast<double>(in_flight_));
        }
      }
      if (stopping_) break;
      pump_paced(clock_.now());  // and those the claim joined
      // More may be due, or a wake (new messages, a freed slot) came while claiming: look again at once.
      if (maybe_more || woken_) continue;
      timer_.expires_after(options_.poll_interval);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    loop_done_ = true;
    maybe_finish();
  }

  // Leases up to `limit` due deliveries from the store's queue; each is held (leases_) until its record or
  // deferral is written.
  asio::awaitable<Result<std::vector<store::Claim>>> claim(TimePoint now, int limit, int per_endpoint) {
    auto self = shared_from_this();
    const store::ClaimRequest request{now, now + lease_, limit, per_endpoint};
    auto claimed = co_await store::completion<std::vector<store::Claim>>(
        [this, request](auto done) { queue_.claim(request, std::move(done)); });
    if (claimed.ok()) {
      if (leases_.empty()) next_renewal_ = now + lease_ / 3;
      for (const auto& c : *claimed) leases_[c.delivery.id] = HeldLease{c.lease};
    }
    co_return claimed;
  }

  // Every third of a lease, the leases held (not being settled) are extended to a whole lease from now, in
  // one call: a delivery waiting in line or a slow attempt keeps its lease. One that comes back not held was
  // taken over (this node stalled past its lease): a waiting one is dropped unsent, an attempt in flight is
  // recorded but its settlement is refused (kFenced).
  asio::awaitable<void> renew_leases(TimePoint now) {
    if (leases_.empty() || now < next_renewal_) co_return;
    next_renewal_ = now + lease_ / 3;
    std::vector<store::LeaseToken> tokens;
    for (const auto& [id, held] : leases_)
      if (!held.settling && !held.lost) tokens.push_back(held.token);
    if (tokens.empty()) co_return;
    // A named start: GCC 12 mishandles temporaries with destructors inside a co_await expression.
    auto start = [this, &tokens, until = now + lease_](auto done) {
      queue_.renew(tokens, until, std::move(done));
    };
    auto renewed = co_await store::completion<std::vector<bool>>(std::move(start));
    if (!renewed.ok()) {
      spdlog::warn("dispatcher: cannot renew {} delivery leases: {}", tokens.size(), renewed.error().detail);
      co_return;
    }
    size_t lost = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if ((*renewed)[i]) continue;
      auto it = leases_.find(tokens[i].delivery_id());
      if (it == leases_.end() || it->second.settling) continue;  // settled meanwhile
      it->second.lost = true;
      ++lost;
    }
    if (lost > 0)
      spdlog::warn(
          "dispatcher: {} delivery leases were taken over by another claim (this node stalled past "
          "its lease): they are left to their new holder",
          lost);
  }

  // The lease held for `lease`'s delivery, if it is still that grant (a later claim of the same delivery,
  // after this one lapsed, replaces it).
  HeldLease* held(const store::LeaseToken& lease) {
    auto it = leases_.find(lease.delivery_id());
    return it != leases_.end() && it->second.token == lease ? &it->second : nullptr;
  }

  // `lease` is now being settled: renewals leave it alone from here on.
  void settling(const store::LeaseToken& lease) {
    if (HeldLease* h = held(lease)) h->settling = true;
  }

  // The write settling `lease` was committed (written) or failed: the lease ends, or, if the write failed, is
  // kept until it would have expired (so a failing store does not turn into a storm of repeated sends).
  void end_lease(const store::LeaseToken& lease, bool written) {
    queue_.release(lease, written, clock_.now() + lease_);
    if (held(lease)) leases_.erase(lease.delivery_id());
  }

  // Fails claimed deliveries that are not to be sent (due_rules.h), unattempted, then ends their leases.
  asio::awaitable<void> fail_unsent(std::vector<store::Claim> claims, TimePoint now) {
    auto self = shared_from_this();
    struct Unsent {
      store::LeaseToken lease;
      store::Delivery next;
    };
    auto rows = std::make_shared<std::vector<Unsent>>();
    rows->reserve(claims.size());
    for (auto& c : claims) {
      c.delivery.status = store::Delivery::kFailed;
      c.delivery.updated_at = now;
      settling(c.lease);
      rows->push_back(Unsent{std::move(c.lease), std::move(c.delivery)});
    }
    auto fail = [rows](store::Tx& tx) -> Result<bool> {
      std::vector<store::Settlement> batch;
      batch.reserve(rows->size());
      for (const auto& r : *rows) batch.push_back({&r.lease, &r.next});
      if (auto st = tx.settle_deliveries(batch); !st.ok()) return st.take_error();
      return true;
    };
    auto written = co_await store::write<bool>(store_, std::move(fail), kBookkeeping);
    if (!written.ok()) spdlog::warn("dispatcher: cannot fail unsent deliveries: {}", written.error().detail);
    for (const auto& r : *rows) end_lease(r.lease, written.ok());
    --putting_right_;
    maybe_finish();
  }

  // This node's share of an endpoint's rateLimit, the rate and burst of its bucket (rate nullopt: no limit).
  // Several nodes share the limit, each keeping its own bucket: at limit / the nodes with work for the
  // endpoint when they announce it (shares_), else at limit / the live nodes; a burst of max(1, limit / the
  // live nodes) either way, so that the nodes' bursts add up to max(nodes, limit) at most.
  struct Share {
    std::optional<double> rate;
    std::optional<double> burst;  // nullopt: the bucket's own, max(1, rate)
  };
  Share share_of(const store::Endpoint& ep, TimePoint now) const {
    if (!ep.rate_limit) return {};
    const double limit = static_cast<double>(*ep.rate_limit);
    const int live = std::max(1, options_.nodes ? options_.nodes() : 1);
    if (!shares_) return {limit / live, std::nullopt};
    const int sharers = shares_->sharers(ep.id, live, now);
    return {limit / sharers, std::max(1.0, limit / std::max(live, sharers))};
  }

  // This node has work for a rate-limited endpoint (a delivery to admit): with several nodes announcing their
  // work, the others are told when it starts (and every second while it lasts). One that starts again
  // starts with one token: what its bucket saved up while the others had its share is not its to spend.
  void working_for(const store::Endpoint& ep, const Share& share, TimePoint now) {
    if (!shares_ || !share.rate) return;
    bool started = false;
    if (auto topic = shares_->hold(ep.id, now, &started)) options_.announce(std::move(*topic));
    if (!started) return;
    limiters_.keep_one(ep.id, *share.rate, share.burst, now);
    if (!share_ticking_) tick_shares();
  }

  // While this node has announced work: renews its announcements or ends them (RateShares::tick), every
  // kShareTick, so that the others take over its share soon after it has nothing left to send. It has work
  // for an endpoint while a delivery waits or is in flight, and until its bucket has a token again: it
  // started with one (working_for), so it is counted for as long as it takes its share to earn back what it
  // spent, and never sends more than the share the others left it.
  void tick_shares() {
    share_ticking_ = false;
    if (!shares_ || stopping_) return;
    const TimePoint now = clock_.now();
    auto holds = [this, now](std::string_view endpoint_id) {
      auto it = lines_.find(std::string(endpoint_id));
      return (it != lines_.end() && !it->second->claims.empty()) || limiters_.in_flight(endpoint_id) > 0 ||
             !limiters_.has_token(endpoint_id, now);
    };
    for (auto& topic : shares_->tick(now, holds)) options_.announce(std::move(topic));
    if (shares_->holding() == 0) return;
    share_ticking_ = true;
    share_timer_.expires_after(kShareTick);
    share_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick_shares();
    });
  }

  // A claimed delivery to send (counted in in_flight_): admitted now and sent, or put in its endpoint's line.
  // Runs on ioc_.
  void admit(store::Claim due) {
    if (stopping_) {
      give_back(std::move(due), clock_.now());
      return;
    }
    if (!lines_.empty()) {
      auto it = lines_.find(due.delivery.endpoint_id);
      if (it != lines_.end() && !it->second->claims.empty()) {
        // Behind those already waiting for this endpoint, which go first: its head waits for a slot (a
        // release pumps the line) or for a token (its timer does, or the claim loop once it is due).
        enqueue(*it->second, std::move(due), clock_.now());
        return;
      }
    }
    const store::Endpoint& ep = *due.endpoint;
    const TimePoint now = clock_.now();
    const Share share = share_of(ep, now);
    working_for(ep, share, now);
    Admission admission = limiters_.try_admit(ep.id, share.rate, now, share.burst);
    if (admission.kind == Admission::Kind::kAdmitted) {
      asio::co_spawn(ioc_, attempt(std::move(due), std::move(admission.permit)), asio::detached);
      return;
    }
    auto& slot = lines_[ep.id];
    if (!slot) slot = std::make_unique<Line>(ioc_);
    enqueue(*slot, std::move(due), now);
    if (admission.kind == Admission::Kind::kRateLimited) wait_for_token(ep.id, *slot, admission.not_before);
  }

  // How many deliveries an endpoint's line holds: a few per in-flight slot, and for a rate-limited endpoint
  // no more than its share admits in two poll intervals, plus its burst (the rest waits in the store, where
  // it holds no memory and another node may take it).
  size_t line_capacity(const Share& share) const {
    const size_t per_slot =
        kLinePerSlot * static_cast<size_t>(std::max(1, options_.limits.max_in_flight_per_endpoint));
    if (!share.rate) return per_slot;
    const double horizon = 2 * std::chrono::duration<double>(options_.poll_interval).count();
    const double burst = share.burst.value_or(std::max(1.0, *share.rate));
    const auto paced = static_cast<size_t>(std::ceil(*share.rate * horizon) + std::ceil(burst));
    return std::min(per_slot, paced);
  }

  // Puts `due` at the back of `line`, or, past the line's capacity, back to the store: due after one poll
  // interval if it waits for a slot; if the endpoint has a rate limit, when this node's share would reach it
  // (schedule_return).
  void enqueue(Line& line, store::Claim due, TimePoint now) {
    const Share share = share_of(*due.endpoint, now);
    if (line.claims.size() < line_capacity(share)) {
      line.claims.push_back(std::move(due));  // still counted in in_flight_ until it is sent and recorded
      return;
    }
    if (!share.rate) {
      give_back(std::move(due), now + options_.poll_interval);
      return;
    }
    const auto limit = static_cast<double>(*due.endpoint->rate_limit);
    give_back(std::move(due), schedule_return(line, *share.rate, limit, now));
  }

  // When a delivery given back past a rate-limited line is due again: one after another at the endpoint's
  // whole limit, which is as fast as the nodes together may send them (a node with room takes one once it is
  // due: this one, or another), from when this node's line would be through at its share, or after one poll
  // interval if sooner (when a node with no work looks again), and at most kMaxScheduled ahead (a limit
  // raised meanwhile is followed that much later).
  TimePoint schedule_return(Line& line, double share, double limit, TimePoint now) {
    using Nanos = TimePoint::duration;
    const auto seconds = [](double s) {
      return std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(s));
    };
    const Nanos through =
        std::min<Nanos>(seconds(static_cast<double>(line.claims.size()) / share), options_.poll_interval);
    const TimePoint at = std::min(std::max(line.scheduled_until, now + through), now + kMaxScheduled);
    line.scheduled_until = at + seconds(1.0 / limit);
    return at;
  }

  // Arms `line`'s timer for the time its head may have a token (the injected clock's time, waited for in real
  // time; at most a poll interval, after which the claim loop or the timer looks again).
  void wait_for_token(const std::string& endpoint_id, Line& line, TimePoint at) {
    if (stopping_) return;
    line.token_at = at;
    line.paced = true;
    const auto wait = std::clamp<std::chrono::nanoseconds>(at - clock_.now(), std::chrono::nanoseconds(0),
                                                           options_.poll_interval);
    line.timer.expires_after(wait);
    line.timer.async_wait([self = shared_from_this(), endpoint_id](boost::system::error_code ec) {
      if (!ec) self->pump(endpoint_id);
    });
  }

  // Starts the deliveries at the head of an endpoint's line while its limits admit them. Called when one of
  // its slots frees, when its head may have a token again (timer, claim loop), and when a delivery joins.
  void pump(const std::string& endpoint_id) {
    auto it = lines_.find(endpoint_id);
    if (it == lines_.end()) return;
    Line& line = *it->second;
    line.paced = false;
    while (!line.claims.empty() && !stopping_) {
      store::Claim& head = line.claims.front();
      if (const HeldLease* h = held(head.lease); !h || h->lost) {
        // Taken over while it waited in line: its new holder sends it. It took no slot: the next one goes.
        if (h) leases_.erase(head.delivery.id);
        line.claims.pop_front();
        finish_one();
        continue;
      }
      const TimePoint now = clock_.now();
      const Share share = share_of(*head.endpoint, now);
      working_for(*head.endpoint, share, now);
      Admission admission = limiters_.try_admit(endpoint_id, share.rate, now, share.burst);
      if (admission.kind == Admission::Kind::kAdmitted) {
        store::Claim next = std::move(head);
        line.claims.pop_front();
        asio::co_spawn(ioc_, attempt(std::move(next), std::move(admission.permit)), asio::detached);
        continue;
      }
      if (admission.kind == Admission::Kind::kRateLimited)
        wait_for_token(endpoint_id, line, admission.not_before);
      return;  // in-flight cap full: the slot's release pumps again
    }
    if (line.claims.empty() && line.scheduled_until <= clock_.now()) {
      line.timer.cancel();
      lines_.erase(it);
    }
  }

  // One attempt of one admitted delivery (`permit`: its slot and token), then its record. Runs on ioc_.
  asio::awaitable<void> attempt(store::Claim due, InflightPermit permit) {
    auto self = shared_from_this();
    const TimePoint started = clock_.now();
    const store::Endpoint& ep = *due.endpoint;
    const auto& msg = *due.message;

    const auto signer = signer_for(ep, started);

    AttemptOutcome outcome;
    std::string response_text;
    std::string request_headers;  // store::Attempt::request_headers
    int response_status = 0;
    const auto t0 = std::chrono::steady_clock::now();
    if (!signer->ok()) {
      outcome = AttemptOutcome::network_error("endpoint secret unusable: " + signer->error());
      response_text = outcome.detail;
    } else {
      HttpRequest req;
      req.url = ep.url;
      req.headers.reserve(ep.headers.size() + 4);
      for (const auto& [k, v] : ep.headers) req.headers.emplace_back(k, v);
      // An inbound event carries its provider's headers (its signature verifies the unchanged body; not
      // on a thin endpoint, which is sent another body).
      if (msg.headers && !ep.thin) append_provider_headers(*msg.headers, ep.headers, req.headers);
      // The event type rides along (an extension: Svix sends none), so a service receiving an inbound
      // source's forwards can tell a GitHub `push` from an `issues` without the provider's headers.
      req.headers.emplace_back("x-hookwire-event-type", msg.event_type);
      // A thin endpoint is sent where to fetch the message instead of its payload.
      if (ep.thin) due.message->payload = thin_payload(msg, public_url_);
      for (auto& h : (*signer)->sign({msg.id, unix_seconds(started), msg.payload}))
        req.headers.emplace_back(std::move(h.name), std::move(h.value));
      req.body = std::move(due.message->payload);  // signed above; not needed after the request
      request_headers = recorded_request_headers(req.headers, client_->options().user_agent);
      auto res = co_await client_->post(std::move(req));
      if (res.ok()) {
        response_status = static_cast<int>(res->status);
        outcome = AttemptOutcome::http(response_status, res->retry_after);
        if (res->body.size() > options_.max_logged_response) res->body.resize(options_.max_logged_response);
        // The log keeps text: a body that is not UTF-8 (binary, another charset, a character the cut split)
        // or holds NUL has those bytes replaced by U+FFFD. PostgreSQL refuses such text, so the attempt could
        // not be recorded at all, and the API's JSON would not be JSON.
        response_text = std::move(res->body);
        if (!is_utf8(response_text) || response_text.find('\0') != std::string::npos)
          response_text = to_valid_utf8(response_text, true);
      } else {
        const auto kind = res.error().kind;
        response_text = res.error().message;
        // Refused before connecting: nothing was sent (and a header it refused must not reach the record).
        if (kind == FailureKind::kInvalidRequest || kind == FailureKind::kInvalidUrl) request_headers.clear();
        if (kind == FailureKind::kTimeout || kind == FailureKind::kConnectTimeout) {
          outcome = AttemptOutcome::timeout(response_text);
        } else if (kind == FailureKind::kBlockedAddress || kind == FailureKind::kInvalidUrl) {
          outcome = AttemptOutcome::blocked(response_text);
        } else {
          outcome = AttemptOutcome::network_error(response_text);
        }
      }
    }
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    if (latency_) latency_->observe(std::chrono::duration<double>(elapsed).count());

    const TimePoint now = clock_.now();
    const Decision decision = policy_.decide(outcome, due.delivery.attempts + 1, now);

    // One record per attempt, owned by the batch that writes it: the write reads it (perhaps more than once),
    // the continuation releases its slot. Its strings are moved out of `due`, which is not used afterwards.
    auto rec = std::make_unique<AttemptRecord>();
    rec->now = now;
    rec->permit = std::move(permit);
    rec->log_attempt = !(stopping_ && outcome.kind != AttemptOutcome::Kind::kHttpResponse);
    rec->delivered = decision.kind == Decision::Kind::kDelivered;
    rec->disable = decision.kind == Decision::Kind::kDisableEndpoint;
    rec->decision = decision.kind;
    rec->blocked = outcome.kind == AttemptOutcome::Kind::kBlocked;
    rec->reason = decision.reason;

    const bool manual = due.delivery.manual;
    rec->lease = std::move(due.lease);
    store::Delivery& d = rec->delivery;
    d = std::move(due.delivery);
    if (rec->log_attempt) {
      d.attempts += 1;
      d.manual = false;
      d.updated_at = now;
      switch (decision.kind) {
        case Decision::Kind::kDelivered:
          d.status = store::Delivery::kSuccess;
          break;
        case Decision::Kind::kRetry:
          d.status = store::Delivery::kPending;
          d.next_attempt_at = decision.retry_at;
          break;
        case Decision::Kind::kExhausted:
        case Decision::Kind::kDisableEndpoint:
          d.status = store::Delivery::kFailed;
          break;
      }
    } else {
      // Aborted by stop(): not the receiver's fault. Leave it due again at once, without counting the
      // attempt (and without logging it).
      d.status = store::Delivery::kPending;
      d.next_attempt_at = now;
      d.updated_at = now;
    }
    if (!outcomes_.empty()) outcomes_[static_cast<size_t>(decision.kind)]->inc();

    store::Attempt& a = rec->attempt;
    a.id = new_id(id_prefix::kAttempt, now);
    a.app_id = d.app_id;
    a.msg_id = d.msg_id;
    a.endpoint_id = d.endpoint_id;
    a.url = ep.url;
    a.status = rec->delivered ? store::Delivery::kSuccess : store::Delivery::kFailed;
    a.response_status_code = response_status;
    a.response = std::move(response_text);
    a.response_duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    a.trigger_type = manual ? 1 : 0;  // the first attempt after a resend is manual
    a.created_at = now;
    a.request_headers = std::move(request_headers);

    if (rec->log_attempt && !rec->delivered) endpoint_failures(a.endpoint_id).inc();
    // Operational events this attempt raises (never for the operational application's own deliveries).
    rec->operational = options_.operational_app_id && a.app_id != *options_.operational_app_id;
    if (rec->operational && rec->log_attempt) {
      if (decision.emit_failing) rec->events.push_back("message.attempt.failing");
      if (decision.kind == Decision::Kind::kExhausted) rec->events.push_back("message.attempt.exhausted");
      if (decision.emit_recovered) rec->events.push_back("message.attempt.recovered");
    }
    if (rec->operational) rec->msg_event_id = std::move(due.message->event_id);
    enqueue_record(std::move(rec));
  }

  // One attempt's record: the attempt log row, the delivery's next state, the endpoint's health and the
  // operational events it raises, written in one batch with others (see enqueue_record).
  struct AttemptRecord {
    store::Attempt attempt;
    store::Delivery delivery;  // its next state
    store::LeaseToken lease;   // the claim's
    TimePoint now;
    bool log_attempt = true;  // false for an attempt aborted by stop(): neither logged nor judged
    bool delivered = false;
    bool disable = false;                  // 410 Gone: disable the endpoint
    bool operational = false;              // operational events are written (options_.operational_app_id)
    std::vector<std::string_view> events;  // message.attempt.* events raised (static strings)
    std::optional<std::string> msg_event_id;
    InflightPermit permit;  // the endpoint's slot: released once the record is committed
    // For the log, once the record is committed.
    Decision::Kind decision = Decision::Kind::kDelivered;
    bool blocked = false;                    // the SSRF guard refused the destination
    std::string reason;                      // Decision::reason: hookwire's words, never the response body
    mutable bool endpoint_disabled = false;  // set by write_record: this record disabled the endpoint
    mutable store::Settled settled = store::Settled::kDone;  // set by write_record
  };

  // Writes one record in `tx`. Runs on the store's writer thread, perhaps more than once (only the last run
  // counts): reads only the record and the dispatcher's immutable configuration.
  // The health of the endpoints a batch has read or written, by endpoint id: read from the store once per
  // endpoint per batch run, then kept up to date here as the batch's records change it (in the same Tx).
  using HealthCache = std::unordered_map<std::string_view, EndpointHealthState>;

  // `settled`: what settling its delivery did (the batch settles every record's first). A delivery gone
  // (deleted with its application or endpoint while the attempt ran) leaves nothing to record; one whose
  // lease was taken over gets its attempt logged (the request was made) and nothing else: its state, health
  // and operational events are its new holder's.
  Status write_record(store::Tx& tx, const AttemptRecord& r, store::Settled settled,
                      HealthCache& health_cache) const {
    const store::Attempt& a = r.attempt;
    const TimePoint now = r.now;
    r.endpoint_disabled = false;  // this run's verdict (a batch may run again)
    r.settled = settled;
    if (settled == store::Settled::kGone) return {};
    if (r.log_attempt)
      if (auto st = tx.insert_attempt(a); !st.ok()) return st.take_error();
    if (settled == store::Settled::kFenced) return {};
    bool disable_endpoint = r.disable;
    TimePoint fail_since = now;
    // Health counts the receiver's answers only: an attempt aborted by stop() says nothing about the
    // endpoint.
    if (r.log_attempt) {
      auto cached = health_cache.find(a.endpoint_id);
      if (cached == health_cache.end()) {
        auto h = tx.get_endpoint_health(a.endpoint_id);
        if (!h.ok()) return h.take_error();
        cached = health_cache
                     .emplace(a.endpoint_id, EndpointHealthState{h->first_failure_at, h->last_success_at,
                                                                 h->consecutive_failures})
                     .first;
      }
      EndpointHealthState& state = cached->second;
      const EndpointHealthState before = state;
      if (r.delivered) {
        if (state.consecutive_failures > 0 || state.first_failure_at) health_.on_success(state, now);
      } else if (health_.on_failure(state, now).disable_endpoint) {
        disable_endpoint = true;
      }
      if (state.first_failure_at) fail_since = *state.first_failure_at;
      if (!(state == before)) {
        store::EndpointHealthRecord h2;  // put_endpoint_health writes the streak only
        h2.first_failure_at = state.first_failure_at;
        h2.last_success_at = state.last_success_at;
        h2.consecutive_failures = state.consecutive_failures;
        if (auto st = tx.put_endpoint_health(a.endpoint_id, h2); !st.ok()) return st.take_error();
      }
    }
    std::optional<store::Endpoint> disabled_now;
    if (disable_endpoint) {
      auto endpoint = tx.get_endpoint(a.app_id, a.endpoint_id);
      if (endpoint.ok() && !endpoint->disabled) {
        endpoint->disabled = true;
        endpoint->updated_at = now;
        if (auto st = tx.update_endpoint(*endpoint); !st.ok()) return st.take_error();
        const std::string reason =
            r.disable ? fmt::format("it answered 410 Gone (attempt {})", a.id)
                      : fmt::format("it has been failing since {}, longer than the endpoint health limit",
                                    format_iso8601(fail_since));
        if (auto st = tx.set_endpoint_disabled(a.endpoint_id, reason, now); !st.ok()) return st.take_error();
        disabled_now = std::move(*endpoint);
        r.endpoint_disabled = true;
      }
    }
    if (r.operational && (disabled_now || !r.events.empty())) {
      const std::string& op_app = *options_.operational_app_id;
      auto app = tx.get_application(a.app_id);
      if (!app.ok()) {
        if (app.error().code == Errc::kNotFound) return {};  // deleted meanwhile: no one to tell about
        return app.take_error();
      }
      const LastAttempt last{a.id, a.response_status_code, a.created_at};
      for (auto type : r.events) {
        auto ev = message_attempt_event(type, *app, a.endpoint_id, a.msg_id, r.msg_event_id, last);
        if (auto n = emit_operational(tx, op_app, ev, now); !n.ok()) return n.take_error();
      }
      if (disabled_now) {
        auto ev = endpoint_disabled_event(*app, *disabled_now, fail_since);
        if (auto n = emit_operational(tx, op_app, ev, now); !n.ok()) return n.take_error();
      }
    }
    return {};
  }

  // What an operator needs to see a bad day from the log alone: every failed attempt (its reason, refusals by
  // the SSRF guard apart), dead letters and disabled endpoints, warned and rate-limited per endpoint and kind
  // (log_throttle_); at debug level, every attempt. Ids only: never a secret, a signature, a payload or the
  // receiver's response body.
  void log_outcome(const AttemptRecord& r) {
    const store::Attempt& a = r.attempt;
    const int attempt_no = r.delivery.attempts;
    spdlog::debug("delivery attempt: app={} endpoint={} msg={} attempt={} n={} status={} duration_ms={}: {}",
                  a.app_id, a.endpoint_id, a.msg_id, a.id, attempt_no, a.response_status_code,
                  a.response_duration_ms, r.reason);
    if (!r.log_attempt || r.delivered) return;
    auto warn = [&](std::string_view kind, auto&& write) {
      auto verdict = log_throttle_.admit(fmt::format("{}/{}", kind, a.endpoint_id));
      if (!verdict) return;
      write();
      if (verdict.suppressed > 0)
        spdlog::warn("dispatcher: ({} more {} lines for endpoint {} suppressed before this one)",
                     verdict.suppressed, kind, a.endpoint_id);
    };
    if (r.blocked) {
      warn("blocked", [&] {
        spdlog::warn("delivery refused by the SSRF guard: app={} endpoint={} msg={} attempt={}: {}", a.app_id,
                     a.endpoint_id, a.msg_id, a.id, r.reason);
      });
    } else {
      warn("failed", [&] {
        spdlog::warn("delivery attempt failed: app={} endpoint={} msg={} attempt={} n={}: {}", a.app_id,
                     a.endpoint_id, a.msg_id, a.id, attempt_no, r.reason);
      });
    }
    if (r.decision == Decision::Kind::kExhausted)
      warn("dead_letter", [&] {
        spdlog::warn("delivery failed for good (dead letter): app={} endpoint={} msg={} after {} attempts",
                     a.app_id, a.endpoint_id, a.msg_id, attempt_no);
      });
    if (r.endpoint_disabled)
      warn("disabled", [&] {
        spdlog::warn("endpoint disabled: app={} endpoint={}: {}", a.app_id, a.endpoint_id,
                     r.disable ? "it answered 410 Gone"
                               : "it has been failing for longer than the endpoint health limit");
      });
  }

  // Runs on ioc_ once the record's batch is committed (or failed to be written).
  void recorded(AttemptRecord& r, const Status& written) {
    const store::Attempt& a = r.attempt;
    if (!written.ok()) {
      // The lease will expire and the delivery will be tried again: at least once, never lost.
      spdlog::warn("dispatcher: cannot record attempt of {} to {}: {}", a.msg_id, a.endpoint_id,
                   written.error().detail);
    }
    if (written.ok()) log_outcome(r);
    if (written.ok() && r.settled == store::Settled::kFenced)
      spdlog::warn(
          "dispatcher: the lease of delivery {} ({} to {}) was taken over while its attempt ran: the "
          "attempt is logged, its outcome is left to the new holder",
          r.delivery.id, a.msg_id, a.endpoint_id);
    end_lease(r.lease, written.ok());
    if (options_.on_recorded) options_.on_recorded(r.delivery, a);
    // The endpoint's slot is held until the attempt is recorded, not just answered: so a crash can repeat
    // at most the endpoint's in-flight cap of deliveries (sent, not yet recorded).
    r.permit.release();
    pump(a.endpoint_id);
    finish_one();
  }

  // Attempt records are written in batches: every record queued during one turn of the event loop (many
  // responses arrive together under load) goes into one store write, and each record's continuation runs
  // once that write is committed. One record write is outstanding at a time: records that arrive meanwhile
  // wait for it and then go together, so the batch grows with the writer's latency instead of the writer
  // taking many small record writes. If a write fails, every record of its batch is reported failed (their
  // leases expire and the deliveries are sent again).
  void enqueue_record(std::unique_ptr<AttemptRecord> record) {
    records_.push_back(std::move(record));
    if (records_.size() >= kMaxRecordBatch) {
      flush_records();
    } else if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(ioc_, [self = shared_from_this()] { self->flush_records(); });
    }
  }

  void flush_records() {
    flush_posted_ = false;
    if (records_.empty() || record_write_pending_) return;
    record_write_pending_ = true;
    auto batch = std::make_shared<std::vector<std::unique_ptr<AttemptRecord>>>(std::move(records_));
    records_.clear();
    for (auto& r : *batch) settling(r->lease);
    // The write runs before its completion, which holds `self`: `this` outlives it.
    store_.submit_write(
        [this, batch](store::Tx& tx) -> Status {
          // Every delivery's next state in one call, then each record's attempt, health and events.
          std::vector<store::Settlement> settlements;
          settlements.reserve(batch->size());
          for (const auto& r : *batch) settlements.push_back({&r->lease, &r->delivery});
          auto settled = tx.settle_deliveries(settlements);
          if (!settled.ok()) return settled.take_error();
          HealthCache health_cache;  // per run: a re-run starts from the store again
          for (size_t i = 0; i < batch->size(); ++i)
            if (auto st = write_record(tx, *(*batch)[i], (*settled)[i], health_cache); !st.ok()) return st;
          return {};
        },
        [self = shared_from_this(), batch](Status st) {
          asio::post(self->ioc_, [self, batch, st = std::move(st)] {
            self->record_write_pending_ = false;
            for (auto& r : *batch) self->recorded(*r, st);
            self->flush_records();  // what queued up meanwhile
          });
        },
        kBookkeeping);
  }

  // The signer of an endpoint's active secrets (not expired at `now`), cached per endpoint while those stay
  // the same: keys are decoded and keyed once, not per attempt.
  std::shared_ptr<const signing::Expected<signing::Signer>> signer_for(const store::Endpoint& ep,
                                                                       TimePoint now) {
    auto active = [now](const store::EndpointSecret& s) { return !s.expires_at || *s.expires_at > now; };
    if (signers_.size() > kMaxCachedSigners && !signers_.contains(ep.id)) signers_.clear();  // crude bound
    auto& cached = signers_[ep.id];
    if (cached.signer) {  // still the same active secrets? (compared in place: nothing built per attempt)
      size_t i = 0;
      bool same = true;
      for (const auto& s : ep.secrets)
        if (active(s)) same = same && i < cached.keys.size() && cached.keys[i++] == s.key;
      if (same && i == cached.keys.size() && cached.family == family_of(ep)) return cached.signer;
    }
    cached.keys.clear();
    cached.family = family_of(ep);
    for (const auto& s : ep.secrets)
      if (active(s)) cached.keys.push_back(s.key);
    signing::Options so;
    so.scheme = signing::Scheme::kStandard;
    so.secrets = cached.keys;
    so.family = cached.family;
    cached.signer = std::make_shared<const signing::Expected<signing::Signer>>(signing::Signer::create(so));
    return cached.signer;
  }

  // The header family of the endpoint's signature: its own choice, else the server's.
  signing::HeaderFamily family_of(const store::Endpoint& ep) const {
    const bool svix = ep.signature_headers ? *ep.signature_headers == "svix" : options_.svix_headers;
    return svix ? signing::HeaderFamily::kSvix : signing::HeaderFamily::kWebhook;
  }

  // The failed-attempts counter of one endpoint (created on its first failure).
  metrics::Counter& endpoint_failures(const std::string& endpoint_id) {
    auto it = failures_.find(endpoint_id);
    if (it != failures_.end()) return *it->second;
    metrics::Counter* c =
        metrics_ ? &metrics_->counter("delivery_endpoint_failures_total",
                                      "Failed delivery attempts per endpoint.", {{"endpoint", endpoint_id}})
                 : &unlabelled_failures_;
    failures_.emplace(endpoint_id, c);
    return *c;
  }

  // After each claim pass: the lines whose head waits for a token due by `now` are pumped (the timers do
  // that in real time; this covers a clock that jumps, as the injected one does in tests), and empty lines
  // with nothing scheduled ahead are dropped.
  void pump_paced(TimePoint now) {
    if (lines_.empty()) return;
    std::vector<std::string> due;
    for (auto it = lines_.begin(); it != lines_.end();) {
      const Line& line = *it->second;
      if (line.claims.empty() && line.scheduled_until <= now) {
        it = lines_.erase(it);
        continue;
      }
      if (line.paced && line.token_at <= now) due.push_back(it->first);
      ++it;
    }
    for (const auto& endpoint_id : due) pump(endpoint_id);
  }

  // Puts a claimed delivery back in the store unattempted (its attempt count unchanged), due at `when`: one
  // past its endpoint's line, or any that waits when the dispatcher stops. Those given back during one turn
  // of the loop go in one write; each stays counted in in_flight_ until it is written.
  void give_back(store::Claim due, TimePoint when) {
    settling(due.lease);
    store::Delivery& d = due.delivery;
    d.status = store::Delivery::kPending;
    d.next_attempt_at = when;
    d.updated_at = clock_.now();
    returns_.push_back(Returned{std::move(due.lease), std::move(d)});
    if (returns_posted_) return;
    returns_posted_ = true;
    asio::post(ioc_, [self = shared_from_this()] {
      self->returns_posted_ = false;
      auto batch = std::make_shared<std::vector<Returned>>(std::move(self->returns_));
      self->returns_.clear();
      asio::co_spawn(self->ioc_, self->write_returns(std::move(batch)), asio::detached);
    });
  }

  asio::awaitable<void> write_returns(std::shared_ptr<std::vector<Returned>> batch) {
    auto self = shared_from_this();
    auto put_back = [batch](store::Tx& tx) -> Result<bool> {
      std::vector<store::Settlement> settlements;
      settlements.reserve(batch->size());
      for (const auto& r : *batch) settlements.push_back({&r.lease, &r.next});
      if (auto st = tx.settle_deliveries(settlements); !st.ok()) return st.take_error();
      return true;
    };
    auto written = co_await store::write<bool>(store_, std::move(put_back), kBookkeeping);
    if (!written.ok())
      spdlog::warn("dispatcher: cannot put {} deliveries back: {}", batch->size(), written.error().detail);
    for (const auto& r : *batch) {
      end_lease(r.lease, written.ok());
      if (deferred_) deferred_->inc();
      finish_one();
    }
  }

  // One claimed delivery is done with. Wakes the claim loop: a freed slot may let an endpoint's backlog move.
  void finish_one() {
    --in_flight_;
    if (in_flight_gauge_) in_flight_gauge_->set(static_cast<double>(in_flight_));
    woken_ = true;
    timer_.cancel();
    maybe_finish();
  }

  // Once stopping, the loop has ended and no attempt (or fail_unsent write) is in flight: let ioc_.run()
  // return.
  void maybe_finish() {
    if (stopping_ && loop_done_ && in_flight_ == 0 && putting_right_ == 0) {
      work_.reset();
      client_.reset();
    }
  }

  store::Store& store_;
  store::DeliveryQueue& queue_;
  const Clock& clock_;
  LogThrottle log_throttle_{clock_};  // warnings a failing endpoint causes, per endpoint and kind
  const DispatcherOptions options_;
  std::string public_url_;  // options_.public_url, or set_public_url()'s
  const RetryPolicy policy_;
  RateLimiters limiters_;
  const EndpointHealth health_;
  const std::chrono::milliseconds lease_;  // a claim's lease, and how far a renewal extends it
  asio::io_context ioc_;
  asio::steady_timer timer_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<HttpClient> client_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> wake_pending_{false};
  // ioc_ thread only:
  bool stopping_ = false;
  bool loop_done_ = false;
  bool woken_ = false;  // a wake since the claim loop last started a pass (a claim may have missed it)
  std::vector<std::unique_ptr<AttemptRecord>> records_;  // attempt records waiting for the next batched write
  bool flush_posted_ = false;
  bool record_write_pending_ = false;  // one record write at a time: the next takes all that queued meanwhile
  static constexpr size_t kMaxRecordBatch = 256;
  size_t in_flight_ = 0;      // claimed and not yet recorded: sending, or waiting in a line below
  size_t putting_right_ = 0;  // fail_unsent writes not yet done (stop() waits for them too)
  static constexpr size_t kLinePerSlot = 2;
  // How far ahead a delivery given back past a rate-limited line may be scheduled (schedule_return).
  static constexpr std::chrono::seconds kMaxScheduled{30};
  // With several nodes announcing their work (options_.announce): this node's view of who has work for which
  // rate-limited endpoint, and when its own announcements are next looked at.
  static constexpr std::chrono::milliseconds kAnnounceEvery{1000};
  static constexpr std::chrono::milliseconds kHoldDown{100};  // announced stopped after this long with none
  static constexpr std::chrono::milliseconds kShareTick{100};
  std::optional<RateShares> shares_;
  asio::steady_timer share_timer_{ioc_};
  bool share_ticking_ = false;
  // By endpoint id. A line is dropped once empty, unless deliveries it gave back are still scheduled ahead.
  std::unordered_map<std::string, std::unique_ptr<Line>> lines_;
  std::vector<Returned> returns_;  // given back this turn, written together
  bool returns_posted_ = false;
  // The leases held, by delivery id: from the claim until their record (or deferral) is written.
  std::unordered_map<std::string, HeldLease> leases_;
  TimePoint next_renewal_;
  std::vector<metrics::Counter*> outcomes_;  // indexed by Decision::Kind
  metrics::Histogram* latency_ = nullptr;
  metrics::Gauge* in_flight_gauge_ = nullptr;
  metrics::Counter* deferred_ = nullptr;
  metrics::Registry* const metrics_;
  std::unordered_map<std::string, metrics::Counter*> failures_;  // per endpoint, from metrics_
  struct CachedSigner {
    std::vector<std::string> keys;  // the active secrets it was made with, in order
    signing::HeaderFamily family = signing::HeaderFamily::kWebhook;  // and the header family
    std::shared_ptr<const signing::Expected<signing::Signer>> signer;
  };
  std::unordered_map<std::string, CachedSigner> signers_;  // by endpoint id
  static constexpr size_t kMaxCachedSigners = 10'000;
  metrics::Counter unlabelled_failures_;  // stands in when there is no registry
};

Result<std::unique_ptr<Dispatcher>> Dispatcher::create(store::Store& store, const Clock& clock,
                                                       DispatcherOptions options,
                                                       metrics::Registry* metrics) {
  auto state = std::make_shared<State>(store, clock, std::move(options), metrics);
  if (auto st = state->init(); !st.ok()) return st.take_error();
  return std::unique_ptr<Dispatcher>(new Dispatcher(std::move(state)));
}

Dispatcher::Dispatcher(std::shared_ptr<State> state) : state_(std::move(state)) {}
Dispatcher::~Dispatcher() { stop(); }
void Dispatcher::set_public_url(std::string url) { state_->set_public_url(std::move(url)); }
void Dispatcher::start() { state_->start(); }
void Dispatcher::wake() { state_->wake(); }
void Dispatcher::heard(std::string_view topic) {
  if (RateShares::is_topic(topic) || topic == "*") state_->heard(std::string(topic));
}

std::string thin_payload(const store::Message& msg, std::string_view public_url) {
  namespace json = boost::json;
  std::string url;
  url.reserve(public_url.size() + 64);
  url.append(public_url).append("/api/v1/app/").append(msg.app_id).append("/msg/").append(msg.id);
  return json::serialize(json::object{{"id", msg.id},
                                      {"type", msg.event_type},
                                      {"timestamp", format_iso8601(msg.created_at)},
                                      {"url", std::move(url)}});
}

std::string recorded_request_headers(const Headers& headers, std::string_view user_agent) {
  size_t size = user_agent.size() + 48;
  for (const auto& [name, value] : headers) size += name.size() + value.size() + 3;
  std::string out;
  out.reserve(size);  // one allocation per attempt
  for_each_sent_field(headers, user_agent, [&out](std::string_view name, std::string_view value) {
    if (!out.empty()) out += '\n';
    out.append(name).append(": ").append(is_sensitive_header(name) ? kRedacted : value);
  });
  // Values reach here from JSON or checked UTF-8 (custom headers, an inbound event's kept headers) or are
  // ASCII; a configured User-Agent is not checked. The record must be UTF-8 text (PostgreSQL refuses
  // anything else, JSON cannot carry it): should a byte not be, every byte over 0x7f becomes '?'.
  if (!is_utf8(out))
    for (char& c : out)
      if (static_cast<unsigned char>(c) > 0x7f) c = '?';
  return out;
}

void Dispatcher::stop() {
  if (state_) state_->stop();
}

}  // namespace hookwire::delivery
