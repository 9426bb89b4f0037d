#include "inbound/request_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "core/encoding.h"
#include "core/ids.h"
#include "core/names.h"
#include "core/utf8.h"

namespace hookwire::inbound {

namespace json = boost::json;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y)) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// `body` cut to at most `max` bytes without splitting a UTF-8 sequence at the cut (a well-formed text stays
// well-formed).
std::string_view cut(std::string_view body, size_t max) {
  if (body.size() <= max) return body;
  std::string_view head = body.substr(0, max);
  // Back over a sequence the cut split: at most 3 continuation bytes and its lead byte.
  size_t back = 0;
  while (back < 3 && back < head.size() &&
         (static_cast<unsigned char>(head[head.size() - 1 - back]) & 0xC0) == 0x80)
    ++back;
  if (back < head.size()) {
    const size_t lead = head.size() - 1 - back;
    if (utf8_sequence_length(body.substr(lead)) > back + 1) return head.substr(0, lead);
  }
  return head;
}

}  // namespace

store::SourceRequest make_source_request(std::string id, const CompiledSource& src, const RequestHead& head,
                                         std::string_view body, const RequestFacts& facts, TimePoint now) {
  store::SourceRequest r;
  r.id = std::move(id);
  r.source_id = src.record.id;
  r.received_at = now;
  r.status = facts.status;
  r.outcome = std::string(facts.outcome);
  if (!facts.code.empty()) r.code = to_valid_utf8(facts.code);
  if (!facts.reason.empty()) r.reason = to_valid_utf8(facts.reason);
  r.client_address = facts.client_address;
  r.method = to_valid_utf8(head.method);
  r.path = to_valid_utf8(head.target);
  if (!facts.message_id.empty()) r.message_id = std::string(facts.message_id);

  const bool static_token = src.spec.verifier == VerifierType::kStaticToken;
  json::object headers;
  if (head.each_header) {
    head.each_header([&](std::string_view name, std::string_view value) {
      const bool secret = iequals(name, "authorization") || iequals(name, "cookie") ||
                          iequals(name, "proxy-authorization") ||
                          (static_token && iequals(name, src.spec.token_header));
      std::string key = to_valid_utf8(lower(name));
      std::string text = secret ? std::string(kRedacted) : to_valid_utf8(value);
      auto [it, inserted] = headers.emplace(key, text);
      if (!inserted && !secret) {
        // Several lines of one field: one value, joined as RFC 9110 5.3 allows.
        std::string joined(it->value().as_string());
        joined += ", ";
        joined += text;
        it->value() = joined;
      }
    });
  }
  r.headers = json::serialize(headers);

  const std::string_view kept = cut(body, kKeptBodyBytes);
  r.body_truncated = kept.size() < body.size();
  // Text when it can be stored and served as text (PostgreSQL's text holds no NUL); else the bytes in base64.
  if (is_utf8(kept) && kept.find('\0') == std::string_view::npos) {
    r.body = std::string(kept);
  } else {
    r.body = base64_encode(body.substr(0, std::min(body.size(), kKeptBodyBytes)));
    r.body_base64 = true;
  }
  return r;
}

struct RequestLog::Shared {
  explicit Shared(const Clock& clock) : failure_log(clock) {}
  feed::FeedHub hub;
  std::atomic<int64_t> sequence{0};
  LogThrottle failure_log;
  metrics::Counter* failures = nullptr;
};

RequestLog::RequestLog(store::Store& store, const Clock& clock, metrics::Registry& metrics, Options options)
    : store_(store),
      clock_(clock),
      options_(options),
      throttle_(clock, LogThrottle::Options{std::chrono::seconds(1), options.per_second, 4096}),
      log_throttle_(clock),
      shared_(std::make_shared<Shared>(clock)) {
  shared_->failures = &metrics.counter("inbound_request_log_failures_total",
                                       "Records of inbound requests that could not be written.", {});
}

RequestLog::~RequestLog() = default;

bool RequestLog::record(const CompiledSource& src, const RequestHead& head, std::string_view body,
                        const RequestFacts& facts, metrics::Counter& unrecorded) {
  const TimePoint now = clock_.now();
  if (!throttle_.admit(src.record.id)) {
    unrecorded.inc();
    if (auto line = log_throttle_.admit(src.label)) {
      spdlog::warn(
          "inbound request log: source={} is sent more than {} requests a second that are kept; this one "
          "(status {}) is counted, not kept{}",
          src.label, options_.per_second, facts.status,
          line.suppressed ? fmt::format(" ({} more like it suppressed)", line.suppressed) : std::string());
    }
    return false;
  }
  auto record = make_source_request(new_id(id_prefix::kSourceRequest, now), src, head, body, facts, now);
  const int keep = options_.keep;
  std::string source_id = record.source_id;
  store_.submit_write(
      [record = std::move(record), keep](store::Tx& tx) -> Status {
        // The source may be gone (deleted since the request was answered): keep nothing of it.
        auto source = tx.get_source(record.source_id);
        if (!source) {
          if (source.error().code == Errc::kNotFound) return {};
          return source.take_error();
        }
        return tx.insert_source_request(record, keep);
      },
      [shared = shared_, source_id = std::move(source_id)](Status st) {
        if (st.ok()) {
          store::Store::FeedAdvance advance;
          advance.head = shared->sequence.fetch_add(1, std::memory_order_acq_rel) + 1;
          advance.app_ids.push_back(source_id);
          shared->hub.advance(advance);
          return;
        }
        shared->failures->inc();
        if (auto line = shared->failure_log.admit("write")) {
          spdlog::warn("inbound request log: a record of source {} was not written: {}{}", source_id,
                       st.error().detail,
                       line.suppressed ? fmt::format(" ({} more like it suppressed)", line.suppressed)
                                       : std::string());
        }
      },
      store::Ack::kCommitted);
  return true;
}

int64_t RequestLog::sequence() const { return shared_->sequence.load(std::memory_order_acquire); }

boost::asio::awaitable<feed::FeedHub::Wake> RequestLog::wait(std::string source_id, int64_t seen,
                                                             std::chrono::milliseconds timeout) {
  return shared_->hub.wait(std::move(source_id), seen, timeout);
}

void RequestLog::stop() { shared_->hub.stop(); }

}  // namespace hookwire::inbound
