// Query strings and iterators of the list routes, and the ISO 8601 parser behind before/after/since.
// The input is a request target (inputs not starting with '/' are taken as the query of "/p?INPUT"), run
// through Query::parse and every parameter reader the v1 handlers use; the input is also given whole to
// parse_iso8601 and, as an iterator, to is_id.
// Invariants: no crash or UB; refusals name a query.* field and carry a message; what is accepted is in range
// (limit 1..250, iterator at most 300 bytes, event types and channels tokens, status 0..3); a parsed
// date-time formats (millisecond precision) to text that parses back to the same instant floored to the
// millisecond; is_id accepts exactly prefix_ + 27 base62 characters; min_id_at is an id of its prefix and
// never decreases with time inside the KSUID range (2014-05-13 + 2^32 s).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "api/v1/json_body.h"
#include "api/v1/support.h"
#include "core/clock.h"
#include "core/ids.h"

using namespace hookwire;
namespace v1 = hookwire::api::v1;

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

template <class T>
bool refused(const Result<T>& r) {
  if (r) return false;
  if (r.error().detail.empty()) broken("a refusal without a message");
  if (r.error().code == Errc::kValidation && !r.error().field.starts_with("query."))
    broken("a field not query.*");
  return true;
}

void check_time(std::string_view text) {
  auto t = parse_iso8601(text);
  if (!t) return;
  const auto floored = std::chrono::floor<std::chrono::milliseconds>(*t);
  const std::string formatted = format_iso8601(*t);
  auto back = parse_iso8601(formatted);
  if (!back) broken("a formatted date-time does not parse");
  if (*back != floored) broken("a date-time does not survive format and parse");
  if (format_iso8601(*back) != formatted) broken("format is not stable");
}

void check_ids(std::string_view s) {
  static constexpr std::string_view kPrefixes[] = {id_prefix::kApplication, id_prefix::kEndpoint,
                                                   id_prefix::kMessage,     id_prefix::kAttempt,
                                                   id_prefix::kEventType,   id_prefix::kSource};
  if (s.starts_with('-')) s.remove_prefix(1);  // prevIterator
  for (auto prefix : kPrefixes) {
    const bool expected = [&] {
      if (s.size() != prefix.size() + 28 || !s.starts_with(prefix) || s[prefix.size()] != '_') return false;
      for (char c : s.substr(prefix.size() + 1))
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
      return true;
    }();
    if (is_id(s, prefix) != expected) broken("is_id disagrees with prefix_ + 27 base62 characters");
  }
}

void check_min_id(TimePoint t) {
  using namespace std::chrono;
  constexpr int64_t kEpoch = 1'400'000'000, kSpan = int64_t{1} << 32;
  const int64_t s = unix_seconds(t);
  if (s < kEpoch || s + 1 >= kEpoch + kSpan) return;
  const std::string a = min_id_at(id_prefix::kMessage, t), b = min_id_at(id_prefix::kMessage, t + seconds{1});
  if (!is_id(a, id_prefix::kMessage) || !is_id(b, id_prefix::kMessage)) broken("min_id_at is not an id");
  if (!(a < b)) broken("min_id_at decreases with time");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_time(input);
  check_ids(input);
  const std::string target = input.starts_with('/') ? std::string(input) : "/p?" + std::string(input);
  auto q = v1::Query::parse(target);
  if (!q) {
    if (q.error().detail.empty()) broken("a refusal without a message");
    return 0;
  }
  for (auto order : {store::Order::kAscending, store::Order::kDescending}) {
    auto page = v1::page_query(*q, order);
    if (refused(page)) continue;
    if (page->limit < 1 || page->limit > 250) broken("limit out of range");
    if (page->iterator) {
      if (page->iterator->empty() || page->iterator->size() > 300) broken("iterator length");
      check_ids(*page->iterator);
    }
  }
  for (const char* name : {"before", "after", "since", "until"}) {
    auto t = v1::time_param(*q, name);
    if (refused(t) || !*t) continue;
    if (auto text = q->get(name)) check_time(*text);
    check_min_id(**t);
  }
  if (auto st = v1::status_param(*q); !refused(st) && *st && (**st < 0 || **st > 3)) broken("status range");
  if (auto types = v1::event_types_param(*q); !refused(types))
    for (const auto& et : *types)
      if (!v1::is_token(et) || et.size() > 256) broken("an event type that is not a token");
  if (auto ch = v1::channel_param(*q); !refused(ch) && *ch && (!v1::is_token(**ch) || (*ch)->size() > 128))
    broken("a channel that is not a token");
  (void)refused(v1::bool_param(*q, "with_content", true));
  for (const auto& item : q->list("event_types"))
    if (item.empty()) broken("an empty list item");
  return 0;
}
